package proxy

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestCallThroughBothProxies(t *testing.T) {
	pdp1, pdp2 := newScriptedPDP(nil), newScriptedPDP(nil)
	l := startLab(t, pdp1.dial, pdp2.dial, time.Second)
	l.uas.setAnswer(answerRing(20 * time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	res := l.invite(ctx, sdpBody(l.uacAddr.Addr(), 20000, "0 8"))
	if res.err != nil || res.final == nil || res.final.StatusCode != 200 {
		t.Fatalf("call failed: %+v", res)
	}
	if !slices.Contains(res.statuses, 180) {
		t.Errorf("UAC saw %v, want a 180 before the 200", res.statuses)
	}
	// The UAS got the token POL2 granted; SIP2's PDP got the token POL1 granted.
	inv := l.uas.invites[0]
	if h := inv.GetHeader(TokenHeader); h == nil || h.Value() != "tok-terminating" {
		t.Errorf("INVITE at UAS carries %v, want token of POL2", h)
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

	media := "media=" + l.uacAddr.Addr().String() + ":20000>" + l.uasAddr.Addr().String() + ":30000," +
		l.uasAddr.Addr().String() + ":30000>" + l.uacAddr.Addr().String() + ":20000"
	want1 := []string{"REQ AAA", "REQ LDP " + media, "REQ noLDP " + media, "DRQ"}
	want2 := []string{"REQ AAA token=tok-originating", "REQ LDP " + media, "REQ noLDP " + media, "DRQ"}
	if got := pdp1.log(); !slices.Equal(got, want1) {
		t.Errorf("POL1 saw\n%q\nwant\n%q", got, want1)
	}
	if got := pdp2.log(); !slices.Equal(got, want2) {
		t.Errorf("POL2 saw\n%q\nwant\n%q", got, want2)
	}
}
