package proxy

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/qoslab/qoslab/internal/wait"
)

// Interop with a SIP implementation nobody here wrote: sipp (Debian's
// sip-tester) as UAC and as UAS, through both proxies, each completing
// INVITE/180/200/ACK/BYE with no unexpected message (sipp exits non-zero
// on any unexpected message or timeout).

func needSipp(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp not installed (Debian package sip-tester); skipping the interop test")
	}
	return path
}

func runSipp(t *testing.T, ctx context.Context, sipp string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, sipp, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = t.TempDir() // sipp writes its logs next to itself
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sipp: %v", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			t.Logf("sipp output:\n%s", out.String())
		}
	})
	return cmd
}

func TestSippUACThroughBothProxies(t *testing.T) { sippUAC(t, "u1", 5072) }

// TestSippUACOverTCP: sipp's UAC talks TCP to SIP1 (sipp -t t1), which
// listens on TCP as RFC 3261 section 18 requires; the responses come back
// on sipp's connection, SIP1 record-routes twice (TCP towards sipp, UDP
// towards SIP2) and sipp's ACK and BYE follow that route set over TCP.
func TestSippUACOverTCP(t *testing.T) { sippUAC(t, "t1", 5074) }

// sippUAC runs sipp's UAC scenario over transport (sipp's -t) from port
// through both proxies to the lab's UAS.
func sippUAC(t *testing.T, transport string, port uint16) {
	sipp := needSipp(t)
	pdp1, pdp2 := newScriptedPDP(t, nil), newScriptedPDP(t, nil)
	l := startLab(t, pdp1, pdp2, time.Second)
	l.uas.setAnswer(answerRing(50 * time.Millisecond))
	scenario, _ := filepath.Abs("testdata/sipp_uac.xml")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	src := netip.AddrPortFrom(l.uacAddr.Addr(), port)
	cmd := runSipp(t, ctx, sipp, "-sf", scenario, "-nostdin", "-t", transport,
		"-i", src.Addr().String(), "-p", strconv.Itoa(int(src.Port())),
		"-key", "callee", fmt.Sprintf("uas@%s", l.uasAddr),
		"-m", "1", "-timeout", "15s", "-timeout_error",
		l.sip1Addr.String())
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sipp UAC (-t %s) failed: %v", transport, err)
	}
	if inv, acks, byes := l.uas.counts(); inv != 1 || acks != 1 || byes != 1 {
		t.Errorf("UAS saw %d INVITE, %d ACK, %d BYE; want 1 each", inv, acks, byes)
	}
	if inv := l.uas.invite(0); inv.Transport() != "UDP" {
		t.Errorf("INVITE reached the UAS over %s, want UDP", inv.Transport())
	}
	l.settled(pdp1, pdp2)
}

func TestSippUASBehindBothProxies(t *testing.T) {
	sipp := needSipp(t)
	pdp1, pdp2 := newScriptedPDP(t, nil), newScriptedPDP(t, nil)
	l := startLab(t, pdp1, pdp2, time.Second)
	scenario, _ := filepath.Abs("testdata/sipp_uas.xml")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	uas := netip.AddrPortFrom(l.uasAddr.Addr(), 5062)
	cmd := runSipp(t, ctx, sipp, "-sf", scenario, "-nostdin",
		"-i", uas.Addr().String(), "-p", strconv.Itoa(int(uas.Port())),
		"-m", "1", "-timeout", "15s", "-timeout_error")
	// sipp has no readiness signal: wait for its UDP socket.
	wait.For(t, "sipp to listen on "+uas.String(), func() bool { return wait.UDPListening(uas) })

	res := l.invite(ctx, sdpBody(l.uacAddr.Addr(), 20000, "0"), func(r *sip.Request) {
		r.Recipient.Port = int(uas.Port())
	})
	if res.final == nil || res.final.StatusCode != 200 {
		t.Fatalf("call to sipp failed: %v", res)
	}
	if err := res.dialog.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	// sipgo (in the proxies too) handles each datagram on its own
	// goroutine, so an ACK and a BYE sent back to back may swap on the way;
	// sipp's UAS rejects a BYE before the ACK. People do not hang up within
	// microseconds of answering: the BYE leaves once SIP2 sent the ACK on.
	waitFor(t, "SIP2 to pass the ACK on", func() bool { return slices.Contains(l.log2.lines(), "tx sip ACK") })
	if err := res.dialog.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sipp UAS failed: %v", err)
	}
	l.settled(pdp1, pdp2)
}

// TestSippBuiltinUAC runs sipp's own scenario (-sn uac), which ignores
// Record-Route: its ACK and BYE reach SIP1 without a Route, and the proxies
// still carry them along the call's path.
func TestSippBuiltinUAC(t *testing.T) {
	sipp := needSipp(t)
	pdp1, pdp2 := newScriptedPDP(t, nil), newScriptedPDP(t, nil)
	l := startLab(t, pdp1, pdp2, time.Second)
	l.uas.setAnswer(answerRing(50 * time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	src := netip.AddrPortFrom(l.uacAddr.Addr(), 5073)
	cmd := runSipp(t, ctx, sipp, "-sn", "uac", "-nostdin",
		"-i", src.Addr().String(), "-p", strconv.Itoa(int(src.Port())),
		"-s", "uas", "-rsa", l.sip1Addr.String(),
		"-m", "1", "-d", "100", "-timeout", "15s", "-timeout_error",
		l.uasAddr.String())
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sipp UAC failed: %v", err)
	}
	if inv, acks, byes := l.uas.counts(); inv != 1 || acks != 1 || byes != 1 {
		t.Errorf("UAS saw %d INVITE, %d ACK, %d BYE; want 1 each", inv, acks, byes)
	}
	l.settled(pdp1, pdp2)
}
