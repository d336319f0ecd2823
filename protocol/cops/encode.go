package cops

import (
	"encoding/binary"
	"net/netip"
)

// AppendTo appends the wire form of m to b and returns the extended slice.
// It checks the grammar of m's operation first and appends nothing if m is
// not a valid message. With enough capacity in b it does not allocate.
//
// If m.HasIntegrity, the Integrity object is written with m.Integrity.Digest
// as is; protocol/copsconn signs (computes the digest over the encoding).
func (m *Message) AppendTo(b []byte) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return b, err
	}
	start := len(b)
	b = appendHeader(b, m.Header)
	switch m.Op {
	case OpREQ:
		b = appendHandle(b, m.Handle)
		b = appendContext(b, m.Context)
		b = appendInterface(b, CNumInInterface, m.InInterface)
		b = appendInterface(b, CNumOutInterface, m.OutInterface)
		for i := range m.LPDPDecisions {
			b = appendDecision(b, CNumLPDPDecision, &m.LPDPDecisions[i])
		}
		for _, si := range m.ClientSI {
			b = appendClientSI(b, si)
		}
	case OpDEC:
		b = appendHandle(b, m.Handle)
		if m.Error.Code != 0 {
			b = appendCodePair(b, CNumError, uint16(m.Error.Code), m.Error.Subcode)
		}
		for i := range m.Decisions {
			b = appendDecision(b, CNumDecision, &m.Decisions[i])
		}
	case OpRPT:
		b = appendHandle(b, m.Handle)
		b = appendCodePair(b, CNumReportType, uint16(m.ReportType), 0)
		for _, si := range m.ClientSI {
			b = appendClientSI(b, si)
		}
	case OpDRQ:
		b = appendHandle(b, m.Handle)
		b = appendCodePair(b, CNumReason, uint16(m.Reason.Code), m.Reason.Subcode)
	case OpSSQ, OpSSC:
		if m.HasHandle {
			b = appendHandle(b, m.Handle)
		}
	case OpOPN:
		b = appendPEPID(b, m.PEPID)
		for _, si := range m.ClientSI {
			b = appendClientSI(b, si)
		}
		b = appendPDPAddr(b, CNumLastPDPAddr, m.LastPDP)
	case OpCAT:
		b = appendCodePair(b, CNumKATimer, 0, m.KATimer)
		if m.AcctTimer != 0 {
			b = appendCodePair(b, CNumAcctTimer, 0, m.AcctTimer)
		}
	case OpCC:
		b = appendCodePair(b, CNumError, uint16(m.Error.Code), m.Error.Subcode)
		b = appendPDPAddr(b, CNumPDPRedirAddr, m.Redirect)
	case OpKA:
	}
	if m.HasIntegrity {
		b = appendObjHeader(b, CNumIntegrity, 1, 8+len(m.Integrity.Digest))
		b = binary.BigEndian.AppendUint32(b, m.Integrity.KeyID)
		b = binary.BigEndian.AppendUint32(b, m.Integrity.Seq)
		b = appendPadded(b, m.Integrity.Digest)
	}
	binary.BigEndian.PutUint32(b[start+4:], uint32(len(b)-start))
	return b, nil
}

// appendObjHeader writes an object header for a body of bodyLen octets.
func appendObjHeader(b []byte, c CNum, ctype uint8, bodyLen int) []byte {
	n := 4 + bodyLen
	return append(b, byte(n>>8), byte(n), byte(c), ctype)
}

// appendPadded appends data and zero padding up to a 32-bit boundary.
func appendPadded(b, data []byte) []byte {
	b = append(b, data...)
	for i := len(data); i%4 != 0; i++ {
		b = append(b, 0)
	}
	return b
}

func appendHandle(b []byte, h Handle) []byte {
	b = appendObjHeader(b, CNumHandle, 1, 4)
	return binary.BigEndian.AppendUint32(b, uint32(h))
}

func appendContext(b []byte, c Context) []byte {
	return appendCodePair(b, CNumContext, uint16(c.RType), c.MType)
}

// appendCodePair writes the many objects whose body is two 16-bit words.
func appendCodePair(b []byte, c CNum, hi, lo uint16) []byte {
	b = appendObjHeader(b, c, 1, 4)
	return append(b, byte(hi>>8), byte(hi), byte(lo>>8), byte(lo))
}

func appendInterface(b []byte, c CNum, i Interface) []byte {
	if !i.Addr.IsValid() {
		return b
	}
	if i.Addr.Is4() {
		b = appendObjHeader(b, c, 1, 8)
		a := i.Addr.As4()
		b = append(b, a[:]...)
	} else {
		b = appendObjHeader(b, c, 2, 20)
		a := i.Addr.As16()
		b = append(b, a[:]...)
	}
	return binary.BigEndian.AppendUint32(b, i.IfIndex)
}

func appendDecision(b []byte, c CNum, d *Decision) []byte {
	if d.Context.RType != 0 {
		b = appendContext(b, d.Context)
	}
	b = appendCodePair(b, c, uint16(d.Command), uint16(d.Flags))
	for ct, data := range [...][]byte{2: d.Stateless, 3: d.Replacement, 4: d.ClientData, 5: d.NamedData} {
		if data != nil {
			b = appendObjHeader(b, c, uint8(ct), len(data))
			b = appendPadded(b, data)
		}
	}
	return b
}

func appendClientSI(b []byte, si ClientSI) []byte {
	ct := uint8(1)
	if si.Named {
		ct = 2
	}
	b = appendObjHeader(b, CNumClientSI, ct, len(si.Data))
	return appendPadded(b, si.Data)
}

func appendPEPID(b []byte, id string) []byte {
	b = appendObjHeader(b, CNumPEPID, 1, len(id)+1)
	b = append(b, id...)
	b = append(b, 0)
	for i := len(id) + 1; i%4 != 0; i++ {
		b = append(b, 0)
	}
	return b
}

func appendPDPAddr(b []byte, c CNum, a netip.AddrPort) []byte {
	if !a.Addr().IsValid() {
		return b
	}
	if a.Addr().Is4() {
		b = appendObjHeader(b, c, 1, 8)
		ip := a.Addr().As4()
		b = append(b, ip[:]...)
	} else {
		b = appendObjHeader(b, c, 2, 20)
		ip := a.Addr().As16()
		b = append(b, ip[:]...)
	}
	return append(b, 0, 0, byte(a.Port()>>8), byte(a.Port()))
}
