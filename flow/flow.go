// Package flow is ../shared/FLOW.md as data: the steps of the patent's
// FIG. 5 (setup) and FIG. 6 (teardown), who sends each to whom, and the
// order constraints a capture must satisfy. Nodes use it to label their
// logs; the trace verifier uses it to check captures. Step numbers are the
// patent's own.
package flow

import "fmt"

// Phase names one of the patent's two sequences.
type Phase string

const (
	Setup    Phase = "setup"    // FIG. 5
	Teardown Phase = "teardown" // FIG. 6
)

// Side-specific roles as FLOW.md names them. The topology maps them to
// node names (default: uac, sip1, pol1, r1, uas, sip2, pol2, r2, ch).
const (
	UAC  = "UAC"
	UAS  = "UAS"
	SIP1 = "SIP1"
	SIP2 = "SIP2"
	POL1 = "POL1"
	POL2 = "POL2"
	R1   = "R1"
	R2   = "R2"
	CH   = "CH"
)

// Kind says which message a step is, as the verifier classifies it.
type Kind string

// The kinds of FLOW.md's messages.
const (
	SIPInvite      Kind = "SIP INVITE"
	SIPRinging     Kind = "SIP 180"
	SIPOK          Kind = "SIP 200"
	SIPAck         Kind = "SIP ACK"
	SIPBye         Kind = "SIP BYE"
	COPSReqAAA     Kind = "COPS REQ AAA"
	COPSReqLDP     Kind = "COPS REQ LDP"
	COPSReqNoLDP   Kind = "COPS REQ noLDP"
	COPSDecInstall Kind = "COPS DEC Install"
	COPSDecRemove  Kind = "COPS DEC Remove"
	GateSet        Kind = "COPS DEC Gate-Set"
	GateSetAck     Kind = "COPS RPT Gate-Set-Ack"
	GateDelete     Kind = "COPS DEC Gate-Delete"
	GateDeleteAck  Kind = "COPS RPT Gate-Delete-Ack"
	OSPAuthReq     Kind = "OSP AuthorizationRequest"
	OSPAuthResp    Kind = "OSP AuthorizationResponse"
	OSPUsageInd    Kind = "OSP UsageIndication"
	OSPUsageConf   Kind = "OSP UsageConfirmation"
	RTPMedia       Kind = "RTP"
)

// Step is one row of FLOW.md.
type Step struct {
	Phase Phase
	N     int
	Kind  Kind
	From  string
	To    string
	// OSP is true for the steps that happen inside the policy server when
	// there is no clearinghouse (no message on the wire then).
	OSP bool
}

// String renders "setup step 6 (SIP INVITE SIP1->SIP2)".
func (s Step) String() string {
	return fmt.Sprintf("%s step %d (%s %s->%s)", s.Phase, s.N, s.Kind, s.From, s.To)
}

// SetupSteps is FIG. 5.
var SetupSteps = []Step{
	{Setup, 1, SIPInvite, UAC, SIP1, false},
	{Setup, 2, COPSReqAAA, SIP1, POL1, false},
	{Setup, 3, OSPAuthReq, POL1, CH, true},
	{Setup, 4, OSPAuthResp, CH, POL1, true},
	{Setup, 5, COPSDecInstall, POL1, SIP1, false},
	{Setup, 6, SIPInvite, SIP1, SIP2, false},
	{Setup, 7, COPSReqAAA, SIP2, POL2, false},
	{Setup, 8, OSPAuthReq, POL2, CH, true},
	{Setup, 9, OSPAuthResp, CH, POL2, true},
	{Setup, 10, COPSDecInstall, POL2, SIP2, false},
	{Setup, 11, SIPInvite, SIP2, UAS, false},
	{Setup, 12, SIPRinging, UAS, SIP2, false},
	{Setup, 13, COPSReqLDP, SIP2, POL2, false},
	{Setup, 14, GateSet, POL2, R2, false},
	{Setup, 15, GateSetAck, R2, POL2, false},
	{Setup, 16, COPSDecInstall, POL2, SIP2, false},
	{Setup, 17, SIPRinging, SIP2, SIP1, false},
	{Setup, 18, COPSReqLDP, SIP1, POL1, false},
	{Setup, 19, GateSet, POL1, R1, false},
	{Setup, 20, GateSetAck, R1, POL1, false},
	{Setup, 21, COPSDecInstall, POL1, SIP1, false},
	{Setup, 22, SIPRinging, SIP1, UAC, false},
	{Setup, 23, SIPOK, UAS, SIP2, false},
	{Setup, 24, SIPOK, SIP2, SIP1, false},
	{Setup, 25, SIPOK, SIP1, UAC, false},
	{Setup, 26, SIPAck, UAC, SIP1, false},
	{Setup, 27, SIPAck, SIP1, SIP2, false},
	{Setup, 28, SIPAck, SIP2, UAS, false},
	{Setup, 29, RTPMedia, UAC, UAS, false},
}

// TeardownSteps is FIG. 6 (caller hangs up; when the callee hangs up the
// BYE and its 200 run the other way and the COPS/OSP chains are the same).
var TeardownSteps = []Step{
	{Teardown, 1, SIPBye, UAC, SIP1, false},
	{Teardown, 2, SIPBye, SIP1, SIP2, false},
	{Teardown, 3, SIPBye, SIP2, UAS, false},
	{Teardown, 4, COPSReqNoLDP, SIP1, POL1, false},
	{Teardown, 5, GateDelete, POL1, R1, false},
	{Teardown, 6, GateDeleteAck, R1, POL1, false},
	{Teardown, 7, COPSDecRemove, POL1, SIP1, false},
	{Teardown, 8, OSPUsageInd, POL1, CH, true},
	{Teardown, 9, OSPUsageConf, CH, POL1, true},
	{Teardown, 10, SIPOK, UAS, SIP2, false},
	{Teardown, 11, SIPOK, SIP2, SIP1, false},
	{Teardown, 12, SIPOK, SIP1, UAC, false},
	{Teardown, 13, COPSReqNoLDP, SIP2, POL2, false},
	{Teardown, 14, GateDelete, POL2, R2, false},
	{Teardown, 15, GateDeleteAck, R2, POL2, false},
	{Teardown, 16, COPSDecRemove, POL2, SIP2, false},
	{Teardown, 17, OSPUsageInd, POL2, CH, true},
	{Teardown, 18, OSPUsageConf, CH, POL2, true},
}

// Before is one order constraint: step A is seen before step B.
type Before struct{ A, B int }

// SetupOrder is FLOW.md's order for FIG. 5 (with a 180 before the 200).
var SetupOrder = append(chain(1, 22),
	Before{11, 23}, Before{23, 24}, Before{16, 24}, Before{24, 25},
	Before{21, 25}, Before{22, 25}, Before{25, 26}, Before{26, 27}, Before{27, 28},
)

// TeardownOrder is FLOW.md's order for FIG. 6: three concurrent chains.
var TeardownOrder = concat(
	[]Before{{1, 2}, {2, 3}, {3, 10}, {10, 11}, {11, 12}},
	[]Before{{1, 4}, {4, 5}, {5, 6}, {6, 7}, {7, 8}, {8, 9}},
	[]Before{{2, 13}, {13, 14}, {14, 15}, {15, 16}, {16, 17}, {17, 18}},
)

// StepByN returns the step numbered n in a phase.
func StepByN(p Phase, n int) (Step, bool) {
	steps := SetupSteps
	if p == Teardown {
		steps = TeardownSteps
	}
	for _, s := range steps {
		if s.N == n {
			return s, true
		}
	}
	return Step{}, false
}

func chain(from, to int) []Before {
	var out []Before
	for i := from; i < to; i++ {
		out = append(out, Before{i, i + 1})
	}
	return out
}

func concat(parts ...[]Before) []Before {
	var out []Before
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
