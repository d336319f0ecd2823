// Package flow is the contract the lab reproduces, as data: the steps of
// the patent's FIG. 5 (setup) and FIG. 6 (teardown), who sends each to
// whom, the orders a capture must keep, and the variants. docs/FLOW.md is
// generated from it (go generate ./flow) and a test fails when the two
// disagree. Nodes ask it for the step of each message they log (Lookup);
// the trace verifier checks captures against it. Step numbers are the
// patent's own.
package flow

//go:generate go run ./internal/mkdoc -o ../docs/FLOW.md

import (
	"fmt"
	"strings"
)

// Phase names one of the patent's two sequences.
type Phase string

const (
	Setup    Phase = "setup"    // FIG. 5
	Teardown Phase = "teardown" // FIG. 6
)

// The roles of docs/FLOW.md. The topology maps them to node names
// (default: uac, sip1, pol1, r1, uas, sip2, pol2, r2, ch).
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

// Side is which end of a call a node serves: UAC, SIP1, POL1 and R1 the
// caller's (originating), UAS, SIP2, POL2 and R2 the callee's
// (terminating). The clearinghouse serves both. Its values are the ones
// the COPS session encoding carries (protocol/cops, tag 2).
type Side uint8

// Sides of a call.
const (
	SideUnknown Side = iota
	Originating
	Terminating
)

// String names the side for logs: "originating", "terminating".
func (s Side) String() string {
	switch s {
	case Originating:
		return "originating"
	case Terminating:
		return "terminating"
	case SideUnknown:
		return "unknown"
	}
	return fmt.Sprintf("side(%d)", uint8(s))
}

// roles lists each side's roles: UA, proxy, policy server, router.
var roles = map[Side][4]string{
	Originating: {UAC, SIP1, POL1, R1},
	Terminating: {UAS, SIP2, POL2, R2},
}

// UA is the side's user agent (UAC, UAS); "" for SideUnknown.
func (s Side) UA() string { return roles[s][0] }

// Proxy is the side's SIP proxy (SIP1, SIP2).
func (s Side) Proxy() string { return roles[s][1] }

// PolicyServer is the side's policy server (POL1, POL2).
func (s Side) PolicyServer() string { return roles[s][2] }

// Router is the side's edge router (R1, R2).
func (s Side) Router() string { return roles[s][3] }

// SideOf returns the side a role serves (SideUnknown for CH and unknown
// roles).
func SideOf(role string) Side {
	for s, rs := range roles {
		for _, r := range rs {
			if r == role {
				return s
			}
		}
	}
	return SideUnknown
}

// Kind says which message a step is, as the verifier classifies it.
type Kind string

// The kinds of docs/FLOW.md's messages. The first word is the protocol.
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

// Kinds lists every kind, in the order of the constants above.
var Kinds = []Kind{
	SIPInvite, SIPRinging, SIPOK, SIPAck, SIPBye,
	COPSReqAAA, COPSReqLDP, COPSReqNoLDP, COPSDecInstall, COPSDecRemove,
	GateSet, GateSetAck, GateDelete, GateDeleteAck,
	OSPAuthReq, OSPAuthResp, OSPUsageInd, OSPUsageConf, RTPMedia,
}

// Proto is the protocol of a kind: "SIP", "COPS", "OSP" or "RTP".
func (k Kind) Proto() string {
	p, _, _ := strings.Cut(string(k), " ")
	return p
}

// What is the kind without its protocol, as the node logs name messages:
// "DEC Gate-Set", "REQ AAA", "AuthorizationRequest", "INVITE".
func (k Kind) What() string {
	p, w, ok := strings.Cut(string(k), " ")
	if !ok {
		return p
	}
	return w
}

// decision tells whether k is a COPS decision to the proxy (Install or
// Remove): which one a call gets is the policy server's answer, the step
// is the same (see Msg.Re).
func (k Kind) decision() bool { return k == COPSDecInstall || k == COPSDecRemove }

// Step is one row of docs/FLOW.md.
type Step struct {
	Phase Phase
	N     int
	Kind  Kind
	From  string
	To    string
	// Answers is the step this message answers (a DEC its REQ, a
	// Gate-Set-Ack its Gate-Set, an OSP response its request, a SIP
	// response the request of its transaction); 0 for a request.
	Answers int
	// Note is what docs/FLOW.md says about the message beyond its kind.
	Note string
}

// String renders "setup step 6 (SIP INVITE SIP1->SIP2)".
func (s Step) String() string {
	return fmt.Sprintf("%s step %d (%s %s->%s)", s.Phase, s.N, s.Kind, s.From, s.To)
}
