package pdp

import (
	"strings"
	"testing"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/nodes/nodestest"
	"github.com/qoslab/qoslab/protocol/cops"
)

// The messages the policy server logs for a whole call over real sockets,
// checked against package flow: on either side, with the clearinghouse and
// without it (no OSP on the wire, none logged), whoever hangs up (the
// policy server cannot tell; its steps are the same).
func TestLoggedStepsAgainstFlow(t *testing.T) {
	cases := []struct {
		name    string
		side    flow.Side
		me      flow.Side
		withCH  bool
		variant flow.Variant
	}{
		{"POL1", flow.Originating, flow.Originating, true, 0},
		{"POL2", flow.Terminating, flow.Terminating, true, 0},
		{"POL2, callee hangs up", flow.Terminating, flow.Terminating, true, flow.CalleeHangsUp},
		{"POL1 without clearinghouse", flow.Originating, flow.Originating, false, flow.NoClearinghouse},
		{"POL2 without clearinghouse", flow.Terminating, flow.Terminating, false, flow.NoClearinghouse},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBench(t, c.withCH)
			if c.withCH {
				newCH(t, b.chPort).up()
			}
			startRouter(t, b.rtrPort)
			b.start(t)
			pep := dialPEP(t, b.copsPort)
			eventually(t, "router connection", func() bool { return strings.Contains(b.logs.String(), "router connected") })
			s := callSession("call-1", c.side)
			if c.side == flow.Terminating {
				s.Token = []byte("token-from-pol1")
			}
			for _, k := range []cops.Kind{cops.KindAAA, cops.KindLDP, cops.KindNoLDP} {
				pep.request(7, k, s)
			}
			eventually(t, "empty spool", func() bool { return b.spoolLen(t) == 0 })
			// The bench names every peer by its loopback address: tell
			// them apart by what they exchange.
			roleOf := func(m nodes.Message) string {
				switch k := nodestest.KindOf(m); {
				case k.Proto() == "OSP":
					return flow.CH
				case k == flow.GateSet || k == flow.GateSetAck || k == flow.GateDelete || k == flow.GateDeleteAck:
					return c.me.Router()
				}
				return c.me.Proxy()
			}
			nodestest.WaitSteps(t, nodestest.Call{
				Me: c.me.PolicyServer(), Variant: c.variant, Phases: []flow.Phase{flow.Setup, flow.Teardown}, RoleOf: roleOf,
			}, func() []nodes.Message { return b.logs.Messages("call-1") })
		})
	}
}

// Labels for the machine's tests, as docs/FLOW.md numbers them.
func setupAt(n int) Label    { return Label{flow.Setup, n} }
func teardownAt(n int) Label { return Label{flow.Teardown, n} }

// stepsOf gives the machine's tests the steps a side's policy server
// sends in the setup, from package flow.
func stepsOf(side flow.Side) struct{ AuthReq, DecAAA, GateSet, DecLDP int } {
	return struct{ AuthReq, DecAAA, GateSet, DecLDP int }{
		sent(side, flow.InSetup(flow.OSPAuthReq)).Step,
		sent(side, flow.InSetup(flow.COPSDecInstall).Answers(flow.COPSReqAAA)).Step,
		sent(side, flow.InSetup(flow.GateSet)).Step,
		sent(side, flow.InSetup(flow.COPSDecInstall).Answers(flow.COPSReqLDP)).Step,
	}
}
