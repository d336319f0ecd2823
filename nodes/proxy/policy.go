package proxy

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"
)

// The proxy is a COPS PEP. It needs only a few things from a PEP
// connection, declared here so that the proxy does not depend on the shape
// of protocol/cops (the adapter in copspep.go maps one onto the other) and
// so that tests can run it against any PDP.

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
}

// Decision is the PDP's answer to a REQ.
type Decision struct {
	Install bool   // DEC Install (true) or DEC Remove (false)
	Token   string // OSP token granted with an AAA Install
	Reason  string // why a Remove refused
}

// PolicyClient is one live COPS connection to the PDP.
type PolicyClient interface {
	// Request sends a REQ of the given kind on handle and waits for its
	// DEC. It returns ctx.Err() when ctx ends first and another error when
	// the connection fails.
	Request(ctx context.Context, handle uint32, kind ReqKind, s Session) (Decision, error)
	// Delete sends a DRQ for handle.
	Delete(ctx context.Context, handle uint32, reason string) error
	// Closed is closed when the connection is gone.
	Closed() <-chan struct{}
	// Close ends the connection.
	Close() error
}

// Dialer opens a connection to the PDP.
type Dialer func(ctx context.Context) (PolicyClient, error)

// errNoPDP says no connection to the PDP could be had in time.
var errNoPDP = errors.New("proxy: no connection to the policy server")

// policyLink keeps one connection to the PDP up: it dials, waits for the
// connection to close, tells the proxy, and dials again. Calls that ask for
// a client while it is down wait until one is up or their context ends.
type policyLink struct {
	dial   Dialer
	onLost func(PolicyClient) // the proxy fails every call that used that client

	mu    sync.Mutex
	cur   PolicyClient
	ready chan struct{} // closed when cur is set; replaced when it is lost
}

func newPolicyLink(dial Dialer, onLost func(PolicyClient)) *policyLink {
	return &policyLink{dial: dial, onLost: onLost, ready: make(chan struct{})}
}

// client returns the live connection, waiting for one until ctx ends.
func (l *policyLink) client(ctx context.Context) (PolicyClient, error) {
	for {
		l.mu.Lock()
		cur, ready := l.cur, l.ready
		l.mu.Unlock()
		if cur != nil {
			return cur, nil
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, errNoPDP
		}
	}
}

// run dials and redials until ctx ends. Backoff doubles from 50 ms to 2 s:
// a restarted PDP is found again quickly without hammering a dead one.
func (l *policyLink) run(ctx context.Context, logf func(msg string, args ...any)) {
	const minBackoff, maxBackoff = 50 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	for ctx.Err() == nil {
		c, err := l.dial(ctx)
		if err != nil {
			logf("policy server dial failed", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		l.mu.Lock()
		l.cur = c
		close(l.ready)
		l.mu.Unlock()
		logf("policy server connected")

		select {
		case <-c.Closed():
			logf("policy server connection lost")
		case <-ctx.Done():
		}
		l.mu.Lock()
		l.cur = nil
		l.ready = make(chan struct{})
		l.mu.Unlock()
		c.Close()
		if ctx.Err() == nil {
			l.onLost(c)
		}
	}
}
