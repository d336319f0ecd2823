package proxy

import (
	"context"
	"testing"
	"time"

	"github.com/emiago/sipgo"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes/nodestest"
)

// The messages both proxies log for a whole call, checked against package
// flow, in the variants that change what a proxy sees: the callee rings
// or not, the caller or the callee hangs up.
func TestLoggedStepsAgainstFlow(t *testing.T) {
	cases := []struct {
		name     string
		answer   func(*sipgo.DialogServerSession)
		byCallee bool
		variant  flow.Variant
	}{
		{"caller hangs up", answerRing(20 * time.Millisecond), false, 0},
		{"callee hangs up", answerRing(20 * time.Millisecond), true, flow.CalleeHangsUp},
		{"no 180", answerDirect, false, flow.No180},
		{"no 180, callee hangs up", answerDirect, true, flow.No180 | flow.CalleeHangsUp},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pdp1, pdp2 := newScriptedPDP(t, nil), newScriptedPDP(t, nil)
			l := startLab(t, pdp1, pdp2, time.Second)
			l.uas.setAnswer(c.answer)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res := l.invite(ctx, sdpBody(l.uacAddr.Addr(), 20000, "0"))
			if res.err != nil || res.final == nil || res.final.StatusCode != 200 {
				t.Fatalf("call failed: %v", res)
			}
			if err := res.dialog.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			d := <-l.uas.inDialog
			waitFor(t, "ACK at UAS", func() bool { _, acks, _ := l.uas.counts(); return acks == 1 })
			if c.byCallee {
				if err := d.Bye(ctx); err != nil {
					t.Fatalf("callee BYE: %v", err)
				}
			} else if err := res.dialog.Bye(ctx); err != nil {
				t.Fatalf("caller BYE: %v", err)
			}
			l.settled(pdp1, pdp2)
			call := res.dialog.InviteRequest.CallID().Value()
			for _, p := range []struct {
				me  string
				log *msgRecorder
			}{{flow.SIP1, l.log1}, {flow.SIP2, l.log2}} {
				nodestest.CheckSteps(t, nodestest.Call{
					Me: p.me, Variant: c.variant, Phases: []flow.Phase{flow.Setup, flow.Teardown},
				}, p.log.messages(call))
			}
		})
	}
}
