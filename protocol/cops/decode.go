package cops

import (
	"encoding/binary"
	"net/netip"
)

// object is one object as found on the wire.
type object struct {
	cnum  CNum
	ctype uint8
	body  []byte
	off   int // offset of the object header in the message
}

// reader walks the objects of one message, one object of lookahead.
type reader struct {
	b    []byte
	off  int
	cur  object
	have bool
	err  error
}

// peek returns the next object without consuming it; ok is false at the end
// of the message or on a malformed object (r.err tells).
func (r *reader) peek() (object, bool) {
	if r.have {
		return r.cur, true
	}
	if r.err != nil || r.off >= len(r.b) {
		return object{}, false
	}
	o, next, err := readObject(r.b, r.off)
	if err != nil {
		r.err = err
		return object{}, false
	}
	r.cur, r.have, r.off = o, true, next
	return o, true
}

func (r *reader) take() { r.have = false }

// readObject decodes the object header at off and returns the object and
// the offset of the next one.
func readObject(b []byte, off int) (object, int, error) {
	if len(b)-off < 4 {
		return object{}, 0, protoErr(ErrBadMessageFormat, off, "truncated object header")
	}
	n := int(binary.BigEndian.Uint16(b[off:]))
	o := object{cnum: CNum(b[off+2]), ctype: b[off+3], off: off}
	if n < 4 {
		return object{}, 0, protoErr(ErrBadMessageFormat, off, "%s object length %d below 4", o.cnum, n)
	}
	padded := (n + 3) &^ 3
	if padded > len(b)-off {
		return object{}, 0, protoErr(ErrBadMessageFormat, off, "%s object length %d overruns the message", o.cnum, n)
	}
	if o.cnum == 0 || o.cnum > CNumIntegrity {
		return object{}, 0, protoErr(ErrUnknownObject, off, "unknown C-Num %d", uint8(o.cnum))
	}
	o.body = b[off+4 : off+n : off+n]
	return o, off + padded, nil
}

// Decode parses exactly one message from b, which must hold the message and
// nothing else, into m (reusing m's slices). Variable-length data in m
// points into b. Errors are *ProtocolError carrying the RFC error code.
func (m *Message) Decode(b []byte) error {
	m.Reset()
	n, err := PeekLength(b)
	if err != nil {
		return err
	}
	if n != len(b) {
		return protoErr(ErrBadMessageFormat, 4, "header says %d octets, have %d", n, len(b))
	}
	m.Flags = Flags(b[0] & 0xF)
	if m.Flags&^FlagSolicited != 0 {
		return protoErr(ErrBadMessageFormat, 0, "undefined header flags %#x", uint8(m.Flags))
	}
	m.Op = OpCode(b[1])
	m.ClientType = ClientType(binary.BigEndian.Uint16(b[2:4]))
	if m.Op < OpREQ || m.Op > OpSSC {
		return protoErr(ErrBadMessageFormat, 1, "unknown op code %d", b[1])
	}
	r := reader{b: b, off: HeaderLen}
	if err := m.decodeBody(&r); err != nil {
		return err
	}
	if r.err != nil {
		return r.err
	}
	if o, ok := r.peek(); ok {
		if o.cnum == CNumIntegrity {
			if err := m.decodeIntegrity(o); err != nil {
				return err
			}
			r.take()
			if o, ok := r.peek(); ok {
				return protoErr(ErrBadMessageFormat, o.off, "%s object after Integrity", o.cnum)
			}
		} else {
			return protoErr(ErrBadMessageFormat, o.off, "%s object not allowed here in %s", o.cnum, m.Op)
		}
	}
	return r.err
}

// DecodeAt decodes the message that starts at b[off:] (b may hold more
// messages after it) and returns the offset just past it. It fails with
// ErrBadMessageFormat if the message is cut short.
func (m *Message) DecodeAt(b []byte, off int) (int, error) {
	if off < 0 || off > len(b) {
		return off, protoErr(ErrBadMessageFormat, off, "offset %d outside %d octets", off, len(b))
	}
	n, err := PeekLength(b[off:])
	if err != nil {
		return off, err
	}
	if n > len(b)-off {
		return off, protoErr(ErrBadMessageFormat, off, "message of %d octets cut at %d", n, len(b)-off)
	}
	if err := m.Decode(b[off : off+n]); err != nil {
		return off + n, err
	}
	return off + n, nil
}

// decodeBody reads the objects of m's operation, leaving Integrity and
// anything unexpected to the caller.
func (m *Message) decodeBody(r *reader) error {
	var err error
	switch m.Op {
	case OpREQ:
		if m.Handle, err = mustHandle(r, m.Op); err != nil {
			return err
		}
		o, err := must(r, CNumContext, m.Op)
		if err != nil {
			return err
		}
		if m.Context, err = decodeContext(o); err != nil {
			return err
		}
		if m.InInterface, err = optInterface(r, CNumInInterface); err != nil {
			return err
		}
		if m.OutInterface, err = optInterface(r, CNumOutInterface); err != nil {
			return err
		}
		if m.LPDPDecisions, err = decodeDecisions(r, CNumLPDPDecision, m.LPDPDecisions); err != nil {
			return err
		}
		return m.decodeClientSIs(r, -1)
	case OpDEC:
		if m.Handle, err = mustHandle(r, m.Op); err != nil {
			return err
		}
		if o, ok := r.peek(); ok && o.cnum == CNumError {
			r.take()
			e, err := decodeError(o)
			m.Error = e
			return err
		}
		if m.Decisions, err = decodeDecisions(r, CNumDecision, m.Decisions); err != nil {
			return err
		}
		if len(m.Decisions) == 0 && r.err == nil {
			return protoErr(ErrMandatoryObject, r.off, "DEC without Decision or Error")
		}
	case OpRPT:
		if m.Handle, err = mustHandle(r, m.Op); err != nil {
			return err
		}
		o, err := must(r, CNumReportType, m.Op)
		if err != nil {
			return err
		}
		if err := fixedBody(o, 1, 4); err != nil {
			return err
		}
		m.ReportType = ReportType(binary.BigEndian.Uint16(o.body))
		if m.ReportType == 0 {
			return protoErr(ErrBadMessageFormat, o.off, "Report-Type 0")
		}
		return m.decodeClientSIs(r, 1)
	case OpDRQ:
		if m.Handle, err = mustHandle(r, m.Op); err != nil {
			return err
		}
		o, err := must(r, CNumReason, m.Op)
		if err != nil {
			return err
		}
		if err := fixedBody(o, 1, 4); err != nil {
			return err
		}
		m.Reason = Reason{ReasonCode(binary.BigEndian.Uint16(o.body)), binary.BigEndian.Uint16(o.body[2:])}
		if m.Reason.Code == 0 {
			return protoErr(ErrBadMessageFormat, o.off, "Reason code 0")
		}
	case OpSSQ, OpSSC:
		if o, ok := r.peek(); ok && o.cnum == CNumHandle {
			r.take()
			if m.Handle, err = decodeHandle(o); err != nil {
				return err
			}
			m.HasHandle = true
		}
	case OpOPN:
		o, err := must(r, CNumPEPID, m.Op)
		if err != nil {
			return err
		}
		if m.PEPID, err = decodePEPID(o); err != nil {
			return err
		}
		if err := m.decodeClientSIs(r, 1); err != nil {
			return err
		}
		if o, ok := r.peek(); ok && o.cnum == CNumLastPDPAddr {
			r.take()
			if m.LastPDP, err = decodePDPAddr(o); err != nil {
				return err
			}
		}
	case OpCAT:
		o, err := must(r, CNumKATimer, m.Op)
		if err != nil {
			return err
		}
		if err := fixedBody(o, 1, 4); err != nil {
			return err
		}
		m.KATimer = binary.BigEndian.Uint16(o.body[2:])
		if o, ok := r.peek(); ok && o.cnum == CNumAcctTimer {
			r.take()
			if err := fixedBody(o, 1, 4); err != nil {
				return err
			}
			m.AcctTimer = binary.BigEndian.Uint16(o.body[2:])
		}
	case OpCC:
		o, err := must(r, CNumError, m.Op)
		if err != nil {
			return err
		}
		if m.Error, err = decodeError(o); err != nil {
			return err
		}
		if o, ok := r.peek(); ok && o.cnum == CNumPDPRedirAddr {
			r.take()
			if m.Redirect, err = decodePDPAddr(o); err != nil {
				return err
			}
		}
	case OpKA:
	}
	return r.err
}

// must consumes the next object, which has to be of class c.
func must(r *reader, c CNum, op OpCode) (object, error) {
	o, ok := r.peek()
	if !ok {
		if r.err != nil {
			return object{}, r.err
		}
		return object{}, protoErr(ErrMandatoryObject, r.off, "%s without %s", op, c)
	}
	if o.cnum != c {
		return object{}, protoErr(ErrMandatoryObject, o.off, "%s: expected %s, found %s", op, c, o.cnum)
	}
	r.take()
	return o, nil
}

func mustHandle(r *reader, op OpCode) (Handle, error) {
	o, err := must(r, CNumHandle, op)
	if err != nil {
		return 0, err
	}
	return decodeHandle(o)
}

func decodeHandle(o object) (Handle, error) {
	if o.ctype != 1 || len(o.body) != 4 {
		return 0, protoErr(ErrBadHandle, o.off, "handle C-Type %d of %d octets (want C-Type 1, 4 octets)", o.ctype, len(o.body))
	}
	return Handle(binary.BigEndian.Uint32(o.body)), nil
}

// fixedBody checks an object's C-Type and body length.
func fixedBody(o object, ctype uint8, n int) error {
	if o.ctype != ctype {
		return protoErr(ErrBadMessageFormat, o.off, "%s C-Type %d not supported", o.cnum, o.ctype)
	}
	if len(o.body) != n {
		return protoErr(ErrBadMessageFormat, o.off, "%s body of %d octets, want %d", o.cnum, len(o.body), n)
	}
	return nil
}

func decodeContext(o object) (Context, error) {
	if err := fixedBody(o, 1, 4); err != nil {
		return Context{}, err
	}
	c := Context{RType(binary.BigEndian.Uint16(o.body)), binary.BigEndian.Uint16(o.body[2:])}
	if c.RType == 0 {
		return Context{}, protoErr(ErrBadMessageFormat, o.off, "Context with R-Type 0")
	}
	return c, nil
}

func decodeError(o object) (Error, error) {
	if err := fixedBody(o, 1, 4); err != nil {
		return Error{}, err
	}
	e := Error{ErrorCode(binary.BigEndian.Uint16(o.body)), binary.BigEndian.Uint16(o.body[2:])}
	if e.Code == 0 {
		return Error{}, protoErr(ErrBadMessageFormat, o.off, "Error object with code 0")
	}
	return e, nil
}

func optInterface(r *reader, c CNum) (Interface, error) {
	o, ok := r.peek()
	if !ok || o.cnum != c {
		return Interface{}, nil
	}
	r.take()
	var ip netip.Addr
	switch {
	case o.ctype == 1 && len(o.body) == 8:
		ip = netip.AddrFrom4([4]byte(o.body[:4]))
	case o.ctype == 2 && len(o.body) == 20:
		ip = netip.AddrFrom16([16]byte(o.body[:16]))
	default:
		return Interface{}, protoErr(ErrBadMessageFormat, o.off, "%s C-Type %d with %d octets", c, o.ctype, len(o.body))
	}
	return Interface{Addr: ip, IfIndex: binary.BigEndian.Uint32(o.body[len(o.body)-4:])}, nil
}

func decodePDPAddr(o object) (netip.AddrPort, error) {
	var ip netip.Addr
	switch {
	case o.ctype == 1 && len(o.body) == 8:
		ip = netip.AddrFrom4([4]byte(o.body[:4]))
	case o.ctype == 2 && len(o.body) == 20:
		ip = netip.AddrFrom16([16]byte(o.body[:16]))
	default:
		return netip.AddrPort{}, protoErr(ErrBadMessageFormat, o.off, "%s C-Type %d with %d octets", o.cnum, o.ctype, len(o.body))
	}
	return netip.AddrPortFrom(ip, binary.BigEndian.Uint16(o.body[len(o.body)-2:])), nil
}

func decodePEPID(o object) (string, error) {
	if o.ctype != 1 || len(o.body) < 2 || o.body[len(o.body)-1] != 0 {
		return "", protoErr(ErrBadMessageFormat, o.off, "PEPID must be a NUL-terminated ASCII string")
	}
	s := o.body[:len(o.body)-1]
	for i := len(s) - 1; i >= 0 && s[i] == 0; i-- { // tolerate extra NULs
		s = s[:i]
	}
	if len(s) == 0 {
		return "", protoErr(ErrBadMessageFormat, o.off, "empty PEPID")
	}
	for _, c := range s {
		if c == 0 || c > 0x7e || c < 0x20 {
			return "", protoErr(ErrBadMessageFormat, o.off, "PEPID with non-printable octet %#x", c)
		}
	}
	return string(s), nil
}

// decodeClientSIs reads ClientSI objects, at most max of them (max < 0: any).
func (m *Message) decodeClientSIs(r *reader, max int) error {
	for {
		o, ok := r.peek()
		if !ok || o.cnum != CNumClientSI {
			return r.err
		}
		if max >= 0 && len(m.ClientSI) >= max {
			return protoErr(ErrBadMessageFormat, o.off, "%s with more than %d ClientSI", m.Op, max)
		}
		if o.ctype != 1 && o.ctype != 2 {
			return protoErr(ErrBadMessageFormat, o.off, "ClientSI C-Type %d", o.ctype)
		}
		r.take()
		m.ClientSI = append(m.ClientSI, ClientSI{Named: o.ctype == 2, Data: o.body})
	}
}

// decodeDecisions reads a sequence of ([Context] flags [data...]) groups of
// class c (Decision or LPDPDecision), appending to ds.
func decodeDecisions(r *reader, c CNum, ds []Decision) ([]Decision, error) {
	for {
		o, ok := r.peek()
		if !ok {
			return ds, r.err
		}
		var d Decision
		if o.cnum == CNumContext {
			ctx, err := decodeContext(o)
			if err != nil {
				return ds, err
			}
			r.take()
			d.Context = ctx
			if o, ok = r.peek(); !ok || o.cnum != c {
				if r.err != nil {
					return ds, r.err
				}
				return ds, protoErr(ErrMandatoryObject, r.off, "Context not followed by %s flags", c)
			}
		}
		if o.cnum != c {
			return ds, nil
		}
		if o.ctype != 1 {
			return ds, protoErr(ErrBadMessageFormat, o.off, "%s C-Type %d where flags (C-Type 1) are required", c, o.ctype)
		}
		if len(o.body) != 4 {
			return ds, protoErr(ErrBadMessageFormat, o.off, "%s flags of %d octets", c, len(o.body))
		}
		r.take()
		d.Command = Command(binary.BigEndian.Uint16(o.body))
		d.Flags = DecisionFlags(binary.BigEndian.Uint16(o.body[2:]))
		last := uint8(1)
		for {
			o, ok := r.peek()
			if !ok || o.cnum != c || o.ctype == 1 {
				break
			}
			if o.ctype <= last || o.ctype > 5 {
				return ds, protoErr(ErrBadMessageFormat, o.off, "%s C-Type %d out of order or unknown", c, o.ctype)
			}
			last = o.ctype
			r.take()
			switch o.ctype {
			case 2:
				d.Stateless = o.body
			case 3:
				d.Replacement = o.body
			case 4:
				d.ClientData = o.body
			case 5:
				d.NamedData = o.body
			}
		}
		if r.err != nil {
			return ds, r.err
		}
		ds = append(ds, d)
	}
}

func (m *Message) decodeIntegrity(o object) error {
	if o.ctype != 1 || len(o.body) < 8 {
		return protoErr(ErrBadMessageFormat, o.off, "Integrity C-Type %d with %d octets", o.ctype, len(o.body))
	}
	m.Integrity = Integrity{
		KeyID:  binary.BigEndian.Uint32(o.body),
		Seq:    binary.BigEndian.Uint32(o.body[4:]),
		Digest: o.body[8:],
	}
	m.HasIntegrity = true
	return nil
}
