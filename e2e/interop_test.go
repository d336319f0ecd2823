package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes/ua"
	"github.com/qoslab/qoslab/topology"
	"github.com/qoslab/qoslab/traffic/trace"
)

// Interop with SIP implementations nobody here wrote, run inside the lab's
// namespaces next to (not instead of) qoslab's own user agents.

// peerProc is a peer program running in a lab node's namespace.
type peerProc struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan error
}

// startIn starts a program inside a node's namespace (a child started from
// the switched thread inherits it). Its output is kept for the report; it
// is killed at cleanup if it still runs.
func startIn(l *labRun, node, dir string, name string, args ...string) *peerProc {
	p := &peerProc{cmd: exec.Command(name, args...), done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr, p.cmd.Dir = &p.out, &p.out, dir
	Expect(topology.RunIn(l.Name, node, p.cmd.Start)).To(Succeed(), "start %s in %s", name, node)
	go func() { p.done <- p.cmd.Wait() }()
	DeferCleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		AddReportEntry(filepath.Base(name)+" in "+node, p.out.String())
	})
	return p
}

// wait returns the program's exit error once it ends, or fails the spec.
func (p *peerProc) wait(ctx context.Context, within time.Duration) error {
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		return err
	case <-time.After(within):
		Fail(fmt.Sprintf("%s still running after %v:\n%s", p.cmd.Path, within, p.out.String()))
	case <-ctx.Done():
		Fail("cancelled")
	}
	return nil
}

// waitUDPBound waits until something in a node's namespace listens on a
// UDP port (sipp has no readiness signal): binding it fails then.
func waitUDPBound(l *labRun, node string, at netip.AddrPort) {
	Eventually(func() bool {
		inUse := false
		Expect(topology.RunIn(l.Name, node, func() error {
			c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(at))
			if err != nil {
				inUse = true
				return nil
			}
			return c.Close()
		})).To(Succeed())
		return inUse
	}).WithTimeout(10 * time.Second).WithPolling(20 * time.Millisecond).Should(BeTrue())
}

// nodeAddr is a lab node's primary address.
func nodeAddr(l *labRun, node string) netip.Addr {
	for _, n := range l.Plan.Nodes {
		if n.Name == node {
			return n.Addr()
		}
	}
	Fail("no node " + node)
	return netip.Addr{}
}

var _ = Describe("SIP interop in the lab", Label("root", "interop"), func() {
	BeforeEach(func() { requireRoot() })

	// Issue 13: with a sipp callee answering at once, SIP2 releases 180
	// and 200 back to back after its LDP decision; SIP1 used to lose the
	// 180 (1,497 of 2,000 calls got it at 50 calls/s). sipp's caller here
	// fails any call whose 200 comes without a 180 before it.
	It("delivers the 180 before the 200 to every sipp caller at 50 calls/s, with a sipp callee answering at once", func(ctx context.Context) {
		sipp := requirePeer("sipp")
		l := upLab(ctx, "e2e-sipp-ring")
		uas := netip.AddrPortFrom(nodeAddr(l, "uas"), 5070)
		uac := netip.AddrPortFrom(nodeAddr(l, "uac"), 5070)
		sip1 := netip.AddrPortFrom(nodeAddr(l, "sip1"), 5060)
		dir := GinkgoT().TempDir()
		const calls = 100 // 2 s at 50 calls/s: the clearinghouse's signing, not the proxies, bounds the rate on 2 cores
		callee := startIn(l, "uas", dir, sipp, "-sf", filepath.Join(testdata, "sipp_uas_ring.xml"), "-nostdin",
			"-i", uas.Addr().String(), "-p", strconv.Itoa(int(uas.Port())),
			"-m", strconv.Itoa(calls), "-timeout", "90s", "-timeout_error")
		waitUDPBound(l, "uas", uas)
		caller := startIn(l, "uac", dir, sipp, "-sf", filepath.Join(testdata, "sipp_uac_ring.xml"), "-nostdin",
			"-i", uac.Addr().String(), "-p", strconv.Itoa(int(uac.Port())),
			"-key", "callee", "sipp@"+uas.String(), "-rsa", sip1.String(),
			"-r", "50", "-l", "100", "-m", strconv.Itoa(calls), "-timeout", "80s", "-timeout_error",
			sip1.String())
		Expect(caller.wait(ctx, 90*time.Second)).To(Succeed(), "sipp caller: every call must see 180, then 200:\n%s", caller.out.String())
		Expect(callee.wait(ctx, 20*time.Second)).To(Succeed(), "sipp callee:\n%s", callee.out.String())
	})

	// A third-party caller uses the lab as it would any SIP network: it
	// registers its address-of-record at its domain's registrar and calls
	// the callee's address-of-record; the call follows FIG. 5 and FIG. 6
	// with EF media, checked from the captures.
	It("lets a sipp caller register and call sip:uas@b.qoslab.test through both proxies, verified with EF media", func(ctx context.Context) {
		sipp := requirePeer("sipp")
		l := upLab(ctx, "e2e-sipp-uac")
		me := netip.AddrPortFrom(nodeAddr(l, "uac"), 5070)
		sip1 := netip.AddrPortFrom(nodeAddr(l, "sip1"), 5060).String()
		dir := GinkgoT().TempDir()
		common := []string{"-nostdin", "-i", me.Addr().String(), "-p", strconv.Itoa(int(me.Port())),
			"-key", "user", "sipp", "-key", "domain", "a.qoslab.test", "-m", "1", "-timeout", "20s", "-timeout_error"}
		reg := startIn(l, "uac", dir, sipp, append([]string{"-sf", filepath.Join(testdata, "sipp_register.xml")}, append(common, sip1)...)...)
		Expect(reg.wait(ctx, 30*time.Second)).To(Succeed(), "sipp REGISTER:\n%s", reg.out.String())
		caller := startIn(l, "uac", dir, sipp, append([]string{"-sf", filepath.Join(testdata, "sipp_uac_media.xml"),
			"-key", "callee", "uas@b.qoslab.test", "-rsa", sip1, "-mp", "6000"}, append(common, sip1)...)...)
		Expect(caller.wait(ctx, 30*time.Second)).To(Succeed(), "sipp caller:\n%s", caller.out.String())

		ids := callsSeenBy(l, "sip1")
		Expect(ids).To(HaveLen(1))
		rep := verifyCalls(ctx, l, false, ids...)
		Expect(rep.OK()).To(BeTrue(), "verification failed:%s", failures(rep))
		c := callReport(rep, ids[0])
		Expect(stepsSeen(c, flow.Setup)).To(ConsistOf(stepRange(1, 28)))
		Expect(stepsSeen(c, flow.Teardown)).To(ConsistOf(stepRange(1, 18)))
	})

	It("calls a sipp callee registered as sip:sippuas@b.qoslab.test from qoslab's UAC, verified with EF media", func(ctx context.Context) {
		sipp := requirePeer("sipp")
		l := upLab(ctx, "e2e-sipp-uas")
		me := netip.AddrPortFrom(nodeAddr(l, "uas"), 5070)
		sip2 := netip.AddrPortFrom(nodeAddr(l, "sip2"), 5060).String()
		dir := GinkgoT().TempDir()
		common := []string{"-nostdin", "-i", me.Addr().String(), "-p", strconv.Itoa(int(me.Port())),
			"-key", "user", "sippuas", "-key", "domain", "b.qoslab.test", "-m", "1", "-timeout", "20s", "-timeout_error"}
		reg := startIn(l, "uas", dir, sipp, append([]string{"-sf", filepath.Join(testdata, "sipp_register.xml")}, append(common, sip2)...)...)
		Expect(reg.wait(ctx, 30*time.Second)).To(Succeed(), "sipp REGISTER:\n%s", reg.out.String())
		callee := startIn(l, "uas", dir, sipp, append([]string{"-sf", filepath.Join(testdata, "sipp_uas_media.xml"), "-mp", "6000"}, common...)...)
		waitUDPBound(l, "uas", me)

		res := placeCall(ctx, l, ua.CallRequest{To: "sip:sippuas@b.qoslab.test", Talk: "1500ms"})
		Expect(res.Outcome).To(Equal(ua.OutcomeAnswered), "%+v", res)
		Expect(callee.wait(ctx, 20*time.Second)).To(Succeed(), "sipp callee:\n%s", callee.out.String())
		Expect(res.Media.Received.DSCP["46"]).To(BeNumerically(">", 0), "the sipp callee's RTP reached the caller EF: %v", res.Media.Received.DSCP)
		rep := verifyCalls(ctx, l, false, res.CallID)
		Expect(rep.OK()).To(BeTrue(), "verification failed:%s", failures(rep))
		c := callReport(rep, res.CallID)
		Expect(stepsSeen(c, flow.Setup)).To(ConsistOf(stepRange(1, 28)))
		Expect(stepsSeen(c, flow.Teardown)).To(ConsistOf(stepRange(1, 18)))
	})
})

var _ = Describe("baresip in the lab", Label("root", "interop"), func() {
	BeforeEach(func() { requireRoot() })

	// baresip (libre's SIP stack) registers with SIP2 through its
	// outbound proxy setting and answers by itself; qoslab's UAC calls its
	// address-of-record. baresip sends a sine tone as G.711.
	It("calls a baresip UA registered as sip:bare@b.qoslab.test from qoslab's UAC, verified with EF media", func(ctx context.Context) {
		baresip := requirePeer("baresip")
		l := upLab(ctx, "e2e-baresip")
		me := netip.AddrPortFrom(nodeAddr(l, "uas"), 5080)
		sip2 := nodeAddr(l, "sip2")
		dir := GinkgoT().TempDir()
		tone := filepath.Join(dir, "tone.wav")
		Expect(os.WriteFile(tone, sineWAV(8000, 440, 5*time.Second), 0o644)).To(Succeed())
		config := fmt.Sprintf(`poll_method epoll
sip_listen %s
audio_player aufile,%s
audio_source aufile,%s
audio_alert aufile,%s
rtp_ports 7000-7010
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module_app account.so
module_app menu.so
`, me, filepath.Join(dir, "out.wav"), tone, tone)
		Expect(os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o644)).To(Succeed())
		account := fmt.Sprintf("<sip:bare@b.qoslab.test>;outbound=\"sip:%s;lr\";regint=600;answermode=auto;audio_codecs=PCMU,PCMA\n", sip2)
		Expect(os.WriteFile(filepath.Join(dir, "accounts"), []byte(account), 0o644)).To(Succeed())
		startIn(l, "uas", dir, baresip, "-f", dir)
		Eventually(func() string {
			b, _ := os.ReadFile(filepath.Join(l.Dir, "nodes", "sip2", "node.log"))
			return string(b)
		}).WithTimeout(15*time.Second).WithPolling(50*time.Millisecond).Should(ContainSubstring(`"aor":"sip:bare@b.qoslab.test"`), "baresip registered at sip2")

		res := placeCall(ctx, l, ua.CallRequest{To: "sip:bare@b.qoslab.test", Talk: "1500ms"})
		Expect(res.Outcome).To(Equal(ua.OutcomeAnswered), "%+v", res)
		Expect(res.Media.Received.DSCP["46"]).To(BeNumerically(">", 0), "baresip's RTP reached the caller EF: %v", res.Media.Received.DSCP)
		rep := verifyCalls(ctx, l, false, res.CallID)
		// baresip rings with a 180 without SDP, which the proxies pass on
		// at once (there are no media to ask LDP for yet); its 200 carries
		// the answer and triggers LDP. docs/FLOW.md has no variant for that
		// 180 yet (issue 14 adds it): until then the verifier takes it for
		// steps 17 and 22 arriving before 16 and 21, and those two order
		// findings, and only those, are expected.
		var others []trace.Failure
		for _, f := range rep.Failures {
			if !(f.Check == trace.CheckOrder && (f.Step == 17 || f.Step == 22) && strings.Contains(f.Seen, " 180 ")) {
				others = append(others, f)
			}
		}
		Expect(others).To(BeEmpty(), "verification failed:%s", failures(rep))
		Expect(rep.Problems).To(BeEmpty())
		c := callReport(rep, res.CallID)
		Expect(stepsSeen(c, flow.Setup)).To(ContainElements(append(stepRange(1, 11), stepRange(23, 28)...)))
		Expect(stepsSeen(c, flow.Teardown)).To(ConsistOf(stepRange(1, 18)))
	})
})

// sineWAV is a mono 16-bit PCM WAV file of a sine tone: baresip's audio
// source (its ausine module only runs at 48 kHz, G.711 at 8 kHz).
func sineWAV(rate, freq int, d time.Duration) []byte {
	n := int(d.Seconds() * float64(rate))
	data := make([]byte, 2*n)
	for i := range n {
		v := int16(8000 * math.Sin(2*math.Pi*float64(freq)*float64(i)/float64(rate)))
		binary.LittleEndian.PutUint16(data[2*i:], uint16(v))
	}
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + len(data)))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1)) // PCM
	le(uint16(1)) // mono
	le(uint32(rate))
	le(uint32(2 * rate))
	le(uint16(2))
	le(uint16(16))
	b.WriteString("data")
	le(uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

// callsSeenBy lists the Call-IDs of the INVITEs a node logged receiving.
func callsSeenBy(l *labRun, node string) []string {
	lines, err := trace.ReadNodeLogs(l.Dir)
	Expect(err).NotTo(HaveOccurred())
	seen := map[string]bool{}
	var out []string
	for _, line := range lines {
		if line.Node == node && line.Dir == "rx" && line.Proto == "sip" && line.What == "INVITE" && !seen[line.Call] {
			seen[line.Call] = true
			out = append(out, line.Call)
		}
	}
	return out
}

// testdata is the e2e suite's own testdata directory.
var testdata = func() string {
	d, err := filepath.Abs("testdata")
	if err != nil {
		panic(err)
	}
	return d
}()
