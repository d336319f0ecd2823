package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/qoslab/qoslab/topology"
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
		const calls = 200
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
})

// testdata is the e2e suite's own testdata directory.
var testdata = func() string {
	d, err := filepath.Abs("testdata")
	if err != nil {
		panic(err)
	}
	return d
}()
