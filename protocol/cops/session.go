package cops

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/qoslab/qoslab/flow"
)

// Session information of the private client type 0x5153 (ClientTypeSession)
// used between a SIP proxy (PEP) and its policy server (PDP).
//
// It travels in the signaled ClientSI of a REQ and in the client-specific
// decision data (Decision C-Type 4) of a DEC. Wire encoding, version 1:
//
//	octet 0      version = 1 (a decoder refuses any other version)
//	octets 1-3   reserved, zero
//	then TLVs until the end of the object body, in any order:
//	  octet 0    tag
//	  octets 1-2 value length L, big endian
//	  octets 3.. value, L octets, no padding
//
// Tags (an unknown tag is skipped, so fields can be added without a version
// bump; a change of meaning needs version 2):
//
//	1 call id    UTF-8, the SIP Call-ID
//	2 side       1 octet: 1 originating (caller's proxy), 2 terminating
//	             (the values of flow.Side)
//	3 caller     UTF-8, From URI
//	4 callee     UTF-8, To URI
//	5 media      one media 5-tuple per TLV, repeatable:
//	             direction (1: 1 caller->callee, 2 callee->caller),
//	             IP protocol (1: 17 = UDP), src port (2), dst port (2),
//	             src address, dst address (4 octets each for IPv4, 16 for
//	             IPv6: L is 14 or 38)
//	6 class      ASCII DiffServ class requested, e.g. "EF"
//	7 bandwidth  8 octets, bits per second
//	8 osp token  opaque octets, the OSP token from the clearinghouse
//	9 result     2 octets code (SIP-style: 200 admitted, 403 denied,
//	             503 unavailable), then UTF-8 reason text
//	10 alerting  1 octet, 1: the LDP request was triggered by a provisional
//	             (18x) answer, so the callee is being alerted; absent: by
//	             the final answer. Added in qoslab 1.1 without a version
//	             bump: decoders skip tags they do not know.
//	11 released  1 octet, on a REQ noLDP: which end's BYE released the
//	             call, 1 the caller (originating), 2 the callee
//	             (terminating); absent: not released by a BYE, or unknown.
//	             Added like tag 10.
//
// The whole body is limited by the COPS object length (65531 octets).
type Session struct {
	CallID    string
	Side      flow.Side
	Caller    string
	Callee    string
	Media     []MediaFlow
	Class     string
	Bandwidth uint64
	Token     []byte
	// Result is 0 when absent (REQ); a DEC sets it with Reason.
	Result uint16
	Reason string
	// Alerting marks a REQ LDP sent on a 18x with the SDP answer: the
	// policy server takes its arrival as the call's alert time.
	Alerting bool
	// ReleasedBy, on a REQ noLDP, is the side whose BYE released the call
	// (flow.Originating: the caller); SideUnknown when no BYE did. The
	// policy server reports it as OSP's ReleaseSource.
	ReleasedBy flow.Side
}

// SessionVersion is the version octet of the session encoding.
const SessionVersion = 1

// Session TLV tags.
const (
	tagCallID    = 1
	tagSide      = 2
	tagCaller    = 3
	tagCallee    = 4
	tagMedia     = 5
	tagClass     = 6
	tagBandwidth = 7
	tagToken     = 8
	tagResult    = 9
	tagAlerting  = 10
	tagReleased  = 11
)

// FlowDir is the direction of a media flow relative to the call.
type FlowDir uint8

// Flow directions.
const (
	Forward  FlowDir = 1 // caller to callee
	Backward FlowDir = 2 // callee to caller
)

// String names the direction.
func (d FlowDir) String() string {
	switch d {
	case Forward:
		return "fwd"
	case Backward:
		return "bwd"
	}
	return "dir(" + strconv.Itoa(int(d)) + ")"
}

// MediaFlow is one media 5-tuple and its direction in the call.
type MediaFlow struct {
	Dir FlowDir
	flow.Tuple
}

// String renders "fwd udp 198.18.1.2:20000->198.18.4.2:30000".
func (f MediaFlow) String() string {
	return f.Dir.String() + " " + protoName(f.Proto) + " " + f.Src.String() + "->" + f.Dst.String()
}

func protoName(p uint8) string {
	switch p {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	}
	return "proto" + strconv.Itoa(int(p))
}

// AppendTo appends the version 1 encoding of s to b. It does not allocate
// when b has room. It fails if a field does not fit its TLV or a media flow
// mixes address families.
func (s *Session) AppendTo(b []byte) ([]byte, error) {
	start := len(b)
	b = append(b, SessionVersion, 0, 0, 0)
	var err error
	if b, err = appendTLVString(b, tagCallID, s.CallID); err != nil {
		return b[:start], err
	}
	if s.Side != 0 {
		b = append(b, tagSide, 0, 1, byte(s.Side))
	}
	if b, err = appendTLVString(b, tagCaller, s.Caller); err != nil {
		return b[:start], err
	}
	if b, err = appendTLVString(b, tagCallee, s.Callee); err != nil {
		return b[:start], err
	}
	for _, f := range s.Media {
		src, dst := f.Src.Addr(), f.Dst.Addr()
		if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
			return b[:start], fmt.Errorf("cops: session media flow %v: addresses must be both IPv4 or both IPv6", f)
		}
		n := 14
		if !src.Is4() {
			n = 38
		}
		b = append(b, tagMedia, 0, byte(n), byte(f.Dir), f.Proto)
		b = binary.BigEndian.AppendUint16(b, f.Src.Port())
		b = binary.BigEndian.AppendUint16(b, f.Dst.Port())
		if src.Is4() {
			s4, d4 := src.As4(), dst.As4()
			b = append(append(b, s4[:]...), d4[:]...)
		} else {
			s16, d16 := src.As16(), dst.As16()
			b = append(append(b, s16[:]...), d16[:]...)
		}
	}
	if b, err = appendTLVString(b, tagClass, s.Class); err != nil {
		return b[:start], err
	}
	if s.Bandwidth != 0 {
		b = append(b, tagBandwidth, 0, 8)
		b = binary.BigEndian.AppendUint64(b, s.Bandwidth)
	}
	if len(s.Token) > 0 {
		if len(s.Token) > 0xFFFF {
			return b[:start], fmt.Errorf("cops: session OSP token of %d octets is too long", len(s.Token))
		}
		b = append(b, tagToken, byte(len(s.Token)>>8), byte(len(s.Token)))
		b = append(b, s.Token...)
	}
	if s.Result != 0 || s.Reason != "" {
		n := 2 + len(s.Reason)
		if n > 0xFFFF {
			return b[:start], fmt.Errorf("cops: session reason of %d octets is too long", len(s.Reason))
		}
		b = append(b, tagResult, byte(n>>8), byte(n), byte(s.Result>>8), byte(s.Result))
		b = append(b, s.Reason...)
	}
	if s.Alerting {
		b = append(b, tagAlerting, 0, 1, 1)
	}
	if s.ReleasedBy != flow.SideUnknown {
		if s.ReleasedBy != flow.Originating && s.ReleasedBy != flow.Terminating {
			return b[:start], fmt.Errorf("cops: session released by side %d", s.ReleasedBy)
		}
		b = append(b, tagReleased, 0, 1, byte(s.ReleasedBy))
	}
	if len(b)-start > maxObjBody {
		return b[:start], fmt.Errorf("cops: session encoding of %d octets exceeds a COPS object", len(b)-start)
	}
	return b, nil
}

func appendTLVString(b []byte, tag byte, s string) ([]byte, error) {
	if s == "" {
		return b, nil
	}
	if len(s) > 0xFFFF {
		return b, fmt.Errorf("cops: session field %d of %d octets is too long", tag, len(s))
	}
	b = append(b, tag, byte(len(s)>>8), byte(len(s)))
	return append(b, s...), nil
}

// Decode parses a session encoding, replacing the contents of s (its Media
// slice is reused). Token points into b. Errors carry ErrBadMessageFormat.
func (s *Session) Decode(b []byte) error {
	media := s.Media[:0]
	*s = Session{}
	if len(b) < 4 {
		return protoErr(ErrMandatoryClientSI, 0, "session data of %d octets is shorter than its 4-octet preamble", len(b))
	}
	if b[0] != SessionVersion {
		return protoErr(ErrBadMessageFormat, 0, "session encoding version %d (want %d)", b[0], SessionVersion)
	}
	for off := 4; off < len(b); {
		if len(b)-off < 3 {
			return protoErr(ErrBadMessageFormat, off, "truncated session TLV header")
		}
		tag, n := b[off], int(binary.BigEndian.Uint16(b[off+1:]))
		v := b[off+3:]
		if n > len(v) {
			return protoErr(ErrBadMessageFormat, off, "session TLV %d of %d octets overruns the data", tag, n)
		}
		v = v[:n:n]
		var err error
		switch tag {
		case tagCallID:
			s.CallID, err = tlvString(v, off, "call id")
		case tagSide:
			if n != 1 || (v[0] != 1 && v[0] != 2) {
				return protoErr(ErrBadMessageFormat, off, "session side TLV %x", v)
			}
			s.Side = flow.Side(v[0])
		case tagCaller:
			s.Caller, err = tlvString(v, off, "caller")
		case tagCallee:
			s.Callee, err = tlvString(v, off, "callee")
		case tagMedia:
			var f MediaFlow
			if f, err = decodeMediaFlow(v, off); err == nil {
				media = append(media, f)
			}
		case tagClass:
			s.Class, err = tlvString(v, off, "class")
		case tagBandwidth:
			if n != 8 {
				return protoErr(ErrBadMessageFormat, off, "session bandwidth TLV of %d octets", n)
			}
			s.Bandwidth = binary.BigEndian.Uint64(v)
		case tagToken:
			s.Token = v
		case tagResult:
			if n < 2 {
				return protoErr(ErrBadMessageFormat, off, "session result TLV of %d octets", n)
			}
			s.Result = binary.BigEndian.Uint16(v)
			s.Reason, err = tlvString(v[2:], off, "reason")
		case tagAlerting:
			if n != 1 || v[0] > 1 {
				return protoErr(ErrBadMessageFormat, off, "session alerting TLV %x", v)
			}
			s.Alerting = v[0] == 1
		case tagReleased:
			if n != 1 || (v[0] != 1 && v[0] != 2) {
				return protoErr(ErrBadMessageFormat, off, "session released TLV %x", v)
			}
			s.ReleasedBy = flow.Side(v[0])
		}
		if err != nil {
			return err
		}
		off += 3 + n
	}
	if len(media) > 0 {
		s.Media = media
	}
	return nil
}

func tlvString(v []byte, off int, what string) (string, error) {
	if !utf8.Valid(v) {
		return "", protoErr(ErrBadMessageFormat, off, "session %s is not UTF-8", what)
	}
	return string(v), nil
}

func decodeMediaFlow(v []byte, off int) (MediaFlow, error) {
	if len(v) != 14 && len(v) != 38 {
		return MediaFlow{}, protoErr(ErrBadMessageFormat, off, "session media TLV of %d octets (want 14 or 38)", len(v))
	}
	f := MediaFlow{Dir: FlowDir(v[0]), Tuple: flow.Tuple{Proto: v[1]}}
	if f.Dir != Forward && f.Dir != Backward {
		return MediaFlow{}, protoErr(ErrBadMessageFormat, off, "session media direction %d", v[0])
	}
	sp, dp := binary.BigEndian.Uint16(v[2:]), binary.BigEndian.Uint16(v[4:])
	var src, dst netip.Addr
	if len(v) == 14 {
		src, dst = netip.AddrFrom4([4]byte(v[6:10])), netip.AddrFrom4([4]byte(v[10:14]))
	} else {
		src, dst = netip.AddrFrom16([16]byte(v[6:22])), netip.AddrFrom16([16]byte(v[22:38]))
	}
	f.Src, f.Dst = netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
	return f, nil
}

// String renders the session on one line for logs:
// "session{call=abc side=orig from=... to=... class=EF bw=64000 media=[...] token=312B result=200 \"ok\"}".
func (s *Session) String() string {
	var sb strings.Builder
	sb.WriteString("session{call=")
	sb.WriteString(s.CallID)
	switch s.Side {
	case 0:
	case flow.Originating:
		sb.WriteString(" side=orig")
	case flow.Terminating:
		sb.WriteString(" side=term")
	default:
		sb.WriteString(" side=" + s.Side.String())
	}
	if s.Caller != "" {
		sb.WriteString(" from=" + s.Caller)
	}
	if s.Callee != "" {
		sb.WriteString(" to=" + s.Callee)
	}
	if s.Class != "" {
		sb.WriteString(" class=" + s.Class)
	}
	if s.Bandwidth != 0 {
		sb.WriteString(" bw=" + strconv.FormatUint(s.Bandwidth, 10))
	}
	for i, f := range s.Media {
		if i == 0 {
			sb.WriteString(" media=[")
		} else {
			sb.WriteString(", ")
		}
		sb.WriteString(f.String())
		if i == len(s.Media)-1 {
			sb.WriteString("]")
		}
	}
	if len(s.Token) > 0 {
		sb.WriteString(" token=" + strconv.Itoa(len(s.Token)) + "B")
	}
	if s.Alerting {
		sb.WriteString(" alerting")
	}
	if s.ReleasedBy != flow.SideUnknown {
		sb.WriteString(" released-by=" + s.ReleasedBy.String())
	}
	if s.Result != 0 || s.Reason != "" {
		sb.WriteString(" result=" + strconv.Itoa(int(s.Result)) + " " + strconv.Quote(s.Reason))
	}
	sb.WriteString("}")
	return sb.String()
}
