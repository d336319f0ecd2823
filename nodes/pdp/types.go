package pdp

import (
	"fmt"
	"time"

	"github.com/qoslab/qoslab/flow"
)

// DSCPExpedited is the DiffServ code point the gates mark with (EF, RFC 3246).
const DSCPExpedited uint8 = 46

// Gate is what a Gate-Set asks the router to install: mark the packets of
// Classifier with DSCP.
type Gate struct {
	Classifier flow.Tuple
	DSCP       uint8
	Bandwidth  uint64 // bits per second, 0 = unspecified
}

// Counters are the packets and bytes a router marked for one gate.
type Counters struct {
	Packets uint64
	Bytes   uint64
}

// UsageRecord is one call's usage as this policy server saw it: the
// payload of an OSP UsageIndication and of a row in the usage store.
type UsageRecord struct {
	// ID is stable across retries and restarts, so the receiver can drop
	// duplicates: node/side/call-id/start.
	ID            string
	Node          string
	CallID        string
	Side          flow.Side
	Caller        string
	Callee        string
	TransactionID string // the clearinghouse's authorisation transaction
	Class         string // DiffServ class granted
	Bandwidth     uint64 // bits per second granted
	Start         time.Time
	Alert         time.Time // zero if the callee was never alerted (no 18x)
	Connect       time.Time // zero if the gate was never installed
	End           time.Time
	Duration      time.Duration // End - Connect, 0 if never connected
	Counters
	// CountersLost is true when the router restarted during the call, so
	// the figures cover only the time since the last re-install.
	CountersLost bool
	Reason       string // why the call ended ("released", "proxy disconnected", ...)
	// ReleasedBy is the side whose BYE ended the call (Originating: the
	// caller, reported as OSP ReleaseSource "source"); zero when no BYE
	// did (a lost proxy, a DRQ) or the proxy did not say (flow.SideUnknown).
	ReleasedBy flow.Side
}

// CallKey names a call: the proxy connection and the COPS client handle on
// it (one handle per call and side).
type CallKey struct {
	Conn   uint64
	Handle uint32
}

// String names the call key as conn/handle for logs.
func (k CallKey) String() string { return fmt.Sprintf("%d/%d", k.Conn, k.Handle) }

// PostDialDelay is the time from the call's arrival at this policy server
// to the callee's first answer: its alerting, or its answer when it
// answered without ringing (RFC 6076 section 4.1, Session Request Delay);
// 0 when neither happened.
func (r UsageRecord) PostDialDelay() time.Duration {
	end := r.Alert
	if end.IsZero() {
		end = r.Connect
	}
	if end.IsZero() || end.Before(r.Start) {
		return 0
	}
	return end.Sub(r.Start)
}
