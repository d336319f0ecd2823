package proxy

import (
	"context"
	"errors"
	"net/netip"

	"github.com/qoslab/qoslab/protocol/cops"
)

// The proxy is a COPS PEP. It needs only a few things from a PEP, declared
// here so that the call logic does not depend on the shape of
// protocol/cops: copspep.go adapts a cops.PEP to it. When the PEP's
// connection is lost (every handle on it is gone), its owner calls
// Proxy.PolicyLost; a PDP-initiated decision goes to Proxy.Unsolicited.

// Flow is one media 5-tuple of a call (always UDP, RTP from the SDP).
type Flow struct {
	Src netip.AddrPort
	Dst netip.AddrPort
}

// Session is what the proxy tells its PDP with every REQ on a call's
// handle (docs/CONTRACTS.md: ClientSI).
type Session struct {
	CallID string
	// Side is "originating" on the caller's proxy (SIP1) and "terminating"
	// on the callee's (SIP2).
	Side string
	From string // caller's address-of-record
	To   string // callee's address-of-record
	// Token is the OSP token: on the terminating side's REQ AAA, the one
	// that arrived in P-OSP-Auth-Token.
	Token string
	// Media holds the 5-tuples of offer+answer (REQ LDP and noLDP).
	Media         []Flow
	Codec         string // "PCMU" or "PCMA"
	BandwidthKbps int    // per direction, with IP/UDP/RTP overhead
	// Alerting: this REQ LDP answers a 18x, the callee is ringing (the
	// policy server records the alert time for the usage record).
	Alerting bool
}

// Decision is the PDP's answer to a REQ.
type Decision struct {
	Install bool   // DEC Install (true) or DEC Remove (false)
	Token   string // OSP token granted with an AAA Install
	Reason  string // why a Remove refused
	// Status is the PDP's result code for a Remove: 503 when the policy
	// server could not decide (clearinghouse or router unreachable), which
	// the caller must hear as 503, not as a refusal. 0 when not given.
	Status int
}

// errNoPDP marks a Request that found no connection to the PDP before its
// context ended (the adapter wraps it together with the context's error).
var errNoPDP = errors.New("proxy: no connection to the policy server")

// Policy is the proxy's COPS PEP as the proxy uses it: one handle per
// call, REQs on it answered by DECs, and a DRQ when the call is gone.
type Policy interface {
	// Request sends a REQ of the given kind on handle and waits for its
	// DEC. It returns an error wrapping context.DeadlineExceeded when ctx
	// ends first, and another error when the PDP cannot be reached or the
	// connection is lost.
	Request(ctx context.Context, handle uint32, kind cops.Kind, s Session) (Decision, error)
	// Delete sends a DRQ for handle. The PEP forgets the handle even when
	// the DRQ cannot be sent.
	Delete(handle uint32) error
}
