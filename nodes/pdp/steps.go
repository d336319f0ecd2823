package pdp

import "github.com/qoslab/qoslab/flow"

// Steps are the FLOW.md step numbers of the messages one policy server
// sends and receives for a call. They depend on the side: POL1 is the
// originating side, POL2 the terminating side.
type Steps struct {
	// Setup (FIG. 5).
	ReqAAA, AuthReq, AuthResp, DecAAA   int
	ReqLDP, GateSet, GateSetAck, DecLDP int
	// Teardown (FIG. 6).
	ReqNoLDP, GateDelete, GateDeleteAck, DecNoLDP int
	UsageInd, UsageConf                           int
}

// StepsFor returns the step numbers of a side (zero for SideUnknown).
func StepsFor(s Side) Steps {
	switch s {
	case Originating:
		return Steps{
			ReqAAA: 2, AuthReq: 3, AuthResp: 4, DecAAA: 5,
			ReqLDP: 18, GateSet: 19, GateSetAck: 20, DecLDP: 21,
			ReqNoLDP: 4, GateDelete: 5, GateDeleteAck: 6, DecNoLDP: 7,
			UsageInd: 8, UsageConf: 9,
		}
	case Terminating:
		return Steps{
			ReqAAA: 7, AuthReq: 8, AuthResp: 9, DecAAA: 10,
			ReqLDP: 13, GateSet: 14, GateSetAck: 15, DecLDP: 16,
			ReqNoLDP: 13, GateDelete: 14, GateDeleteAck: 15, DecNoLDP: 16,
			UsageInd: 17, UsageConf: 18,
		}
	}
	return Steps{}
}

// Label is where a message sits in FLOW.md: phase and step (zero Step for
// messages outside the patent's sequences, such as a gate re-install).
type Label struct {
	Phase flow.Phase
	Step  int
}

func setupAt(n int) Label    { return Label{flow.Setup, n} }
func teardownAt(n int) Label { return Label{flow.Teardown, n} }
