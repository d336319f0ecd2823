package copsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/qoslab/qoslab/protocol/cops"
)

// Role is the COPS role this end of a connection plays (RFC 2748 1.1).
// It decides the handshake and who sends what, whichever end dialled:
// the PEP sends OPN, keep-alives, REQ, RPT and DRQ; the PDP answers OPN
// with CAT, echoes keep-alives and sends DEC and SSQ.
type Role uint8

// Roles.
const (
	// PEP is a policy client: a SIP proxy (session client-type, it dials)
	// or a router (PCMM, it listens).
	PEP Role = iota + 1
	// PDP is a policy server: a policy server on both of its legs (it
	// listens for proxies and dials routers).
	PDP
)

// String names the role.
func (r Role) String() string {
	switch r {
	case PEP:
		return "PEP"
	case PDP:
		return "PDP"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// Config configures one connection, or every connection of a listener or a
// Client. The zero values of the optional fields are usable defaults.
type Config struct {
	// Role and ClientType are required. On a PDP, an OPN for another client
	// type is refused with CC Error 6 (Unsupported client).
	Role       Role
	ClientType cops.ClientType

	// PEPID is what a PEP sends in its OPN (RFC 2748 2.2.11).
	PEPID string
	// OpenInfo is the ClientSI a PEP sends in its OPN; nil sends none,
	// except on PCMM, where the router announces its PacketCable version.
	OpenInfo []byte
	// KATimer is the keep-alive timer a PDP sends in CAT, in seconds; 0
	// disables keep-alives (RFC 2748 2.2.10).
	KATimer uint16

	// OpenTimeout bounds the handshake: dial, OPN, CAT and, on PCMM, the
	// router's synchronising REQ. Default 5s.
	OpenTimeout time.Duration
	// WriteTimeout bounds every single write, so that a peer that stops
	// reading cannot block a sender. Default 2s.
	WriteTimeout time.Duration

	// Keys turns on Message Integrity (RFC 2748 2.2.16) when not empty:
	// the shared HMAC keys by Key ID. A PEP signs with KeyID; a PDP answers
	// with the key the PEP's OPN used. Every message must then be signed
	// with that key and carry the next sequence number, or the connection
	// is closed with CC Error 14 (Authentication failure), 15 when the
	// Integrity object is missing.
	Keys  map[uint32][]byte
	KeyID uint32

	// Admit decides, once the peer's first handshake message (OPN on a
	// PDP, CAT on a PEP) has arrived and passed its Integrity check,
	// whether this peer may talk to us. A non-nil error refuses it with CC:
	// the code of a *Refusal, else Error 14 (Authentication failure). nil
	// admits everyone.
	Admit func(Peer) error

	// OnOpen is called once the handshake is done, before any other
	// message of the connection is handled. OnMessage receives, in
	// arrival order, every message the connection does not handle itself
	// (REQ, DRQ, RPT and SSC on a PDP; DEC that answer no Request on a
	// PEP), decoded and owned by the callee. OnClose is called once when
	// the connection has ended, after every call waiting on it has failed.
	// All three run on the connection's goroutine: they must not wait for
	// the connection itself.
	OnOpen    func(*Conn)
	OnMessage func(*Conn, *cops.Message)
	OnClose   func(*Conn, error)

	// Gates executes, on a PCMM PEP (the router), the gate command of each
	// DEC and returns the reply that the connection sends back in an RPT:
	// TransactionID and Command are filled in when left zero (Command 0
	// means the Ack). Commands are executed one at a time, in order.
	Gates func(ctx context.Context, cmd *cops.PCMM) cops.PCMM

	// Dial opens the TCP connection for Dial and Client; default a
	// net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Log receives connection events; nil discards them.
	Log *slog.Logger
	// Rand returns numbers in [0,1) for handles, sequence numbers and
	// keep-alive and backoff jitter; nil uses math/rand/v2.
	Rand func() float64
}

// Peer is what a connection knows about the other end.
type Peer struct {
	Addr       netip.AddrPort // remote address (zero on a non-IP conn)
	Role       Role           // the peer's role
	ClientType cops.ClientType
	// PEPID is the PEP's identity: the peer's on a PDP, ours on a PEP.
	PEPID string
	// KeyID is the Integrity key the peer signs with, when Signed.
	KeyID  uint32
	Signed bool
}

// Refusal is an Admit error naming the Client-Close error to send.
type Refusal struct {
	Code    cops.ErrorCode
	Subcode uint16
	Reason  string
}

// Error says why the peer was refused.
func (r *Refusal) Error() string { return "copsconn: refused (" + r.Code.String() + "): " + r.Reason }

// ErrClosed is returned for calls on a connection that has ended, or that
// the connection lost while they waited.
var ErrClosed = errors.New("copsconn: connection closed")

// ErrTimeout is what a gate command gets when its reply does not come
// within its timeout.
var ErrTimeout = errors.New("copsconn: no reply in time")

// ClosedError says why a connection ended: the peer's Client-Close (Code
// and Redirect set), our own Client-Close, or an I/O error. It matches
// ErrClosed with errors.Is.
type ClosedError struct {
	// Code is the Error of the CC the peer sent, 0 if it sent none.
	Code     cops.Error
	Redirect netip.AddrPort
	Err      error
}

// Error renders the reason.
func (e *ClosedError) Error() string {
	switch {
	case e.Code.Code != 0:
		return "copsconn: peer closed: " + e.Code.String()
	case e.Err != nil:
		return "copsconn: closed: " + e.Err.Error()
	}
	return "copsconn: closed"
}

// Is makes a ClosedError match ErrClosed.
func (e *ClosedError) Is(target error) bool { return target == ErrClosed }

// Unwrap returns the underlying error.
func (e *ClosedError) Unwrap() error { return e.Err }

// withDefaults fills in the defaults and checks what is required.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Role != PEP && cfg.Role != PDP {
		return cfg, fmt.Errorf("copsconn: config without a role")
	}
	if cfg.ClientType == cops.ClientTypeNone {
		return cfg, fmt.Errorf("copsconn: config without a client type")
	}
	if cfg.Role == PEP && cfg.PEPID == "" {
		return cfg, fmt.Errorf("copsconn: a PEP needs a PEPID")
	}
	if len(cfg.Keys) > 0 && cfg.Role == PEP {
		if _, ok := cfg.Keys[cfg.KeyID]; !ok {
			return cfg, fmt.Errorf("copsconn: no Integrity key with id %d", cfg.KeyID)
		}
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = 5 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 2 * time.Second
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = d.DialContext
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	return cfg, nil
}
