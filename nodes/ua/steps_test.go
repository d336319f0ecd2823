package ua

import (
	"testing"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/nodes/nodestest"
)

// The messages both UAs log for a whole call, checked against package
// flow, in the variants that change what a UA does: the callee rings or
// not, the caller or the callee hangs up. Here the UAs call each other
// directly: each one's peer stands where its proxy (SIP1, SIP2) would.
func TestLoggedStepsAgainstFlow(t *testing.T) {
	cases := []struct {
		name    string
		req     CallRequest
		variant flow.Variant
	}{
		{"caller hangs up", CallRequest{Talk: "200ms", Ring: "50ms"}, 0},
		{"callee hangs up", CallRequest{Talk: "200ms", Ring: "50ms", Hangup: "uas"}, flow.CalleeHangsUp},
		{"no 180", CallRequest{Talk: "200ms", Ring: "0s"}, flow.No180},
		{"no 180, callee hangs up", CallRequest{Talk: "200ms", Ring: "0s", Hangup: "uas"}, flow.No180 | flow.CalleeHangsUp},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, nil)
			res := mustCall(t, l.uac, c.req)
			if res.Outcome != OutcomeAnswered {
				t.Fatalf("outcome %+v", res)
			}
			for _, ua := range []struct {
				side flow.Side
				log  *nodestest.Log
			}{{flow.Originating, l.uacLog}, {flow.Terminating, l.uasLog}} {
				other := flow.Terminating
				if ua.side == flow.Terminating {
					other = flow.Originating
				}
				roleOf := func(m nodes.Message) string {
					if m.Proto == "rtp" {
						return other.UA()
					}
					return ua.side.Proxy()
				}
				nodestest.WaitSteps(t, nodestest.Call{
					Me: ua.side.UA(), Variant: c.variant, Phases: []flow.Phase{flow.Setup, flow.Teardown}, RoleOf: roleOf,
				}, func() []nodes.Message { return ua.log.Messages(res.CallID) })
			}
		})
	}
}
