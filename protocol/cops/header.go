package cops

import (
	"encoding/binary"
	"strconv"
)

// Version is the only COPS version this package speaks (RFC 2748 section 2.1).
const Version = 1

// HeaderLen is the length of the COPS common header in octets.
const HeaderLen = 8

// DefaultMaxMessageLen bounds the length a peer may announce before the
// framer refuses the message. COPS messages in this lab are a few hundred
// octets; the cap keeps a lying length field from making us buffer megabytes.
const DefaultMaxMessageLen = 64 << 10

// OpCode is the COPS operation code of the common header.
type OpCode uint8

// Operation codes (RFC 2748 section 2.1).
const (
	OpREQ OpCode = 1  // Request
	OpDEC OpCode = 2  // Decision
	OpRPT OpCode = 3  // Report State
	OpDRQ OpCode = 4  // Delete Request State
	OpSSQ OpCode = 5  // Synchronize State Request
	OpOPN OpCode = 6  // Client-Open
	OpCAT OpCode = 7  // Client-Accept
	OpCC  OpCode = 8  // Client-Close
	OpKA  OpCode = 9  // Keep-Alive
	OpSSC OpCode = 10 // Synchronize Complete
)

var opNames = [...]string{"", "REQ", "DEC", "RPT", "DRQ", "SSQ", "OPN", "CAT", "CC", "KA", "SSC"}

// String returns the three-letter abbreviation RFC 2748 uses ("REQ", "DEC", ...).
func (o OpCode) String() string {
	if o >= 1 && int(o) < len(opNames) {
		return opNames[o]
	}
	return "OP(" + strconv.Itoa(int(o)) + ")"
}

// Flags are the four flag bits of the common header.
type Flags uint8

// FlagSolicited marks a message sent in answer to a request (RFC 2748 2.1).
const FlagSolicited Flags = 0x1

// String names the flags.
func (f Flags) String() string {
	switch f {
	case 0:
		return "none"
	case FlagSolicited:
		return "solicited"
	}
	return "0x" + strconv.FormatUint(uint64(f), 16)
}

// ClientType identifies the policy client (RFC 2748 section 2.1, IANA registry).
type ClientType uint16

// Client types used in the lab.
const (
	// ClientTypeNone is used by KA and by messages not tied to a client type.
	ClientTypeNone ClientType = 0
	// ClientTypePCMM is PacketCable Multimedia, used on the router leg (TCP 3918).
	ClientTypePCMM ClientType = 0x800A
	// ClientTypeSession is qoslab's private client type for the SIP proxy leg
	// (TCP 3288). 0x5153 is "QS" and lies in the private range 0x4000-0x7FFF.
	ClientTypeSession ClientType = 0x5153
)

// String names the client type.
func (c ClientType) String() string {
	switch c {
	case ClientTypeNone:
		return "none"
	case 1:
		return "RSVP"
	case 2:
		return "DiffServ"
	case 0x8008:
		return "PacketCable-DQoS"
	case ClientTypePCMM:
		return "PCMM"
	case ClientTypeSession:
		return "qoslab-session"
	}
	return "0x" + strconv.FormatUint(uint64(c), 16)
}

// Header is the COPS common header without its length, which the encoder
// computes and the decoder checks.
type Header struct {
	Op         OpCode
	Flags      Flags
	ClientType ClientType
}

// appendHeader writes a header with a zero length; patchLength fills it in.
func appendHeader(b []byte, h Header) []byte {
	return append(b, Version<<4|byte(h.Flags&0xF), byte(h.Op), byte(h.ClientType>>8), byte(h.ClientType), 0, 0, 0, 0)
}

// PeekLength returns the message length announced by the common header at
// the start of b, after checking the version and that the length is sane.
// It needs only HeaderLen bytes and is what framers use.
func PeekLength(b []byte) (int, error) {
	if len(b) < HeaderLen {
		return 0, protoErr(ErrBadMessageFormat, 0, "truncated header (%d of %d octets)", len(b), HeaderLen)
	}
	if v := b[0] >> 4; v != Version {
		return 0, protoErr(ErrBadMessageFormat, 0, "unsupported version %d", v)
	}
	n := binary.BigEndian.Uint32(b[4:8])
	if n < HeaderLen || n%4 != 0 {
		return 0, protoErr(ErrBadMessageFormat, 4, "message length %d is not a multiple of 4 of at least %d", n, HeaderLen)
	}
	if n > 1<<30 {
		return 0, protoErr(ErrBadMessageFormat, 4, "message length %d is absurd", n)
	}
	return int(n), nil
}

// PeekHandle returns the client handle of a framed message whose first
// object is a well-formed 4-octet Handle, even when the rest of the message
// does not decode: enough to answer a malformed REQ with a DEC carrying an
// Error object on its handle (RFC 2748 2.2.8) instead of closing.
func PeekHandle(b []byte) (Handle, bool) {
	if len(b) < HeaderLen+8 {
		return 0, false
	}
	o, _, err := readObject(b, HeaderLen)
	if err != nil || o.cnum != CNumHandle {
		return 0, false
	}
	h, err := decodeHandle(o)
	return h, err == nil
}
