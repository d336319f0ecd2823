package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/qoslab/qoslab/demo"
	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes/ua"
	"github.com/qoslab/qoslab/topology"
	"github.com/qoslab/qoslab/traffic/trace"
	"golang.org/x/sys/unix"
)

// placeCall asks the lab's UAC for one call and returns its result.
func placeCall(ctx context.Context, l *labRun, req ua.CallRequest) ua.CallResult {
	if req.Talk == "" {
		req.Talk = "1s"
	}
	res, err := ua.PlaceCall(ctx, topology.ControlSocket(l.Dir, "uac"), req)
	Expect(err).NotTo(HaveOccurred())
	return res
}

// verifyLab waits until the calls' messages have all arrived, stops the
// lab's capture and verifies it, with the node logs, as `qoslab verify
// --logs` does.
func verifyLab(ctx context.Context, l *labRun, calls ...ua.CallResult) *trace.Report {
	var ids []string
	for _, c := range calls {
		ids = append(ids, c.CallID)
	}
	return verifyCalls(ctx, l, true, ids...)
}

// verifyCalls is verifyLab for calls known by their Call-IDs. withLogs
// also holds the node logs to the capture: not for calls with a peer UA
// (sipp, baresip), which writes no node log.
func verifyCalls(ctx context.Context, l *labRun, withLogs bool, ids ...string) *trace.Report {
	if withLogs {
		Expect(demo.Settle(ctx, l.Dir, ids, 10*time.Second)).To(Succeed())
	} else {
		settlePeerCalls(l, ids...)
	}
	Expect(topology.StopCapture(ctx, l.Name, "")).To(Succeed())
	topo, err := trace.PlanTopology(l.Plan)
	Expect(err).NotTo(HaveOccurred())
	opts := trace.Options{RequireMedia: true}
	if withLogs {
		lines, err := trace.ReadNodeLogs(l.Dir)
		Expect(err).NotTo(HaveOccurred())
		opts.Logs = lines
	}
	rep, err := trace.Verify(ctx, filepath.Join(l.Dir, "capture", "lab.pcapng"), topo, opts)
	Expect(err).NotTo(HaveOccurred())
	if !rep.OK() {
		keepEvidence(l)
	}
	return rep
}

// settlePeerCalls waits until the lab's side of calls with a peer UA is
// over: both proxies deleted their COPS handles and both policy servers
// got their usage confirmed (FIG. 6's last steps). demo.Settle cannot tell:
// it waits for every logged message to be logged received, and a peer UA
// logs nothing.
func settlePeerCalls(l *labRun, ids ...string) {
	Eventually(func() []string {
		lines, err := trace.ReadNodeLogs(l.Dir)
		Expect(err).NotTo(HaveOccurred())
		done := map[string]bool{}
		for _, line := range lines {
			switch {
			case line.Dir == "tx" && line.Proto == "cops" && line.What == "DRQ":
				done[line.Node+" "+line.Call] = true
			case line.Dir == "rx" && line.Proto == "osp" && strings.Contains(line.What, "Usage"):
				done[line.Node+" "+line.Call] = true
			}
		}
		var pending []string
		for _, id := range ids {
			for _, n := range []string{"sip1", "sip2", "pol1", "pol2"} {
				if !done[n+" "+id] {
					pending = append(pending, n+" "+id)
				}
			}
		}
		return pending
	}).WithTimeout(10*time.Second).WithPolling(20*time.Millisecond).Should(BeEmpty(), "the lab's side of the calls ended")
}

// keepEvidence copies a failed spec's captures and node logs out of the
// lab before it is taken down, so that the failure can be looked at in
// Wireshark afterwards (CI keeps reports/).
func keepEvidence(l *labRun) {
	dst, err := filepath.Abs(filepath.Join("..", "reports", l.Name))
	Expect(err).NotTo(HaveOccurred())
	Expect(os.MkdirAll(filepath.Dir(dst), 0o755)).To(Succeed())
	_ = os.RemoveAll(dst)
	out, err := exec.Command("cp", "-r", l.Dir, dst).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "keep evidence: %s", out)
	AddReportEntry("evidence", dst)
}

// failures renders a report's failures for assertion messages.
func failures(rep *trace.Report) string {
	var b strings.Builder
	for _, f := range rep.Failures {
		b.WriteString("\n  " + f.String())
	}
	for _, p := range rep.Problems {
		b.WriteString(fmt.Sprintf("\n  problem: %+v", p))
	}
	return b.String()
}

func callReport(rep *trace.Report, id string) *trace.CallReport {
	c, ok := rep.Call(id)
	Expect(ok).To(BeTrue(), "the capture holds call %s", id)
	return c
}

// stepsSeen lists the docs/FLOW.md steps of a phase the verifier labelled.
func stepsSeen(c *trace.CallReport, phase flow.Phase) []int {
	seen := map[int]bool{}
	var out []int
	for _, m := range c.Messages {
		if m.Phase == phase && m.Step > 0 && !seen[m.Step] {
			seen[m.Step] = true
			out = append(out, m.Step)
		}
	}
	return out
}

func stepRange(from, to int, except ...int) []int {
	var out []int
	for i := from; i <= to; i++ {
		skip := false
		for _, e := range except {
			skip = skip || e == i
		}
		if !skip {
			out = append(out, i)
		}
	}
	return out
}

// dscpOnLink counts, by DSCP, the UDP packets of a 5-tuple (either
// direction when both is set) in a link's capture: an independent look at
// the pcap, without the verifier.
func dscpOnLink(l *labRun, link string, src, dst netip.AddrPort) map[uint8]int {
	out := map[uint8]int{}
	err := eachPacket(captureFile(l, link), func(p gopacket.Packet) {
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if ip == nil || udp == nil {
			return
		}
		s := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip.SrcIP.To4())), uint16(udp.SrcPort))
		d := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip.DstIP.To4())), uint16(udp.DstPort))
		if s == src && d == dst {
			out[ip.TOS>>2]++
		}
	})
	Expect(err).NotTo(HaveOccurred())
	return out
}

var _ = Describe("calls through the FIG. 5 lab", Label("root"), func() {
	BeforeEach(func() { requireRoot() })

	It("follows FIG. 5 (all 29 steps) and FIG. 6 (all 18 steps), marks media EF only while authorised, and the node logs agree with the capture", func(ctx context.Context) {
		l := upLab(ctx, "e2e-call")
		res := placeCall(ctx, l, ua.CallRequest{Talk: "1s"})
		Expect(res.Outcome).To(Equal(ua.OutcomeAnswered), "%+v", res)
		Expect(res.Ringing).To(BeTrue())
		// The UAs themselves saw EF on their media (IP_RECVTOS). Not on
		// every packet: FIG. 6 removes a gate while the far UA may still
		// have a packet in flight, and that one rightly arrives unmarked.
		// The verifier below holds each packet to its exact phase.
		Expect(res.Media.Received.DSCP["46"]).To(BeNumerically(">=", res.Media.Received.Packets-2), "%v", res.Media.Received.DSCP)
		Expect(res.PeerMedia.DSCP["46"]).To(BeNumerically(">=", res.PeerMedia.Packets-2), "%v", res.PeerMedia.DSCP)

		// After teardown (all of FIG. 6, gates deleted) the call's
		// 5-tuple is no longer authorised.
		Expect(demo.Settle(ctx, l.Dir, []string{res.CallID}, 10*time.Second)).To(Succeed())
		local := netip.MustParseAddrPort(res.Media.Local)
		remote := netip.MustParseAddrPort(res.Media.Remote)
		sendUDP(l.Name, "uac", local, remote, 5, 0)

		rep := verifyLab(ctx, l, res)
		Expect(rep.OK()).To(BeTrue(), "verification failed:%s", failures(rep))
		c := callReport(rep, res.CallID)
		Expect(stepsSeen(c, flow.Setup)).To(ConsistOf(stepRange(1, 28)))
		Expect(stepsSeen(c, flow.Teardown)).To(ConsistOf(stepRange(1, 18)))

		// RFC 3261 18.1.1, checked by tshark: the INVITE that carries the
		// OSP token (~2.5 kB) crosses the core on TCP, never as a
		// datagram, and nothing anywhere is IP-fragmented.
		noIPFragments(l)
		core := captureFile(l, "r1-r2")
		Expect(tsharkLines(core, `sip.Method == "INVITE" and tcp and sip.msg_hdr contains "P-OSP-Auth-Token"`)).To(HaveLen(1))
		Expect(tsharkLines(core, `sip.Method == "INVITE" and udp`)).To(BeEmpty())
		Expect(tsharkLines(captureFile(l, "r2-uas"), `sip.msg_hdr contains "P-OSP-Auth-Token"`)).To(BeEmpty(), "SIP2 keeps the token from the callee")

		// Independently of the verifier: on the core link the UAC's media
		// is EF, and the probes after teardown are not.
		marked := dscpOnLink(l, "r1-r2", local, remote)
		Expect(marked[46]).To(BeNumerically(">=", int(res.Media.Sent.Packets)))
		Expect(marked[0]).To(Equal(5), "probes after teardown leave r1 unmarked")
		access := dscpOnLink(l, "r1-uac", local, remote)
		Expect(access[46]).To(BeZero(), "the UAC itself does not mark: r1 does")

		// The usage each policy server reported holds what its router
		// marked for the call's gate: r1 the UAC's media, r2 the UAS's.
		recs := cdrs(ctx, l.Name)
		Expect(recs).To(HaveLen(2))
		for _, r := range recs {
			Expect(r["call_id"]).To(Equal(res.CallID))
			Expect(r["counters_known"]).To(BeTrue())
			want := float64(marked[46])
			if r["role"] == "destination" {
				// r2 marked the UAS's packets, which the UAC received.
				want = float64(res.Media.Received.Packets)
			}
			Expect(r["packets"]).To(BeNumerically("~", want, 2), "%s marked packets: %v", r["role"], r)
			// The callee rang (180 with SDP): alert time and post-dial delay are real.
			Expect(r["alert_time"]).NotTo(HavePrefix("0001-"), "%v", r)
			Expect(r["post_dial_delay"]).To(BeNumerically(">", 0), "%v", r)
			// The caller hung up: OSP ReleaseSource "source" on both sides.
			Expect(r["release_source"]).To(Equal(1.0), "%v", r)
		}
		// What billing reads: one record for the call with both sides, the
		// caller released it, times in UTC, and the duration in
		// milliseconds from the gate's install to the release: the LDP
		// went with the 180, so it is the 200 ms ring plus the 1 s talk.
		one := callCDRs(ctx, l.Name)
		Expect(one).To(HaveLen(1))
		Expect(one[0]["call_id"]).To(Equal(res.CallID))
		Expect(one[0]["released_by"]).To(Equal("source"))
		Expect(one[0]["duration_ms"]).To(BeNumerically("~", 1200, 150))
		Expect(one[0]["start_utc"]).To(HaveSuffix("Z"))
		Expect(one[0]["post_dial_delay_ms"]).To(BeNumerically(">", 0))
		for _, side := range []string{"source_side", "destination_side"} {
			Expect(one[0][side]).To(HaveKeyWithValue("packets", BeNumerically(">", 0)), "%s: %v", side, one[0])
		}
	})

	It("follows FIG. 5 with the LDP steps triggered by the 200 when the UAS answers without 180", func(ctx context.Context) {
		l := upLab(ctx, "e2e-no180")
		res := placeCall(ctx, l, ua.CallRequest{Ring: "0s"})
		Expect(res.Outcome).To(Equal(ua.OutcomeAnswered), "%+v", res)
		Expect(res.Ringing).To(BeFalse())
		rep := verifyLab(ctx, l, res)
		Expect(rep.OK()).To(BeTrue(), "verification failed:%s", failures(rep))
		c := callReport(rep, res.CallID)
		Expect(c.Variants).To(ContainElement("no-180"))
		Expect(stepsSeen(c, flow.Setup)).NotTo(ContainElements(12, 17, 22))
		// Without a 180 the post-dial delay runs to the 200.
		Expect(callCDRs(ctx, l.Name)[0]["post_dial_delay_ms"]).To(BeNumerically(">", 0))
		Expect(stepsSeen(c, flow.Teardown)).To(ConsistOf(stepRange(1, 18)))
	})

	It("tears down in FIG. 6's order when the callee hangs up", func(ctx context.Context) {
		l := upLab(ctx, "e2e-uasbye")
		res := placeCall(ctx, l, ua.CallRequest{Hangup: "uas"})
		Expect(res.Outcome).To(Equal(ua.OutcomeAnswered), "%+v", res)
		Expect(res.HangupBy).To(Equal("uas"))
		rep := verifyLab(ctx, l, res)
		Expect(rep.OK()).To(BeTrue(), "verification failed:%s", failures(rep))
		c := callReport(rep, res.CallID)
		Expect(c.Variants).To(ContainElement("callee-hangs-up"))
		Expect(c.TeardownSteps).To(Equal(18))
		// Both sides report that the destination released the call.
		recs := cdrs(ctx, l.Name)
		Expect(recs).To(HaveLen(2))
		for _, r := range recs {
			Expect(r["release_source"]).To(Equal(2.0), "%v", r)
		}
		Expect(callCDRs(ctx, l.Name)[0]["released_by"]).To(Equal("destination"))
	})

	It("runs without a clearinghouse: no OSP on the wire, everything else holds", func(ctx context.Context) {
		l := upLab(ctx, "e2e-noch", "--set", "pol1.mode=no-ch", "--set", "pol2.mode=no-ch")
		res := placeCall(ctx, l, ua.CallRequest{})
		Expect(res.Outcome).To(Equal(ua.OutcomeAnswered), "%+v", res)
		rep := verifyLab(ctx, l, res)
		Expect(rep.OK()).To(BeTrue(), "verification failed:%s", failures(rep))
		Expect(rep.NoClearinghouse).To(BeTrue())
		c := callReport(rep, res.CallID)
		Expect(stepsSeen(c, flow.Setup)).To(ConsistOf(stepRange(1, 28, 3, 4, 8, 9)))
		Expect(stepsSeen(c, flow.Teardown)).To(ConsistOf(stepRange(1, 18, 8, 9, 17, 18)))
		Expect(udpPayloads(captureFile(l, "r1-ch"), "")).To(BeEmpty(), "nothing reaches the clearinghouse")
		// The policy servers kept the usage themselves.
		out, err := exec.CommandContext(ctx, qoslabBin, "cdr", "--name", l.Name, "--format", "csv").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		Expect(string(out)).To(ContainSubstring(res.CallID))
	})

	It("talks OSP over mutual TLS when asked, and the verifier reads it with the policy servers' key logs", func(ctx context.Context) {
		// The policy servers follow the clearinghouse's own tls setting,
		// and log their session keys (on by default with TLS).
		l := upLab(ctx, "e2e-tls", "--set", "ch.tls=on")
		res := placeCall(ctx, l, ua.CallRequest{})
		Expect(res.Outcome).To(Equal(ua.OutcomeAnswered), "%+v", res)
		Expect(cdrs(ctx, l.Name)).To(HaveLen(2), "both sides' usage reached the clearinghouse")
		rep := verifyLab(ctx, l, res)
		var plain int
		Expect(eachPacket(captureFile(l, "r1-ch"), func(p gopacket.Packet) {
			if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && strings.Contains(string(tcp.Payload), "<Message") {
				plain++
			}
		})).To(Succeed())
		Expect(plain).To(BeZero(), "OSP crossed the link in clear text")
		for _, pol := range []string{"pol1", "pol2"} {
			keys, err := os.ReadFile(filepath.Join(topology.NodeDir(l.Dir, pol), trace.KeyLogName))
			Expect(err).NotTo(HaveOccurred(), "%s logs its TLS keys", pol)
			Expect(string(keys)).To(ContainSubstring("CLIENT_TRAFFIC_SECRET_0"))
		}
		// Every OSP step of the call, read from inside TLS.
		Expect(rep.OK()).To(BeTrue(), "verification failed:%s", failures(rep))
		Expect(rep.TLSSessions).To(BeNumerically(">=", 2))
		Expect(rep.TLSDecrypted).To(Equal(rep.TLSSessions))
		c := callReport(rep, res.CallID)
		Expect(stepsSeen(c, flow.Setup)).To(ConsistOf(stepRange(1, 28)))
		Expect(stepsSeen(c, flow.Teardown)).To(ConsistOf(stepRange(1, 18)))
		osp := 0
		for _, m := range c.Messages {
			if m.Proto == "osp" {
				Expect(m.TLS).To(BeTrue(), "%s read from TLS", m.Label())
				osp++
			}
		}
		Expect(osp).To(Equal(8), "setup 3, 4, 8, 9 and teardown 8, 9, 17, 18")
	})

	It("refuses a call the clearinghouse denies: 403 with a Reason, no INVITE past SIP1, no gate", func(ctx context.Context) {
		l := upLab(ctx, "e2e-denied", "--set", `ch.policy=deny uac -> uas code=403 reason="barred in the e2e suite"`)
		res := placeCall(ctx, l, ua.CallRequest{})
		Expect(res.Outcome).To(Equal(ua.OutcomeRefused), "%+v", res)
		Expect(res.Status).To(Equal(403))
		Expect(res.Reason).To(ContainSubstring("barred in the e2e suite"))
		rep := verifyLab(ctx, l, res)
		Expect(rep.OK()).To(BeTrue(), "verification failed:%s", failures(rep))
		c := callReport(rep, res.CallID)
		Expect(c.Variants).To(ContainElement("denied"))
		for _, m := range c.Messages {
			Expect(m.Kind).NotTo(Equal(flow.GateSet), "no gate is ever installed")
			if m.What == "INVITE" {
				Expect(m.From).To(Equal("uac"), "no INVITE crosses past SIP1")
			}
		}
	})

	It("re-marks self-marked EF without a gate to DSCP 0 at the edge (theft of service)", func(ctx context.Context) {
		l := upLab(ctx, "e2e-theft")
		uac, _ := l.Plan.Node("uac")
		uas, _ := l.Plan.Node("uas")
		src := netip.AddrPortFrom(uac.Addr(), 40000)
		dst := netip.AddrPortFrom(uas.Addr(), 40002)
		sendUDP(l.Name, "uac", src, dst, 10, 46)
		Expect(topology.StopCapture(ctx, l.Name, "")).To(Succeed())
		Expect(dscpOnLink(l, "r1-uac", src, dst)).To(Equal(map[uint8]int{46: 10}), "the UAC marked its packets EF itself")
		Expect(dscpOnLink(l, "r1-r2", src, dst)).To(Equal(map[uint8]int{0: 10}), "r1 re-marked them to 0")
		Expect(dscpOnLink(l, "r2-uas", src, dst)).To(Equal(map[uint8]int{0: 10}))
	})

	It("verifies 20 concurrent calls, each one", func(ctx context.Context) {
		l := upLab(ctx, "e2e-twenty")
		results := make([]ua.CallResult, 20)
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() {
				defer GinkgoRecover()
				defer wg.Done()
				results[i] = placeCall(ctx, l, ua.CallRequest{Talk: "2s"})
			}()
		}
		wg.Wait()
		rep := verifyLab(ctx, l, results...)
		Expect(rep.OK()).To(BeTrue(), "verification failed:%s", failures(rep))
		Expect(rep.Calls).To(HaveLen(20))
		for _, res := range results {
			Expect(res.Outcome).To(Equal(ua.OutcomeAnswered), "%+v", res)
			c := callReport(rep, res.CallID)
			Expect(c.Failures).To(BeZero())
			Expect(c.SetupSteps).To(BeNumerically(">=", 28))
			Expect(c.TeardownSteps).To(Equal(18))
		}
		noIPFragments(l)
	})

	// Issue 13: the UAS rings 1 ms, so SIP2 releases the 180 and the 200
	// back to back once its LDP decision is in; neither proxy nor the UAC
	// may lose or reorder the 180 (5 of 20 calls lost it before).
	It("brings every caller the 180 before the 200 when the callee answers after 1 ms, 200 calls, each verified", func(ctx context.Context) {
		l := upLab(ctx, "e2e-ring1ms")
		const calls, inFlight = 200, 20
		results := make([]ua.CallResult, calls)
		sem := make(chan struct{}, inFlight)
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer GinkgoRecover()
				defer wg.Done()
				defer func() { <-sem }()
				results[i] = placeCall(ctx, l, ua.CallRequest{Ring: "1ms", Talk: "1s"})
			}()
		}
		wg.Wait()
		for _, res := range results {
			Expect(res.Outcome).To(Equal(ua.OutcomeAnswered), "%+v", res)
			Expect(res.Ringing).To(BeTrue(), "call %s: no 180 before the 200", res.CallID)
		}
		rep := verifyLab(ctx, l, results...)
		Expect(rep.OK()).To(BeTrue(), "verification failed:%s", failures(rep))
		Expect(rep.Calls).To(HaveLen(calls))
		for _, res := range results {
			c := callReport(rep, res.CallID)
			Expect(stepsSeen(c, flow.Setup)).To(ContainElements(17, 22, 24, 25), "call %s", res.CallID)
		}
		noIPFragments(l)
	})
})

// noIPFragments checks with tshark that no capture of the lab holds an IP
// fragment: every SIP message fits its datagram or went over TCP.
func noIPFragments(l *labRun) {
	lab := filepath.Join(l.Dir, "capture", "lab.pcapng")
	Expect(tsharkLines(lab, "ip.flags.mf == 1 or ip.frag_offset > 0")).To(BeEmpty(), "IP fragments in %s", lab)
}

// tsharkLines is tshark's one-line summary of each packet of a capture
// that matches a display filter (tshark is a peer the suites require).
func tsharkLines(file, filter string) []string {
	tshark := requirePeer("tshark")
	out, err := exec.Command(tshark, "-n", "-r", file, "-Y", filter).Output()
	Expect(err).NotTo(HaveOccurred(), "tshark -r %s -Y %q", file, filter)
	var lines []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" {
			lines = append(lines, line)
		}
	}
	return lines
}

// sendUDP sends n datagrams from src to dst inside a node's namespace,
// with the given DSCP set on the socket.
func sendUDP(lab, node string, src, dst netip.AddrPort, n int, dscp int) {
	var conn *net.UDPConn
	err := topology.RunIn(lab, node, func() error {
		var err error
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(src))
		return err
	})
	Expect(err).NotTo(HaveOccurred())
	defer conn.Close()
	if dscp != 0 {
		raw, err := conn.SyscallConn()
		Expect(err).NotTo(HaveOccurred())
		Expect(raw.Control(func(fd uintptr) {
			Expect(unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TOS, dscp<<2)).To(Succeed())
		})).To(Succeed())
	}
	payload := make([]byte, 172)
	for i := 0; i < n; i++ {
		_, err := conn.WriteToUDPAddrPort(payload, dst)
		Expect(err).NotTo(HaveOccurred())
	}
}
