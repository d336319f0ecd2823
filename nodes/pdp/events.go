package pdp

import (
	"time"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/cops"
)

// Event is an input to Machine.Step. The driver stamps each with the time
// it happened (At), so the machine never reads a clock.
type Event interface{ isEvent() }

// ReqAAA is the proxy's admission request (docs/FLOW.md setup 2 / 7).
type ReqAAA struct {
	Key     CallKey
	At      time.Time
	Session cops.Session
}

// AuthAnswered is the clearinghouse's AuthorizationResponse (setup 4 / 9),
// or the local authoriser's verdict in no-clearinghouse mode. Status is the
// OSP status code: 2xx authorises.
type AuthAnswered struct {
	Key           CallKey
	At            time.Time
	Status        int
	Reason        string
	Token         []byte
	TransactionID string
	// Class and Bandwidth are what the clearinghouse granted ("" and 0:
	// what the proxy asked for); the gate marks with Class's code point.
	Class     string
	Bandwidth uint64
}

// AuthFailed says the authorisation could not be obtained at all (the
// clearinghouse is unreachable, slow or answered garbage). The machine
// fails closed.
type AuthFailed struct {
	Key CallKey
	At  time.Time
	Err string
}

// ReqLDP asks for the media gate (setup 13 / 18).
type ReqLDP struct {
	Key   CallKey
	At    time.Time
	Media []cops.MediaFlow
	// Alerting: the proxy asked on a 18x, so At is when the callee
	// started ringing (the usage record's alert time).
	Alerting bool
}

// GateSetAcked is the router's Gate-Set-Ack (setup 15 / 20).
type GateSetAcked struct {
	TransID uint16
	At      time.Time
	GateID  uint32
}

// GateSetFailed is the router's Gate-Set-Err, or the driver giving up on a
// Gate-Set the router never answered. For a Gate-Cmd-Err, which names only
// the transaction, it also fails a Gate-Delete with that transaction id.
type GateSetFailed struct {
	TransID uint16
	At      time.Time
	Reason  string
	// NoAnswer is set when the router did not answer (timeout, send
	// failure): it may have executed the command all the same.
	NoAnswer bool
}

// ReqNoLDP asks for the release of the call's resources (teardown 4 / 13).
type ReqNoLDP struct {
	Key CallKey
	At  time.Time
	// ReleasedBy is the side whose BYE released the call (the proxy says,
	// session TLV 11); zero when it does not know.
	ReleasedBy flow.Side
}

// GateDeleteAcked is the router's Gate-Delete-Ack (teardown 6 / 15) with
// the gate's final counters.
type GateDeleteAcked struct {
	TransID  uint16
	At       time.Time
	Counters Counters
}

// GateDeleteFailed is the router's Gate-Delete-Err or no answer at all:
// the call is released anyway, without counters.
type GateDeleteFailed struct {
	TransID uint16
	At      time.Time
	Reason  string
	// NoAnswer: the router did not answer, so it may still hold the gate;
	// the machine deletes it again when the router is back.
	NoAnswer bool
}

// GatesLoaded hands the machine, at start, the gates a previous run
// recorded as installed and never saw deleted (RecordGate, ForgetGate). No
// call owns them now; the machine deletes them once the router is
// connected, so a policy server restart leaves no media marked.
type GatesLoaded struct {
	IDs []uint32
}

// GateInfoAcked is the router's Gate-Info-Ack with the gate's counters so
// far.
type GateInfoAcked struct {
	TransID  uint16
	At       time.Time
	Counters Counters
}

// GateInfoFailed is the router's Gate-Info-Err, or no answer.
type GateInfoFailed struct {
	TransID uint16
	At      time.Time
	Reason  string
}

// Deleted is the proxy's DRQ: the handle is gone and no DEC is owed.
type Deleted struct {
	Key    CallKey
	At     time.Time
	Reason string
}

// ProxyLost says the proxy's COPS connection Conn closed: every handle on it
// is gone (RFC 2748 section 2.5: the PDP drops the PEP's state).
type ProxyLost struct {
	Conn uint64
	At   time.Time
}

// RouterUp says the router connection is open (handshake done). After a
// RouterDown it means the router may have restarted from a clean table, so
// the machine re-installs the gates of the calls in progress.
type RouterUp struct{ At time.Time }

// RouterDown says the router connection closed.
type RouterDown struct{ At time.Time }

// UsageConfirmed is the UsageConfirmation for a record (teardown 9 / 18),
// or its insertion into the local usage store.
type UsageConfirmed struct {
	RecordID string
	At       time.Time
}

// UsageFailed says one delivery attempt of a usage record failed.
type UsageFailed struct {
	RecordID string
	At       time.Time
	Err      string
}

// Tick is the passage of time, fed by the driver about once a second.
type Tick struct{ At time.Time }

// SpoolLoaded hands the machine the records found in the spool at start:
// records a previous run spooled but never got confirmed.
type SpoolLoaded struct {
	Records []UsageRecord
}

func (ReqAAA) isEvent()           {}
func (AuthAnswered) isEvent()     {}
func (AuthFailed) isEvent()       {}
func (ReqLDP) isEvent()           {}
func (GateSetAcked) isEvent()     {}
func (GateSetFailed) isEvent()    {}
func (ReqNoLDP) isEvent()         {}
func (GateDeleteAcked) isEvent()  {}
func (GateDeleteFailed) isEvent() {}
func (Deleted) isEvent()          {}
func (ProxyLost) isEvent()        {}
func (RouterUp) isEvent()         {}
func (RouterDown) isEvent()       {}
func (UsageConfirmed) isEvent()   {}
func (UsageFailed) isEvent()      {}
func (SpoolLoaded) isEvent()      {}
func (GatesLoaded) isEvent()      {}
func (Tick) isEvent()             {}
func (GateInfoAcked) isEvent()    {}
func (GateInfoFailed) isEvent()   {}
