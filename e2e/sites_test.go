package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/qoslab/qoslab/nodes/ua"
	"github.com/qoslab/qoslab/topology"
	"github.com/qoslab/qoslab/traffic/trace"
)

// loggedFor counts the lines a node logged for one call's messages.
func loggedFor(l *labRun, node, dir, proto, what, call string) int {
	lines, err := trace.ReadNodeLogs(l.Dir)
	Expect(err).NotTo(HaveOccurred())
	n := 0
	for _, line := range lines {
		if line.Node == node && line.Dir == dir && line.Proto == proto && line.Call == call && strings.HasPrefix(line.What, what) {
			n++
		}
	}
	return n
}

var _ = Describe("three sites", Label("root"), func() {
	BeforeEach(func() { requireRoot() })

	// Issue 13: registration and routing by address-of-record make a
	// third site possible. Every site's caller calls every other site's
	// callee: each call crosses its two sites' proxies (the routing
	// tables), is authorised by both policy servers, and its media is EF
	// on both sites' edge routers.
	It("connects every site to every other site, each call with its QoS", func(ctx context.Context) {
		file, err := filepath.Abs(filepath.Join("..", "topology", "examples", "three-sites.yaml"))
		Expect(err).NotTo(HaveOccurred())
		l := upLab(ctx, "e2e-three", "-f", file)
		pairs := [][2]string{{"uaca", "uasb"}, {"uaca", "uasc"}, {"uacb", "uasa"}, {"uacb", "uasc"}, {"uacc", "uasa"}, {"uacc", "uasb"}}
		results := make([]ua.CallResult, len(pairs))
		var wg sync.WaitGroup
		for i, p := range pairs {
			wg.Add(1)
			go func() {
				defer GinkgoRecover()
				defer wg.Done()
				res, err := ua.PlaceCall(ctx, topology.ControlSocket(l.Dir, p[0]), ua.CallRequest{To: p[1], Talk: "1s"})
				Expect(err).NotTo(HaveOccurred())
				results[i] = res
			}()
		}
		wg.Wait()
		for i, res := range results {
			Expect(res.Outcome).To(Equal(ua.OutcomeAnswered), "%s -> %s: %+v", pairs[i][0], pairs[i][1], res)
			Expect(res.Ringing).To(BeTrue())
			Expect(res.Media.Received.DSCP["46"]).To(BeNumerically(">=", res.Media.Received.Packets-2), "%s received %v", pairs[i][0], res.Media.Received.DSCP)
			Expect(res.PeerMedia.DSCP["46"]).To(BeNumerically(">=", res.PeerMedia.Packets-2), "%s received %v", pairs[i][1], res.PeerMedia.DSCP)
			// The INVITE crossed exactly the caller's and the callee's proxies.
			site := func(node string) string { return node[len(node)-1:] }
			for _, s := range []string{"a", "b", "c"} {
				n := loggedFor(l, "sip"+s, "rx", "sip", "INVITE", res.CallID)
				if s == site(pairs[i][0]) || s == site(pairs[i][1]) {
					Expect(n).To(Equal(1), "sip%s saw call %s", s, res.CallID)
				} else {
					Expect(n).To(BeZero(), "sip%s is not on the path of %s", s, res.CallID)
				}
			}
		}
		noIPFragments(l)
	})
})
