package cops

import (
	"strconv"
	"strings"
)

// String renders m on one line for logs and the verifier, e.g.
//
//	REQ handle=7 ctx=AAA session{call=abc side=orig ...}
//	DEC handle=1 Install Gate-Set trans=5 gate=0x2a dscp=46 classifier=udp 198.18.1.2:20000->198.18.4.2:30000
//
// Client-specific data is decoded for the session and PCMM client types;
// data that does not decode is shown as its size and the error.
func (m *Message) String() string {
	var sb strings.Builder
	sb.WriteString(m.Op.String())
	if m.Flags&FlagSolicited != 0 && m.Op != OpDEC {
		sb.WriteString(" solicited")
	}
	switch m.Op {
	case OpREQ, OpDEC, OpRPT, OpDRQ:
		sb.WriteString(" handle=" + strconv.FormatUint(uint64(m.Handle), 10))
	case OpSSQ, OpSSC:
		if m.HasHandle {
			sb.WriteString(" handle=" + strconv.FormatUint(uint64(m.Handle), 10))
		}
	}
	switch m.Op {
	case OpREQ:
		sb.WriteString(" ctx=" + m.contextString(m.Context))
		if m.InInterface.Addr.IsValid() {
			sb.WriteString(" in=" + m.InInterface.Addr.String())
		}
		if m.OutInterface.Addr.IsValid() {
			sb.WriteString(" out=" + m.OutInterface.Addr.String())
		}
		for _, d := range m.LPDPDecisions {
			sb.WriteString(" lpdp=" + d.Command.String())
		}
		for _, si := range m.ClientSI {
			sb.WriteString(" " + m.clientData(si.Data))
		}
	case OpDEC:
		if m.Error.Code != 0 {
			sb.WriteString(" error=" + m.Error.String())
		}
		for _, d := range m.Decisions {
			if d.Context.RType != 0 {
				sb.WriteString(" ctx=" + m.contextString(d.Context))
			}
			sb.WriteString(" " + d.Command.String())
			if d.Flags != 0 {
				sb.WriteString(" flags=" + d.Flags.String())
			}
			if d.ClientData != nil {
				sb.WriteString(" " + m.clientData(d.ClientData))
			}
			for _, x := range [...]struct {
				name string
				data []byte
			}{{"stateless", d.Stateless}, {"replacement", d.Replacement}, {"named", d.NamedData}} {
				if x.data != nil {
					sb.WriteString(" " + x.name + "=" + strconv.Itoa(len(x.data)) + "B")
				}
			}
		}
	case OpRPT:
		sb.WriteString(" " + m.ReportType.String())
		for _, si := range m.ClientSI {
			sb.WriteString(" " + m.clientData(si.Data))
		}
	case OpDRQ:
		sb.WriteString(" reason=" + m.Reason.Code.String())
		if m.Reason.Subcode != 0 {
			sb.WriteString("/" + strconv.Itoa(int(m.Reason.Subcode)))
		}
	case OpOPN:
		sb.WriteString(" pepid=" + strconv.Quote(m.PEPID) + " client=" + m.ClientType.String())
		for _, si := range m.ClientSI {
			sb.WriteString(" " + m.clientData(si.Data))
		}
		if m.LastPDP.IsValid() {
			sb.WriteString(" last-pdp=" + m.LastPDP.String())
		}
	case OpCAT:
		sb.WriteString(" ka=" + strconv.Itoa(int(m.KATimer)) + "s")
		if m.AcctTimer != 0 {
			sb.WriteString(" acct=" + strconv.Itoa(int(m.AcctTimer)) + "s")
		}
	case OpCC:
		sb.WriteString(" error=" + m.Error.String())
		if m.Redirect.IsValid() {
			sb.WriteString(" redirect=" + m.Redirect.String())
		}
	}
	if m.HasIntegrity {
		sb.WriteString(" integrity{key=" + strconv.FormatUint(uint64(m.Integrity.KeyID), 10) +
			" seq=" + strconv.FormatUint(uint64(m.Integrity.Seq), 10) + "}")
	}
	return sb.String()
}

// String renders the Error object as "Bad-Message-Format" or
// "Bad-Message-Format/3" (code and sub-code).
func (e Error) String() string {
	s := e.Code.String()
	if e.Subcode != 0 {
		s += "/" + strconv.Itoa(int(e.Subcode))
	}
	return s
}

func (m *Message) contextString(c Context) string {
	if m.ClientType == ClientTypeSession {
		if k := KindOf(c); k != KindUnknown {
			return k.String()
		}
	}
	return c.RType.String() + "/" + strconv.Itoa(int(c.MType))
}

// clientData renders client-specific data according to the client type.
func (m *Message) clientData(b []byte) string {
	switch m.ClientType {
	case ClientTypeSession:
		var s Session
		if err := s.Decode(b); err != nil {
			return "session?{" + strconv.Itoa(len(b)) + "B: " + err.Error() + "}"
		}
		return s.String()
	case ClientTypePCMM:
		var p PCMM
		if err := p.Decode(b); err != nil {
			return "pcmm?{" + strconv.Itoa(len(b)) + "B: " + err.Error() + "}"
		}
		return p.String()
	}
	return "data=" + strconv.Itoa(len(b)) + "B"
}

// String renders the PCMM objects on one line:
// "Gate-Set trans=5 gate=0x2a dscp=46 classifier=udp 198.18.1.2:20000->198.18.4.2:30000".
func (p *PCMM) String() string {
	var sb strings.Builder
	if p.Command != 0 {
		sb.WriteString(p.Command.String() + " trans=" + strconv.Itoa(int(p.TransactionID)))
	} else {
		sb.WriteString("pcmm")
	}
	if p.HasGateID {
		sb.WriteString(" gate=0x" + strconv.FormatUint(uint64(p.GateID), 16))
	}
	if p.HasAMID {
		sb.WriteString(" amid=" + strconv.Itoa(int(p.AMID.AppType)) + "/" + strconv.Itoa(int(p.AMID.Tag)))
	}
	if p.SubscriberID.IsValid() {
		sb.WriteString(" sub=" + p.SubscriberID.String())
	}
	if p.HasGateSpec {
		if d, ok := p.GateSpec.DSCP(); ok {
			sb.WriteString(" dscp=" + strconv.Itoa(int(d)))
		}
		if p.GateSpec.Flags&GateUpstream != 0 {
			sb.WriteString(" upstream")
		}
	}
	for _, c := range p.Classifiers {
		sb.WriteString(" classifier=" + c.String())
	}
	switch tp := p.TrafficProfile; tp.Kind {
	case 0:
	case ProfileServiceClassName:
		sb.WriteString(" scn=" + tp.ServiceClassName)
	case ProfileFlowSpec:
		sb.WriteString(" flowspec=" + strconv.FormatFloat(float64(tp.FlowSpec[0].TokenRate), 'g', -1, 32) + "B/s")
	default:
		sb.WriteString(" profile=" + strconv.Itoa(int(tp.Kind)))
	}
	if p.HasVolumeLimit {
		sb.WriteString(" vol-limit=" + strconv.FormatUint(p.VolumeLimit, 10) + "B")
	}
	if p.HasTimeLimit {
		sb.WriteString(" time-limit=" + strconv.FormatUint(uint64(p.TimeLimit), 10) + "s")
	}
	if p.HasGateUsageInfo {
		sb.WriteString(" usage=" + strconv.FormatUint(p.GateUsageInfo, 10) + "B")
	}
	if p.HasUsagePackets {
		sb.WriteString(" packets=" + strconv.FormatUint(p.UsagePackets, 10))
	}
	if p.HasGateTimeInfo {
		sb.WriteString(" time=" + strconv.FormatUint(uint64(p.GateTimeInfo), 10) + "s")
	}
	if p.Error.Code != 0 {
		sb.WriteString(" pc-error=" + p.Error.Code.String())
		if p.Error.Subcode != 0 {
			sb.WriteString("/" + strconv.Itoa(int(p.Error.Subcode)))
		}
	}
	if p.HasGateState {
		sb.WriteString(" state=" + strconv.Itoa(int(p.GateState.State)) + "/" + strconv.Itoa(int(p.GateState.Reason)))
	}
	if p.HasVersion {
		sb.WriteString(" version=" + strconv.Itoa(int(p.Version.Major)) + "." + strconv.Itoa(int(p.Version.Minor)))
	}
	return sb.String()
}
