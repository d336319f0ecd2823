package proxy

import (
	"context"
	"errors"

	"github.com/qoslab/qoslab/protocol/cops"
)

// The proxy is a COPS PEP. It needs only a few things from a PEP, declared
// here so that the call logic does not depend on the COPS connection
// layer: copspep.go adapts a copsconn client to it. What it asks with is
// the session of the codec (cops.Session, the ClientSI of its REQs). When the PEP's
// connection is lost (every handle on it is gone), its owner calls
// Proxy.PolicyLost; a PDP-initiated decision goes to Proxy.Unsolicited.

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
	Request(ctx context.Context, handle uint32, kind cops.Kind, s cops.Session) (Decision, error)
	// Delete sends a DRQ for handle. The PEP forgets the handle even when
	// the DRQ cannot be sent.
	Delete(handle uint32) error
}
