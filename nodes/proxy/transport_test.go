package proxy

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qoslab/qoslab/nodes/sipstack"
	"github.com/qoslab/qoslab/protocol/cops"
)

// RFC 3261 18.1.1: a request larger than MTU-200 (1300 bytes in the lab)
// goes over TCP. The OSP token makes SIP1's INVITE to SIP2 about 2.5 kB:
// it must cross on TCP, with SIP1 record-routing twice (RFC 5658: UDP
// towards the caller, TCP towards SIP2), and SIP2 must not pass the token
// on to the callee.
func TestTokenInviteCrossesOnTCP(t *testing.T) {
	big := strings.Repeat("x", 1800) // the size of a real CMS token, base64
	pdp1 := newScriptedPDP(t, allowWithToken(big))
	pdp2 := newScriptedPDP(t, nil)
	l := startLab(t, pdp1, pdp2, time.Second)
	l.uas.setAnswer(answerRing(0))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := l.invite(ctx, sdpBody(l.uacAddr.Addr(), 20000, "0"))
	if res.final == nil || res.final.StatusCode != 200 {
		t.Fatalf("call failed: %v", res)
	}
	if log := pdp2.log(); len(log) == 0 || log[0] != "REQ AAA token="+big {
		t.Errorf("SIP2's first REQ is %.60q..., want REQ AAA with SIP1's token", log)
	}
	inv := l.uas.invite(0)
	if inv.Transport() != sipstack.UDP {
		t.Errorf("INVITE reached the UAS over %s, want UDP (small again without the token)", inv.Transport())
	}
	if h := inv.GetHeader(TokenHeader); h != nil {
		t.Errorf("the token reached the callee")
	}
	vias := inv.GetHeaders("Via")
	if len(vias) != 3 || !strings.HasPrefix(vias[1].Value(), "SIP/2.0/TCP "+l.sip1Addr.String()) {
		t.Errorf("Via at UAS %v: want SIP1's on TCP", vias)
	}
	var rr []string
	for _, h := range inv.GetHeaders("Record-Route") {
		rr = append(rr, h.Value())
	}
	want := []string{
		"<sip:" + l.sip2Addr.String() + ";transport=udp;lr>", "<sip:" + l.sip2Addr.String() + ";transport=tcp;lr>",
		"<sip:" + l.sip1Addr.String() + ";transport=tcp;lr>", "<sip:" + l.sip1Addr.String() + ";transport=udp;lr>",
	}
	if strings.Join(rr, " ") != strings.Join(want, " ") {
		t.Errorf("Record-Route at UAS:\n got %v\nwant %v", rr, want)
	}
	// The dialog's requests follow that route set: ACK and BYE cross SIP1
	// and SIP2 (on TCP between them) and reach the UAS.
	if err := res.dialog.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := res.dialog.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	waitFor(t, "ACK and BYE at the UAS", func() bool { _, acks, byes := l.uas.counts(); return acks == 1 && byes == 1 })
	waitFor(t, "both calls to end", func() bool { return l.sip1.Calls() == 0 && l.sip2.Calls() == 0 })
}

// An INVITE too large for sipgo's old 32 kB read buffer, sent as one
// datagram, is read whole and answered (here: forwarded on TCP and
// answered by the UAS), not truncated and dropped in silence.
func TestOversizedInviteIsAnswered(t *testing.T) {
	pdp1, pdp2 := newScriptedPDP(t, nil), newScriptedPDP(t, nil)
	l := startLab(t, pdp1, pdp2, time.Second)
	l.uas.setAnswer(answerDirect)
	conn, err := net.ListenPacket("udp", rawAddr(l).String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	to, _ := net.ResolveUDPAddr("udp", l.sip1Addr.String())
	msg := rawInvite(l, "big1", string(sdpBody(l.uacAddr.Addr(), 20000, "0")), "X-Padding: "+strings.Repeat("a", 40000))
	if _, err := conn.WriteTo([]byte(msg), to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	for {
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no final answer to a %d-byte INVITE: %v", len(msg), err)
		}
		if got := string(buf[:n]); !strings.HasPrefix(got, "SIP/2.0 1") {
			if !strings.HasPrefix(got, "SIP/2.0 200") {
				t.Fatalf("answer %q", strings.SplitN(got, "\r\n", 2)[0])
			}
			break
		}
	}
	if inv := l.uas.invite(0); inv.Transport() != sipstack.TCP || len(inv.String()) < 40000 {
		t.Errorf("UAS got the INVITE over %s, %d bytes; want TCP, all of it", inv.Transport(), len(inv.String()))
	}
}

// allowWithToken grants token to the originating side's AAA.
func allowWithToken(token string) func(cops.Kind, cops.Session) decision {
	return func(kind cops.Kind, s cops.Session) decision {
		d := allowAll(kind, s)
		if kind == cops.KindAAA {
			d.Session.Token = []byte(token)
		}
		return d
	}
}

// Issue 13: SIP2 releases a held 180 and 200 back to back once its LDP
// decision is in, and sipgo hands each message to a goroutine of its own;
// SIP1's transaction, given the 200 first, dropped the 180. The proxies
// read INVITE responses in wire order: every caller sees 180, then 200,
// also with many calls in flight.
func TestProvisionalNeverOvertaken(t *testing.T) {
	pdp1, pdp2 := newScriptedPDP(t, nil), newScriptedPDP(t, nil)
	l := startLab(t, pdp1, pdp2, 2*time.Second)
	l.uas.setAnswer(answerRing(0)) // 180 and 200 back to back
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const calls, inFlight = 100, 10
	bad := make(chan string, calls)
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	for range calls {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res := l.invite(ctx, sdpBody(l.uacAddr.Addr(), 20000, "0"))
			// A 100 Trying (sent by the stack when the proxy takes more
			// than 200 ms, as on a loaded machine) is hop-by-hop and may
			// come first; what must hold is 180, then 200.
			if fmt.Sprint(withoutTrying(res.statuses)) != "[180 200]" {
				bad <- res.String()
			}
			if res.dialog != nil && res.final != nil && res.final.StatusCode == 200 {
				res.dialog.Ack(ctx)
				res.dialog.Bye(ctx)
			}
		}()
	}
	wg.Wait()
	close(bad)
	var n int
	for b := range bad {
		if n++; n <= 5 {
			t.Errorf("caller saw %s, want [180 200]", b)
		}
	}
	if n > 0 {
		t.Errorf("%d of %d calls without 180 before 200", n, calls)
	}
	l.settled(pdp1, pdp2)
}

// withoutTrying drops 100 Trying from a caller's list of statuses.
func withoutTrying(statuses []int) []int {
	var out []int
	for _, c := range statuses {
		if c != 100 {
			out = append(out, c)
		}
	}
	return out
}
