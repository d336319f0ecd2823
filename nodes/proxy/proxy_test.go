package proxy

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"

	"github.com/qoslab/qoslab/internal/wait"
	"github.com/qoslab/qoslab/protocol/cops"
)

func TestCallThroughBothProxies(t *testing.T) {
	pdp1, pdp2 := newScriptedPDP(t, nil), newScriptedPDP(t, nil)
	l := startLab(t, pdp1, pdp2, time.Second)
	l.uas.setAnswer(answerRing(20 * time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	res := l.invite(ctx, sdpBody(l.uacAddr.Addr(), 20000, "0 8"))
	if res.err != nil || res.final == nil || res.final.StatusCode != 200 {
		t.Fatalf("call failed: %v", res)
	}
	if !slices.Contains(res.statuses, 180) {
		t.Errorf("UAC saw %v, want a 180 before the 200", res.statuses)
	}
	// SIP2's PDP got the token POL1 granted (below); the token stops at
	// SIP2: the callee has no use for it.
	inv := l.uas.invite(0)
	if h := inv.GetHeader(TokenHeader); h != nil {
		t.Errorf("INVITE at UAS carries %s: %.40s..., want no token", TokenHeader, h.Value())
	}
	// Each proxy took one from Max-Forwards, put its Via on top and
	// Record-Routed (SIP2 above SIP1).
	if mf := inv.MaxForwards(); mf == nil || mf.Val() != 68 {
		t.Errorf("Max-Forwards at UAS = %v, want 68", mf)
	}
	if vias := inv.GetHeaders("Via"); len(vias) != 3 || !strings.Contains(vias[0].Value(), l.sip2Addr.String()) {
		t.Errorf("Via at UAS: %v", vias)
	}
	rr := inv.GetHeaders("Record-Route")
	if len(rr) != 2 || !strings.Contains(rr[0].Value(), l.sip2Addr.String()) || !strings.Contains(rr[1].Value(), l.sip1Addr.String()) {
		t.Errorf("Record-Route at UAS: %v", rr)
	}
	if err := res.dialog.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ACK at UAS", func() bool { _, acks, _ := l.uas.counts(); return acks == 1 })
	if err := res.dialog.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	waitFor(t, "both calls to end", func() bool { return l.sip1.Calls() == 0 && l.sip2.Calls() == 0 })
	waitFor(t, "handles deleted", func() bool { return pdp1.openHandles() == 0 && pdp2.openHandles() == 0 })

	media := "media=fwd udp " + l.uacAddr.Addr().String() + ":20000->" + l.uasAddr.Addr().String() + ":30000," +
		"bwd udp " + l.uasAddr.Addr().String() + ":30000->" + l.uacAddr.Addr().String() + ":20000"
	// The LDP went out on the 180: the callee is alerted (the PDP's alert time).
	// The caller's BYE released it (the PDP's OSP ReleaseSource).
	want1 := []string{"REQ AAA", "REQ LDP " + media + " alerting", "REQ noLDP " + media + " released-by=originating", "DRQ"}
	want2 := []string{"REQ AAA token=tok-orig", "REQ LDP " + media + " alerting", "REQ noLDP " + media + " released-by=originating", "DRQ"}
	if got := pdp1.log(); !slices.Equal(got, want1) {
		t.Errorf("POL1 saw\n%q\nwant\n%q", got, want1)
	}
	if got := pdp2.log(); !slices.Equal(got, want2) {
		t.Errorf("POL2 saw\n%q\nwant\n%q", got, want2)
	}
}

func denyAAA(reason string) func(cops.Kind, cops.Session) decision {
	return func(kind cops.Kind, s cops.Session) decision {
		if kind == cops.KindAAA {
			d := session(kind, s)
			d.Command, d.Session.Result, d.Session.Reason = cops.CommandRemove, 403, reason
			return d
		}
		return allowAll(kind, s)
	}
}

// settled waits until both proxies forgot the call and no handle is open.
func (l *lab) settled(pdps ...*scriptedPDP) {
	l.t.Helper()
	waitFor(l.t, "calls to end", func() bool { return l.sip1.Calls() == 0 && l.sip2.Calls() == 0 })
	for i, p := range pdps {
		waitFor(l.t, "handles of PDP "+strconv.Itoa(i+1)+" deleted", func() bool { return p.openHandles() == 0 })
	}
}

func TestAAARefusedGives403WithReason(t *testing.T) {
	for _, at := range []string{"sip1", "sip2"} {
		t.Run("refused at "+at, func(t *testing.T) {
			pdp1, pdp2 := newScriptedPDP(t, nil), newScriptedPDP(t, nil)
			refusing := pdp1
			if at == "sip2" {
				refusing = pdp2
			}
			refusing.decide = denyAAA("no route to destination")
			l := startLab(t, pdp1, pdp2, time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res := l.invite(ctx, sdpBody(l.uacAddr.Addr(), 20000, "0"))
			if res.final == nil || res.final.StatusCode != 403 {
				t.Fatalf("UAC got %v, want 403", res)
			}
			if r := res.final.GetHeader("Reason"); r == nil || !strings.Contains(r.Value(), "no route to destination") {
				t.Errorf("403 Reason header = %v", r)
			}
			if n, _, _ := l.uas.counts(); n != 0 {
				t.Errorf("UAS got %d INVITEs past the refusing proxy", n)
			}
			if at == "sip1" && len(pdp2.log()) != 0 {
				t.Errorf("POL2 was asked %q although SIP1 refused", pdp2.log())
			}
			l.settled(pdp1, pdp2)
		})
	}
}

func TestPDPUnreachableGives503(t *testing.T) {
	cases := map[string]func(t testing.TB) *scriptedPDP{
		"nobody listens": unreachablePDP,
		"no decision": func(t testing.TB) *scriptedPDP {
			p := newScriptedPDP(t, nil)
			p.silence = true
			return p
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			pdp1, pdp2 := mk(t), newScriptedPDP(t, nil)
			l := startLab(t, pdp1, pdp2, 150*time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res := l.invite(ctx, sdpBody(l.uacAddr.Addr(), 20000, "0"))
			if res.final == nil || res.final.StatusCode != 503 {
				t.Fatalf("UAC got %v, want 503", res)
			}
			if h := res.final.GetHeader("Retry-After"); h == nil || h.Value() == "" {
				t.Errorf("503 without Retry-After")
			}
			if n, _, _ := l.uas.counts(); n != 0 {
				t.Errorf("call proceeded without policy: UAS got %d INVITEs", n)
			}
			// A silent PDP decides the DRQ only after the REQ it never
			// answers, so the proof of no leak is the DRQ SIP1 sent.
			l.settled(pdp2)
			waitFor(t, "SIP1 to send DRQ", func() bool { return slices.Contains(l.log1.lines(), "tx cops DRQ") })
		})
	}
}

func TestByeFromCallee(t *testing.T) {
	pdp1, pdp2 := newScriptedPDP(t, nil), newScriptedPDP(t, nil)
	l := startLab(t, pdp1, pdp2, time.Second)
	l.uas.setAnswer(answerDirect)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := l.invite(ctx, sdpBody(l.uacAddr.Addr(), 20000, "0"))
	if res.final == nil || res.final.StatusCode != 200 {
		t.Fatalf("call failed: %v", res)
	}
	res.dialog.Ack(ctx)
	d := <-l.uas.inDialog
	waitFor(t, "ACK at UAS", func() bool { _, acks, _ := l.uas.counts(); return acks == 1 })
	if err := d.Bye(ctx); err != nil {
		t.Fatalf("callee BYE: %v", err)
	}
	waitFor(t, "BYE at UAC", func() bool { _, _, byes := l.uac.counts(); return byes == 1 })
	l.settled(pdp1, pdp2)
	for i, p := range []*scriptedPDP{pdp1, pdp2} {
		got := p.log()
		if len(got) != 4 || !strings.HasPrefix(got[2], "REQ noLDP") || !strings.HasSuffix(got[2], " released-by=terminating") || got[3] != "DRQ" {
			t.Errorf("POL%d saw %q, want AAA, LDP, noLDP released by the callee, DRQ", i+1, got)
		}
	}
}

func TestOKRacing180IsHeldAndReleasedInOrder(t *testing.T) {
	// Each policy server decides the LDP only once the 200 has reached
	// its proxy: the 200 arrives while the 180 waits.
	var running atomic.Pointer[lab]
	slowLDP := func(sip int) func(cops.Kind, cops.Session) decision {
		return func(kind cops.Kind, s cops.Session) decision {
			if kind == cops.KindLDP {
				l := running.Load()
				log := map[int]*msgRecorder{1: l.log1, 2: l.log2}[sip]
				if !wait.Until(wait.Timeout, func() bool { return slices.Contains(log.lines(), "rx sip 200 OK") }) {
					t.Errorf("the 200 never reached SIP%d while its LDP was pending", sip)
				}
			}
			return allowAll(kind, s)
		}
	}
	pdp1, pdp2 := newScriptedPDP(t, slowLDP(1)), newScriptedPDP(t, slowLDP(2))
	l := startLab(t, pdp1, pdp2, time.Second)
	running.Store(l)
	l.uas.setAnswer(answerRing(0))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := l.invite(ctx, sdpBody(l.uacAddr.Addr(), 20000, "0"))
	if res.final == nil || res.final.StatusCode != 200 {
		t.Fatalf("call failed: %v", res)
	}
	// SIP2 held the 180 for its LDP decision and the 200 arrived
	// meanwhile: both leave in order once the DEC is in. (Further on, sipgo
	// receivers may reorder back-to-back datagrams, so SIP2's own sending
	// order is what is checked.)
	var sent []string
	for _, line := range l.log2.lines() {
		if strings.HasPrefix(line, "tx sip 180") || strings.HasPrefix(line, "tx sip 200") || strings.HasPrefix(line, "rx cops DEC") {
			sent = append(sent, line)
		}
	}
	want := []string{"rx cops DEC Install", "rx cops DEC Install", "tx sip 180 Ringing", "tx sip 200 OK"}
	if !slices.Equal(sent, want) {
		t.Errorf("SIP2 order %q, want %q", sent, want)
	}
	for i, p := range []*scriptedPDP{pdp1, pdp2} {
		if n := strings.Count(strings.Join(p.log(), "|"), "REQ LDP"); n != 1 {
			t.Errorf("POL%d got %d REQ LDP, want 1", i+1, n)
		}
	}
	res.dialog.Ack(ctx)
	res.dialog.Bye(ctx)
	l.settled(pdp1, pdp2)
}

func TestCancelDuringAAAWait(t *testing.T) {
	release := make(chan struct{}) // POL1 decides AAA only once the caller gave up
	heldAAA := func(kind cops.Kind, s cops.Session) decision {
		if kind == cops.KindAAA {
			<-release
		}
		return allowAll(kind, s)
	}
	pdp1, pdp2 := newScriptedPDP(t, heldAAA), newScriptedPDP(t, nil)
	l := startLab(t, pdp1, pdp2, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The UAC hangs up after 300 ms; sipgo sends the CANCEL once it has a
	// provisional (SIP1's 100 Trying, after 200 ms).
	callCtx, hangUp := context.WithTimeout(ctx, 300*time.Millisecond)
	defer hangUp()
	res := l.invite(callCtx, sdpBody(l.uacAddr.Addr(), 20000, "0"))
	close(release)
	if res.final != nil && res.final.StatusCode < 300 {
		t.Fatalf("cancelled call was answered: %v", res)
	}
	l.settled(pdp1, pdp2)
	if n, _, _ := l.uas.counts(); n != 0 {
		t.Errorf("UAS got %d INVITEs for a call cancelled during the AAA wait", n)
	}
	if got := pdp1.log(); len(got) != 2 || got[1] != "DRQ" {
		t.Errorf("POL1 saw %q, want REQ AAA then DRQ", got)
	}
}

func TestPDPLostMidCallEndsTheCall(t *testing.T) {
	pdp1, pdp2 := newScriptedPDP(t, nil), newScriptedPDP(t, nil)
	l := startLab(t, pdp1, pdp2, time.Second)
	l.uas.setAnswer(answerDirect)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := l.invite(ctx, sdpBody(l.uacAddr.Addr(), 20000, "0"))
	if res.final == nil || res.final.StatusCode != 200 {
		t.Fatalf("call failed: %v", res)
	}
	res.dialog.Ack(ctx)
	waitFor(t, "ACK at UAS", func() bool { _, acks, _ := l.uas.counts(); return acks == 1 })
	pdp1.crash()
	waitFor(t, "BYE at UAS", func() bool { _, _, byes := l.uas.counts(); return byes >= 1 })
	waitFor(t, "BYE at UAC", func() bool { _, _, byes := l.uac.counts(); return byes >= 1 })
	l.settled(pdp2)
}

func TestUnsolicitedRemoveEndsTheCall(t *testing.T) {
	pdp1, pdp2 := newScriptedPDP(t, nil), newScriptedPDP(t, nil)
	l := startLab(t, pdp1, pdp2, time.Second)
	l.uas.setAnswer(answerDirect)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := l.invite(ctx, sdpBody(l.uacAddr.Addr(), 20000, "0"))
	if res.final == nil || res.final.StatusCode != 200 {
		t.Fatalf("call failed: %v", res)
	}
	res.dialog.Ack(ctx)
	waitFor(t, "ACK at UAS", func() bool { _, acks, _ := l.uas.counts(); return acks == 1 })
	pdp1.mu.Lock()
	last := pdp1.last
	pdp1.mu.Unlock()
	// POL1 withdraws the call's policy (say, the clearinghouse revoked it).
	err := pdp1.unsolicited(last, cops.KindLDP.Context(), decision{
		Command: cops.CommandRemove, Session: cops.Session{CallID: last.Session.CallID, Result: 403, Reason: "credit exhausted"}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "BYE at UAS", func() bool { _, _, byes := l.uas.counts(); return byes >= 1 })
	waitFor(t, "BYE at UAC", func() bool { _, _, byes := l.uac.counts(); return byes >= 1 })
	l.settled(pdp1, pdp2) // SIP2 released on the BYE SIP1 sent through it
}

func TestCalleeRejectsAfterRingingReleasesGates(t *testing.T) {
	pdp1, pdp2 := newScriptedPDP(t, nil), newScriptedPDP(t, nil)
	l := startLab(t, pdp1, pdp2, time.Second)
	l.uas.setAnswer(func(d *sipgo.DialogServerSession) {
		body := sdpBody(netip.MustParseAddr(d.InviteRequest.Recipient.Host), 30000, "0")
		d.Respond(180, "Ringing", body, sdpType)
		// Busy once both proxies asked for their gates on the 180.
		asked := func(p *scriptedPDP) bool {
			return slices.ContainsFunc(p.log(), func(r string) bool { return strings.HasPrefix(r, "REQ LDP") })
		}
		wait.Until(wait.Timeout, func() bool { return asked(pdp1) && asked(pdp2) })
		d.Respond(486, "Busy Here", nil)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := l.invite(ctx, sdpBody(l.uacAddr.Addr(), 20000, "0"))
	if res.final == nil || res.final.StatusCode != 486 {
		t.Fatalf("UAC got %v, want 486", res)
	}
	l.settled(pdp1, pdp2)
	// The gates LDP installed are released again, then the handle goes.
	for i, p := range []*scriptedPDP{pdp1, pdp2} {
		got := p.log()
		if len(got) != 4 || !strings.HasPrefix(got[1], "REQ LDP") || !strings.HasPrefix(got[2], "REQ noLDP") || got[3] != "DRQ" {
			t.Errorf("POL%d saw %q, want AAA, LDP, noLDP, DRQ", i+1, got)
		}
	}
}
