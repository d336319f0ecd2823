package pdp

import (
	"fmt"
	"time"

	"github.com/qoslab/qoslab/protocol/cops"
)

// Action is an output of Machine.Step. The driver performs the actions in
// the order given: in particular a SpoolUsage must be durable before the
// actions after it are performed.
type Action interface{ isAction() }

// SendAuthRequest asks the clearinghouse (or, in no-clearinghouse mode, the
// local authoriser) to authorise a call (setup 3 / 8). The answer comes
// back as AuthAnswered or AuthFailed with the same Key.
type SendAuthRequest struct {
	Key     CallKey
	Label   Label
	Session cops.Session // Session.Token is the upstream token, if any
}

// SendDecision sends a DEC to the proxy on the call's handle: Install (with
// the OSP token after an AAA) or Remove (with Reason).
type SendDecision struct {
	Key     CallKey
	For     cops.Kind // the REQ this DEC answers
	CallID  string
	Label   Label
	Install bool
	Token   []byte
	// Status is the result code for the proxy: the clearinghouse's OSP
	// status after an AAA, 503 when a needed server is unreachable (the
	// proxy answers 503), 400 for a request that makes no sense.
	Status int
	Reason string
}

// SendGateSet sends a PCMM Gate-Set to the router. GateID is zero for a new
// gate, and the existing id when the gate is replaced or re-installed after
// a router restart (the router then installs it under that id).
type SendGateSet struct {
	TransID uint16
	CallID  string
	Label   Label
	GateID  uint32
	Gate    Gate
}

// SendGateDelete sends a PCMM Gate-Delete to the router.
type SendGateDelete struct {
	TransID uint16
	CallID  string
	Label   Label
	GateID  uint32
	Gate    Gate // what the gate was (zero for a gate no call owns)
}

// SendGateInfo asks the router for a gate's counters so far (PCMM
// Gate-Info); not a docs/FLOW.md step.
type SendGateInfo struct {
	TransID uint16
	CallID  string
	GateID  uint32
}

// SpoolUsage writes a usage record to the durable spool. It always comes
// before the DEC that ends the call.
type SpoolUsage struct {
	Record UsageRecord
}

// SendUsage delivers a spooled record (an OSP UsageIndication, teardown 8 /
// 17, or a local usage-store insert) after Delay. The outcome comes back as
// UsageConfirmed or UsageFailed.
type SendUsage struct {
	Record UsageRecord
	Label  Label
	Delay  time.Duration
}

// Unspool removes a confirmed record from the spool.
type Unspool struct {
	RecordID string
}

// RecordGate notes durably that the router holds gate GateID (for CallID,
// empty for a gate no call owns), so that a restarted policy server can
// delete it (GatesLoaded).
type RecordGate struct {
	GateID uint32
	CallID string
}

// ForgetGate drops a gate from that record: the router deleted it or does
// not have it.
type ForgetGate struct {
	GateID uint32
}

// Warn reports something the operator should know that needs no action
// (an answer for an unknown transaction, a gate lost with the router).
type Warn struct {
	CallID string
	Msg    string
}

func (SendAuthRequest) isAction() {}
func (SendDecision) isAction()    {}
func (SendGateSet) isAction()     {}
func (SendGateDelete) isAction()  {}
func (SpoolUsage) isAction()      {}
func (SendUsage) isAction()       {}
func (Unspool) isAction()         {}
func (Warn) isAction()            {}
func (RecordGate) isAction()      {}
func (ForgetGate) isAction()      {}
func (SendGateInfo) isAction()    {}

// The String methods render actions as one trace line each; the tests
// compare these traces with docs/FLOW.md.

// String renders the action as one trace line.
func (a SendAuthRequest) String() string {
	return fmt.Sprintf("%s AuthorizationRequest call=%s token=%t", a.Label, a.Session.CallID, len(a.Session.Token) > 0)
}

// String renders the action as one trace line.
func (a SendDecision) String() string {
	if a.Install {
		return fmt.Sprintf("%s DEC Install %s call=%s token=%t", a.Label, a.For, a.CallID, len(a.Token) > 0)
	}
	return fmt.Sprintf("%s DEC Remove %s call=%s status=%d reason=%q", a.Label, a.For, a.CallID, a.Status, a.Reason)
}

// String renders the action as one trace line.
func (a SendGateSet) String() string {
	return fmt.Sprintf("%s Gate-Set txn=%d call=%s gate=%d flow=%s dscp=%d", a.Label, a.TransID, a.CallID, a.GateID, a.Gate.Classifier, a.Gate.DSCP)
}

// String renders the action as one trace line.
func (a SendGateDelete) String() string {
	return fmt.Sprintf("%s Gate-Delete txn=%d call=%s gate=%d", a.Label, a.TransID, a.CallID, a.GateID)
}

// String renders the action as one trace line.
func (a SpoolUsage) String() string {
	r := a.Record
	return fmt.Sprintf("spool %s duration=%s packets=%d bytes=%d lost=%t reason=%q", r.ID, r.Duration, r.Packets, r.Bytes, r.CountersLost, r.Reason)
}

// String renders the action as one trace line.
func (a SendUsage) String() string {
	return fmt.Sprintf("%s UsageIndication %s delay=%s", a.Label, a.Record.ID, a.Delay)
}

// String renders the action as one trace line.
func (a Unspool) String() string { return "unspool " + a.RecordID }

// String renders the action as one trace line.
func (a Warn) String() string { return fmt.Sprintf("warn call=%s %s", a.CallID, a.Msg) }

// String renders the action as one trace line.
func (a RecordGate) String() string { return fmt.Sprintf("record gate %d call=%s", a.GateID, a.CallID) }

// String renders the action as one trace line.
func (a ForgetGate) String() string { return fmt.Sprintf("forget gate %d", a.GateID) }

// String renders the action as one trace line.
func (a SendGateInfo) String() string {
	return fmt.Sprintf("Gate-Info txn=%d call=%s gate=%d", a.TransID, a.CallID, a.GateID)
}
