package proxy

import (
	"github.com/emiago/sipgo/sip"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/protocol/cops"
)

// noStep names a message of no table: DRQ, 100 Trying, CANCEL, an error.
var noStep flow.Ref

// responseRef names a response by the request it answers: a 180 or 200
// to an INVITE (setup), a 200 to a BYE (teardown); others are no step.
func responseRef(method sip.RequestMethod, status int) flow.Ref {
	switch {
	case method == sip.INVITE && status == 180:
		return flow.InSetup(flow.SIPRinging)
	case method == sip.INVITE && status == 200:
		return flow.InSetup(flow.SIPOK)
	case method == sip.BYE && status == 200:
		return flow.InTeardown(flow.SIPOK)
	}
	return noStep
}

// reqRef names the REQ of a kind: AAA and LDP in the setup, noLDP in the
// teardown.
func reqRef(k cops.Kind) flow.Ref {
	switch k {
	case cops.KindAAA:
		return flow.InSetup(flow.COPSReqAAA)
	case cops.KindLDP:
		return flow.InSetup(flow.COPSReqLDP)
	case cops.KindNoLDP:
		return flow.InTeardown(flow.COPSReqNoLDP)
	}
	return noStep
}

// decRef names the decision that answers the REQ of a kind.
func decRef(k cops.Kind) flow.Ref {
	r := reqRef(k)
	return flow.Ref{Phase: r.Phase, Kind: flow.COPSDecInstall}.Answers(r.Kind)
}

// stepOf returns the step of a message this proxy (SIP1 or SIP2) sends
// (dir tx) or receives (rx). byCallee selects the numbering of a teardown
// the callee started (flow.CalleeHangsUp).
func stepOf(side flow.Side, dir string, r flow.Ref, byCallee bool) (flow.Step, bool) {
	if byCallee {
		r = r.In(flow.CalleeHangsUp)
	}
	return r.StepAt(side.Proxy(), dir == nodes.Sent)
}
