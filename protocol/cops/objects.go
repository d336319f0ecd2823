package cops

import "net/netip"

// Handle is the client handle (RFC 2748 2.2.1). This package uses 4-octet
// handles, which is what Wireshark decodes as a number; a handle of any
// other length is refused with Error 1 (Bad handle).
type Handle uint32

// Context is the Context object (RFC 2748 2.2.2): what event triggered a REQ.
// The zero Context (R-Type 0) means "absent" where the object is optional.
type Context struct {
	RType RType
	MType uint16
}

// Interface is an In-Interface or Out-Interface object (RFC 2748 2.2.3-4).
// An invalid Addr means the object is absent.
type Interface struct {
	Addr    netip.Addr
	IfIndex uint32
}

// Reason is the Reason object of a DRQ (RFC 2748 2.2.5).
type Reason struct {
	Code    ReasonCode
	Subcode uint16
}

// Decision is one decision of a DEC (RFC 2748 2.2.6): the flags object and
// the optional data objects that follow it. Byte slices returned by the
// decoder point into the decoded buffer.
type Decision struct {
	// Context, when non-zero, names the request type this decision applies
	// to; it is encoded before the flags object.
	Context Context
	Command Command
	Flags   DecisionFlags
	// Stateless, Replacement, ClientData and NamedData are the bodies of
	// the C-Type 2, 3, 4 and 5 decision objects; nil means absent.
	Stateless   []byte
	Replacement []byte
	ClientData  []byte
	NamedData   []byte
}

// LPDPDecision is a local decision reported in a REQ (RFC 2748 2.2.7). Its
// objects use the same C-Types as Decision.
type LPDPDecision = Decision

// Error is the Error object (RFC 2748 2.2.8). Code 0 means absent.
type Error struct {
	Code    ErrorCode
	Subcode uint16
}

// ClientSI is a Client Specific Information object (RFC 2748 2.2.9).
type ClientSI struct {
	// Named selects C-Type 2 (named ClientSI, used in OPN and RPT); C-Type 1
	// is signaled ClientSI (REQ).
	Named bool
	Data  []byte
}

// PDPAddr is a PDP Redirect Address or Last PDP Address object
// (RFC 2748 2.2.13-14). An invalid address means absent.
type PDPAddr = netip.AddrPort

// Integrity is the Message Integrity object (RFC 2748 2.2.15).
type Integrity struct {
	KeyID  uint32
	Seq    uint32
	Digest []byte
}
