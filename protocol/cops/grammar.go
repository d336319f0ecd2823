package cops

import "strings"

// maxObjBody is the largest body an object's 16-bit length can describe.
const maxObjBody = 0xFFFF - 4

// Validate checks m against the grammar of its operation (RFC 2748 section
// 3): mandatory objects present, no object the operation does not carry,
// lengths that fit. AppendTo calls it; the decoder enforces the same rules on
// the wire form.
func (m *Message) Validate() error {
	if m.Op < OpREQ || m.Op > OpSSC {
		return protoErr(ErrBadMessageFormat, 1, "unknown op code %d", uint8(m.Op))
	}
	if m.Flags&^FlagSolicited != 0 {
		return protoErr(ErrBadMessageFormat, 0, "undefined header flags %#x", uint8(m.Flags))
	}
	for _, si := range m.ClientSI {
		if len(si.Data) > maxObjBody {
			return protoErr(ErrBadMessageFormat, 0, "ClientSI of %d octets is too long", len(si.Data))
		}
	}
	if len(m.Integrity.Digest) > maxObjBody-8 {
		return protoErr(ErrBadMessageFormat, 0, "integrity digest too long")
	}
	switch m.Op {
	case OpREQ:
		if m.Context.RType == 0 {
			return protoErr(ErrMandatoryObject, 0, "REQ without Context")
		}
		if err := validateDecisions(m.LPDPDecisions); err != nil {
			return err
		}
	case OpDEC:
		switch {
		case m.Error.Code != 0 && len(m.Decisions) > 0:
			return protoErr(ErrBadMessageFormat, 0, "DEC with both Error and Decisions")
		case m.Error.Code == 0 && len(m.Decisions) == 0:
			return protoErr(ErrMandatoryObject, 0, "DEC without Decision or Error")
		}
		if err := validateDecisions(m.Decisions); err != nil {
			return err
		}
	case OpRPT:
		if m.ReportType == 0 {
			return protoErr(ErrMandatoryObject, 0, "RPT without Report-Type")
		}
		if len(m.ClientSI) > 1 {
			return protoErr(ErrBadMessageFormat, 0, "RPT with %d ClientSI objects", len(m.ClientSI))
		}
	case OpDRQ:
		if m.Reason.Code == 0 {
			return protoErr(ErrMandatoryObject, 0, "DRQ without Reason")
		}
	case OpOPN:
		if m.PEPID == "" || strings.IndexByte(m.PEPID, 0) >= 0 || len(m.PEPID) > maxObjBody-1 {
			return protoErr(ErrMandatoryObject, 0, "OPN needs a PEPID without NUL")
		}
		if len(m.ClientSI) > 1 {
			return protoErr(ErrBadMessageFormat, 0, "OPN with %d ClientSI objects", len(m.ClientSI))
		}
	case OpCC:
		if m.Error.Code == 0 {
			return protoErr(ErrMandatoryObject, 0, "CC without Error")
		}
	}
	return nil
}

func validateDecisions(ds []Decision) error {
	for i := range ds {
		for _, data := range [...][]byte{ds[i].Stateless, ds[i].Replacement, ds[i].ClientData, ds[i].NamedData} {
			if len(data) > maxObjBody {
				return protoErr(ErrBadMessageFormat, 0, "decision data of %d octets is too long", len(data))
			}
		}
	}
	return nil
}
