package router

import (
	"errors"
	"testing"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes/nodestest"
	"github.com/qoslab/qoslab/protocol/cops"
)

// The gate messages a router logs, checked against package flow: for each
// side, a call's Gate-Set and Gate-Delete (acknowledged, or refused: an
// error reply stands at its Ack's step) in every teardown variant.
func TestLoggedStepsAgainstFlow(t *testing.T) {
	cases := []struct {
		name    string
		side    flow.Side
		pol     string
		variant flow.Variant
		refuse  bool
	}{
		{"R1", flow.Originating, "pol1", 0, false},
		{"R2", flow.Terminating, "pol2", 0, false},
		{"R1, callee hangs up", flow.Originating, "pol1", flow.CalleeHangsUp, false},
		{"R2, callee hangs up", flow.Terminating, "pol2", flow.CalleeHangsUp, false},
		{"R1 refuses", flow.Originating, "pol1", 0, true},
		{"R2 refuses", flow.Terminating, "pol2", 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var log nodestest.Log
			tbl := newMemTable()
			h := copsHandler(newPEP(tbl, (&fakeClock{}).now), log.Logger(), c.side, c.pol)
			set := gateSetCmd(1)
			set.Opaque = []byte("call-1\x00\x00")
			if c.refuse {
				tbl.fail = errors.New("netlink: no buffer space")
			}
			ack := h(t.Context(), set)
			del := &cops.PCMM{TransactionID: 2, Command: cops.GateDelete, HasGateID: true, GateID: ack.GateID}
			if c.refuse {
				// No such gate: Gate-Delete-Err. The call is named in
				// Opaque Data, as it is not the router's to remember.
				del.GateID, del.Opaque = 99, set.Opaque
			}
			h(t.Context(), del)
			msgs := log.Messages("call-1")
			if len(msgs) != 4 {
				t.Fatalf("logged %+v, want 4 messages of call-1", msgs)
			}
			nodestest.CheckSteps(t, nodestest.Call{
				Me: c.side.Router(), Variant: c.variant, Phases: []flow.Phase{flow.Setup, flow.Teardown},
			}, msgs)
		})
	}
}
