package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/qoslab/qoslab/nodes/pdp"
	"github.com/qoslab/qoslab/nodes/ua"
	"github.com/qoslab/qoslab/topology"
	"github.com/qoslab/qoslab/traffic/trace"
)

// cdrs runs `qoslab cdr --per-side --json` for a lab: the stored usage
// records, one per side of each call.
func cdrs(ctx context.Context, lab string) []map[string]any {
	out, err := exec.CommandContext(ctx, qoslabBin, "cdr", "--name", lab, "--per-side", "--json").Output()
	Expect(err).NotTo(HaveOccurred())
	var recs []map[string]any
	Expect(json.Unmarshal(out, &recs)).To(Succeed(), "%s", out)
	return recs
}

// callCDRs runs `qoslab cdr --json` for a lab: one record per call.
func callCDRs(ctx context.Context, lab string) []map[string]any {
	out, err := exec.CommandContext(ctx, qoslabBin, "cdr", "--name", lab, "--json").Output()
	Expect(err).NotTo(HaveOccurred())
	var recs []map[string]any
	Expect(json.Unmarshal(out, &recs)).To(Succeed(), "%s", out)
	return recs
}

// spooled counts the usage records a policy server still has to deliver.
func spooled(ctx context.Context, l *labRun, node string) int {
	s, err := pdp.OpenSpool(ctx, filepath.Join(topology.NodeDir(l.Dir, node), "spool.db"))
	Expect(err).NotTo(HaveOccurred())
	defer s.Close()
	n, err := s.Len(ctx)
	Expect(err).NotTo(HaveOccurred())
	return n
}

// logged counts a node's message log lines matching dir, proto and what.
func logged(l *labRun, node, dir, proto, what string) int {
	lines, err := trace.ReadNodeLogs(l.Dir)
	Expect(err).NotTo(HaveOccurred())
	n := 0
	for _, line := range lines {
		if line.Node == node && line.Dir == dir && line.Proto == proto && strings.HasPrefix(line.What, what) {
			n++
		}
	}
	return n
}

var _ = Describe("faults", Label("root"), func() {
	BeforeEach(func() { requireRoot() })

	It("fails closed while the clearinghouse is down (503 with Retry-After, no INVITE past SIP1) and recovers when it is back", func(ctx context.Context) {
		l := upLab(ctx, "e2e-chdown")
		Expect(topology.StopNode(l.Name, "ch", true, "")).To(Succeed())
		res := placeCall(ctx, l, ua.CallRequest{})
		Expect(res.Outcome).To(Equal(ua.OutcomeRefused), "%+v", res)
		Expect(res.Status).To(Equal(503))
		Expect(res.RetryAfter).NotTo(BeEmpty())
		// The caller hears why in a word, not the policy server's error
		// chain (URLs, addresses, Go errors stay in its log).
		Expect(res.Reason).To(ContainSubstring(`text="clearinghouse unreachable"`))
		Expect(res.Reason).NotTo(ContainSubstring("198.18."))
		Expect(logged(l, "sip2", "rx", "sip", "INVITE")).To(BeZero(), "no INVITE crossed SIP1")

		Expect(topology.StartNode(ctx, l.Name, "ch", topology.Options{Binary: qoslabBin})).To(Succeed())
		res = placeCall(ctx, l, ua.CallRequest{})
		Expect(res.Outcome).To(Equal(ua.OutcomeAnswered), "%+v", res)
	})

	It("loses and double-counts no usage when the clearinghouse is killed and restarted mid-way", func(ctx context.Context) {
		l := upLab(ctx, "e2e-chcrash")
		const calls = 3
		results := make([]ua.CallResult, calls)
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() {
				defer GinkgoRecover()
				defer wg.Done()
				results[i] = placeCall(ctx, l, ua.CallRequest{Talk: "2s"})
			}()
		}
		// Kill the clearinghouse once every call is up, so that all of
		// them end, and report usage, while it is gone.
		Eventually(func() int { return logged(l, "uac", "tx", "sip", "ACK") }).WithTimeout(10 * time.Second).Should(Equal(calls))
		Expect(topology.StopNode(l.Name, "ch", true, "")).To(Succeed())
		wg.Wait()
		for _, r := range results {
			Expect(r.Outcome).To(Equal(ua.OutcomeAnswered), "%+v", r)
		}
		// The policy servers hold the usage in their spools meanwhile.
		Eventually(func() int { return spooled(ctx, l, "pol1") + spooled(ctx, l, "pol2") }).WithTimeout(5 * time.Second).Should(Equal(2 * calls))

		Expect(topology.StartNode(ctx, l.Name, "ch", topology.Options{Binary: qoslabBin})).To(Succeed())
		Eventually(func() int { return spooled(ctx, l, "pol1") + spooled(ctx, l, "pol2") }).WithTimeout(40 * time.Second).Should(BeZero())
		recs := cdrs(ctx, l.Name)
		perCall := map[string]int{}
		for _, r := range recs {
			id, _ := r["call_id"].(string)
			perCall[id]++
		}
		for _, r := range results {
			Expect(perCall[r.CallID]).To(Equal(2), "one record per side for call %s: %v", r.CallID, recs)
		}
		Expect(recs).To(HaveLen(2 * calls))
	})

	It("re-installs the gates of a call in progress when its edge router restarts from a clean table", func(ctx context.Context) {
		l := upLab(ctx, "e2e-rtrestart")
		done := make(chan ua.CallResult, 1)
		go func() {
			defer GinkgoRecover()
			done <- placeCall(ctx, l, ua.CallRequest{Talk: "4s"})
		}()
		Eventually(func() int { return logged(l, "uac", "tx", "sip", "ACK") }).WithTimeout(10 * time.Second).Should(Equal(1))
		setsBefore := logged(l, "r1", "rx", "cops", "DEC Gate-Set")
		Expect(setsBefore).To(Equal(1))
		Expect(topology.StopNode(l.Name, "r1", true, "")).To(Succeed())
		Expect(topology.StartNode(ctx, l.Name, "r1", topology.Options{Binary: qoslabBin})).To(Succeed())
		// The policy server finds the router back and installs the
		// call's gate again on the fresh table.
		// (Both r1 processes log into the same node.log.)
		Eventually(func() int { return logged(l, "r1", "rx", "cops", "DEC Gate-Set") }).WithTimeout(10*time.Second).Should(Equal(2),
			"the policy server re-installed the gate on the restarted router")
		res := <-done
		Expect(res.Outcome).To(Equal(ua.OutcomeAnswered), "%+v", res)
		// Media after the re-install was marked again: the UAS saw EF on
		// most of the UAC's packets (those in the router's restart gap
		// arrive unmarked or not at all).
		Expect(res.PeerMedia.DSCP["46"]).To(BeNumerically(">", res.PeerMedia.Packets/2), "%v", res.PeerMedia.DSCP)
	})
})
