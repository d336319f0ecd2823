package clearinghouse

import (
	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/osp"
)

// stepsFor returns the FLOW.md phase and the step numbers of a request and
// its answer, from the requester's side: the originating policy server
// (POL1) is setup 3/4 and teardown 8/9, the terminating one (POL2) setup
// 8/9 and teardown 17/18. Token validation (AuthorizationIndication) is not
// a FLOW.md step.
func stepsFor(kind osp.Kind, side string) (phase flow.Phase, rx, tx int) {
	dest := side == osp.RoleDestination
	switch kind {
	case osp.KindAuthorizationRequest:
		if dest {
			return flow.Setup, 8, 9
		}
		return flow.Setup, 3, 4
	case osp.KindUsageIndication:
		if dest {
			return flow.Teardown, 17, 18
		}
		return flow.Teardown, 8, 9
	}
	return "", 0, 0
}

// answerKind is the component that answers a request kind.
func answerKind(k osp.Kind) osp.Kind {
	switch k {
	case osp.KindAuthorizationRequest:
		return osp.KindAuthorizationResponse
	case osp.KindAuthorizationIndication:
		return osp.KindAuthorizationConfirmation
	case osp.KindUsageIndication:
		return osp.KindUsageConfirmation
	}
	return osp.KindUnknown
}
