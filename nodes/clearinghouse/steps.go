package clearinghouse

import (
	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/protocol/osp"
)

// stepOf is the step of an OSP message at the clearinghouse
// (docs/FLOW.md): a request a policy server sends it (dir rx) or the
// answer it sends back (tx). The requester's OSP role names its side:
// source is POL1, destination POL2. Token validation
// (AuthorizationIndication) is no step.
func stepOf(dir string, req osp.Kind, role string) (flow.Step, bool) {
	pol := sideOf(role).PolicyServer()
	if pol == "" {
		return flow.Step{}, false
	}
	ask, answer := flow.Msg{From: pol, To: flow.CH}, flow.Msg{From: flow.CH, To: pol}
	var phase flow.Phase
	switch req {
	case osp.KindAuthorizationRequest:
		phase, ask.Kind, answer.Kind = flow.Setup, flow.OSPAuthReq, flow.OSPAuthResp
	case osp.KindUsageIndication:
		phase, ask.Kind, answer.Kind = flow.Teardown, flow.OSPUsageInd, flow.OSPUsageConf
	default:
		return flow.Step{}, false
	}
	if dir == nodes.Sent {
		return flow.Lookup(phase, 0, answer)
	}
	return flow.Lookup(phase, 0, ask)
}

// sideOf is the side of an OSP role.
func sideOf(role string) flow.Side {
	switch role {
	case osp.RoleSource:
		return flow.Originating
	case osp.RoleDestination:
		return flow.Terminating
	}
	return flow.SideUnknown
}
