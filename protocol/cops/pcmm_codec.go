package cops

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
)

// pcmmHeader appends a PCMM object header (length, S-Num, S-Type).
func pcmmHeader(b []byte, snum, stype uint8, bodyLen int) []byte {
	n := 4 + bodyLen
	return append(b, byte(n>>8), byte(n), snum, stype)
}

func append4(b []byte, a netip.Addr) []byte {
	v := a.As4()
	return append(b, v[:]...)
}

// AppendTo appends the PCMM objects of p to b in S-Num order. The
// Transaction ID object is written when Command is not 0 (an OPN carries
// only Version Info). It does not
// allocate when b has room. It fails on values the wire cannot carry (an
// IPv6 address in an IPv4 field, an over-long service class name).
func (p *PCMM) AppendTo(b []byte) ([]byte, error) {
	start := len(b)
	fail := func(format string, args ...any) ([]byte, error) {
		return b[:start], fmt.Errorf("cops: pcmm: "+format, args...)
	}
	if p.Command != 0 {
		b = pcmmHeader(b, sTransactionID, 1, 4)
		b = binary.BigEndian.AppendUint16(b, p.TransactionID)
		b = binary.BigEndian.AppendUint16(b, uint16(p.Command))
	}
	if p.HasAMID {
		b = pcmmHeader(b, sAMID, 1, 4)
		b = binary.BigEndian.AppendUint16(b, p.AMID.AppType)
		b = binary.BigEndian.AppendUint16(b, p.AMID.Tag)
	}
	if a := p.SubscriberID; a.IsValid() {
		if a.Is4() {
			b = append4(pcmmHeader(b, sSubscriberID, 1, 4), a)
		} else {
			v := a.As16()
			b = append(pcmmHeader(b, sSubscriberID, 2, 16), v[:]...)
		}
	}
	if p.HasGateID {
		b = binary.BigEndian.AppendUint32(pcmmHeader(b, sGateID, 1, 4), p.GateID)
	}
	if p.HasGateSpec {
		g := p.GateSpec
		b = pcmmHeader(b, sGateSpec, 1, 12)
		b = append(b, byte(g.Flags), g.TOSOverwrite, g.TOSMask, g.SessionClass)
		for _, t := range [...]uint16{g.T1, g.T2, g.T3, g.T4} {
			b = binary.BigEndian.AppendUint16(b, t)
		}
	}
	for i := range p.Classifiers {
		c := &p.Classifiers[i]
		if !is4(c.Src) || !is4(c.Dst) || (c.Extended && (!is4(c.SrcMask) || !is4(c.DstMask))) {
			return fail("classifier %d: addresses must be IPv4", i)
		}
		if !c.Extended {
			b = pcmmHeader(b, sClassifier, 1, 20)
			b = binary.BigEndian.AppendUint16(b, c.Proto)
			b = append(b, c.TOS, c.TOSMask)
			b = append4(append4(b, c.Src), c.Dst)
			b = binary.BigEndian.AppendUint16(b, c.SrcPort)
			b = binary.BigEndian.AppendUint16(b, c.DstPort)
			b = append(b, c.Priority, 0, 0, 0)
			continue
		}
		b = pcmmHeader(b, sClassifier, 2, 36)
		b = binary.BigEndian.AppendUint16(b, c.Proto)
		b = append(b, c.TOS, c.TOSMask)
		b = append4(append4(append4(append4(b, c.Src), c.SrcMask), c.Dst), c.DstMask)
		for _, v := range [...]uint16{c.SrcPort, c.SrcPortEnd, c.DstPort, c.DstPortEnd, c.ID} {
			b = binary.BigEndian.AppendUint16(b, v)
		}
		b = append(b, c.Priority, c.Activation, c.Action, 0, 0, 0)
	}
	switch tp := &p.TrafficProfile; tp.Kind {
	case 0:
	case ProfileServiceClassName:
		n := len(tp.ServiceClassName)
		if n < 2 || n > 15 {
			return fail("service class name %q must be 2-15 octets", tp.ServiceClassName)
		}
		body := 4 + (n+1+3)&^3
		b = pcmmHeader(b, sTrafficProf, 2, body)
		b = append(b, tp.Envelope, 0, 0, 0)
		b = append(b, tp.ServiceClassName...)
		for i := n; i < body-4; i++ {
			b = append(b, 0)
		}
	case ProfileFlowSpec:
		n := envelopes(tp.Envelope)
		if n == 0 {
			return fail("flow spec with envelope 0")
		}
		b = pcmmHeader(b, sTrafficProf, 1, 4+28*n)
		b = append(b, tp.Envelope, tp.ServiceNumber, 0, 0)
		for _, f := range tp.FlowSpec[:n] {
			b = binary.BigEndian.AppendUint32(b, math.Float32bits(f.TokenRate))
			b = binary.BigEndian.AppendUint32(b, math.Float32bits(f.BucketSize))
			b = binary.BigEndian.AppendUint32(b, math.Float32bits(f.PeakRate))
			b = binary.BigEndian.AppendUint32(b, f.MinPoliced)
			b = binary.BigEndian.AppendUint32(b, f.MaxPacket)
			b = binary.BigEndian.AppendUint32(b, math.Float32bits(f.Rate))
			b = binary.BigEndian.AppendUint32(b, f.Slack)
		}
	default:
		if len(tp.Raw)%4 != 0 || len(tp.Raw) > 0xFFFF-4 {
			return fail("traffic profile S-Type %d body of %d octets", tp.Kind, len(tp.Raw))
		}
		b = append(pcmmHeader(b, sTrafficProf, uint8(tp.Kind), len(tp.Raw)), tp.Raw...)
	}
	if p.HasEventGenInfo {
		e := &p.EventGenInfo
		if !is4(e.PrimaryRKS.Addr()) || !is4(e.SecondaryRKS.Addr()) {
			return fail("event generation info: RKS addresses must be IPv4")
		}
		b = pcmmHeader(b, sEventGenInfo, 1, 40)
		b = append4(b, e.PrimaryRKS.Addr())
		b = binary.BigEndian.AppendUint16(b, e.PrimaryRKS.Port())
		b = append(b, e.Flags, 0)
		b = append4(b, e.SecondaryRKS.Addr())
		b = binary.BigEndian.AppendUint16(b, e.SecondaryRKS.Port())
		b = append(b, 0, 0)
		b = append(b, e.BillingCorrelationID[:]...)
	}
	if p.HasVolumeLimit {
		b = binary.BigEndian.AppendUint64(pcmmHeader(b, sVolumeLimit, 1, 8), p.VolumeLimit)
	}
	if p.HasTimeLimit {
		b = binary.BigEndian.AppendUint32(pcmmHeader(b, sTimeLimit, 1, 4), p.TimeLimit)
	}
	if p.HasUsagePackets {
		if !p.Command.carriesUsage() || p.Opaque != nil {
			return fail("packet usage is carried only by Gate-Info-Ack, Gate-Delete-Ack and Gate-Report-State without other Opaque Data")
		}
		b = binary.BigEndian.AppendUint64(pcmmHeader(b, sOpaqueData, 1, 8), p.UsagePackets)
	}
	if p.Opaque != nil {
		if p.Command.carriesUsage() && len(p.Opaque) == 8 {
			return fail("8 octets of Opaque Data in %s would read as a packet count", p.Command)
		}
		if len(p.Opaque)%4 != 0 || len(p.Opaque) > 0xFFFF-4 {
			return fail("opaque data of %d octets is not a multiple of 4 below 64 KiB", len(p.Opaque))
		}
		b = append(pcmmHeader(b, sOpaqueData, 1, len(p.Opaque)), p.Opaque...)
	}
	if p.HasGateTimeInfo {
		b = binary.BigEndian.AppendUint32(pcmmHeader(b, sGateTimeInfo, 1, 4), p.GateTimeInfo)
	}
	if p.HasGateUsageInfo {
		b = binary.BigEndian.AppendUint64(pcmmHeader(b, sGateUsageInfo, 1, 8), p.GateUsageInfo)
	}
	if p.Error.Code != 0 {
		b = pcmmHeader(b, sPCError, 1, 4)
		b = binary.BigEndian.AppendUint16(b, uint16(p.Error.Code))
		b = binary.BigEndian.AppendUint16(b, p.Error.Subcode)
	}
	if p.HasGateState {
		b = pcmmHeader(b, sGateState, 1, 4)
		b = binary.BigEndian.AppendUint16(b, p.GateState.State)
		b = binary.BigEndian.AppendUint16(b, p.GateState.Reason)
	}
	if p.HasVersion {
		b = pcmmHeader(b, sVersionInfo, 1, 4)
		b = binary.BigEndian.AppendUint16(b, p.Version.Major)
		b = binary.BigEndian.AppendUint16(b, p.Version.Minor)
	}
	for _, o := range p.Other {
		if len(o.Body)%4 != 0 || len(o.Body) > 0xFFFF-4 {
			return fail("object S-Num %d body of %d octets", o.SNum, len(o.Body))
		}
		b = append(pcmmHeader(b, o.SNum, o.SType, len(o.Body)), o.Body...)
	}
	return b, nil
}

func is4(a netip.Addr) bool { return a.IsValid() && a.Is4() }

// Decode parses PCMM objects (the body of a ClientSI or client-specific
// decision object) into p, replacing its contents and reusing its slices.
// Byte slices in p point into b. An object seen twice (other than
// Classifier) is an error. A missing Transaction ID leaves Command 0; gate
// messages without one are refused by the connection layer, not here,
// because an OPN's ClientSI legitimately has none.
func (p *PCMM) Decode(b []byte) error {
	cls, other := p.Classifiers[:0], p.Other[:0]
	*p = PCMM{}
	var seen uint32
	for off := 0; off < len(b); {
		if len(b)-off < 4 {
			return protoErr(ErrBadMessageFormat, off, "pcmm: truncated object header")
		}
		n := int(binary.BigEndian.Uint16(b[off:]))
		snum, stype := b[off+2], b[off+3]
		if n < 4 || n%4 != 0 || n > len(b)-off {
			return protoErr(ErrBadMessageFormat, off, "pcmm: S-Num %d length %d invalid or overruns %d octets", snum, n, len(b)-off)
		}
		v := b[off+4 : off+n : off+n]
		bad := func(what string) error {
			return protoErr(ErrBadMessageFormat, off, "pcmm: S-Num %d S-Type %d: %s (%d octets)", snum, stype, what, len(v))
		}
		if snum >= 1 && snum <= sVersionInfo && snum != sClassifier && snum != sOpaqueData {
			if seen&(1<<snum) != 0 {
				return bad("object repeated")
			}
			seen |= 1 << snum
		}
		u16 := func(i int) uint16 { return binary.BigEndian.Uint16(v[i:]) }
		u32 := func(i int) uint32 { return binary.BigEndian.Uint32(v[i:]) }
		ip4 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte(v[i : i+4])) }
		want := func(st uint8, l int) bool { return stype == st && len(v) == l }
		switch snum {
		case sTransactionID:
			if !want(1, 4) {
				return bad("bad transaction id")
			}
			p.TransactionID, p.Command = u16(0), GateCommand(u16(2))
			if p.Command == 0 {
				return bad("gate command type 0")
			}
		case sAMID:
			if !want(1, 4) {
				return bad("bad AMID")
			}
			p.AMID, p.HasAMID = AMID{u16(0), u16(2)}, true
		case sSubscriberID:
			switch {
			case want(1, 4):
				p.SubscriberID = ip4(0)
			case want(2, 16):
				p.SubscriberID = netip.AddrFrom16([16]byte(v))
			default:
				return bad("bad subscriber id")
			}
		case sGateID:
			if !want(1, 4) {
				return bad("bad gate id")
			}
			p.GateID, p.HasGateID = u32(0), true
		case sGateSpec:
			if !want(1, 12) {
				return bad("bad gate spec")
			}
			p.GateSpec = GateSpec{Flags: GateSpecFlags(v[0]), TOSOverwrite: v[1], TOSMask: v[2], SessionClass: v[3],
				T1: u16(4), T2: u16(6), T3: u16(8), T4: u16(10)}
			p.HasGateSpec = true
		case sClassifier:
			switch {
			case want(1, 20):
				cls = append(cls, Classifier{Proto: u16(0), TOS: v[2], TOSMask: v[3], Src: ip4(4), Dst: ip4(8),
					SrcPort: u16(12), DstPort: u16(14), Priority: v[16]})
			case want(2, 36):
				cls = append(cls, Classifier{Extended: true, Proto: u16(0), TOS: v[2], TOSMask: v[3],
					Src: ip4(4), SrcMask: ip4(8), Dst: ip4(12), DstMask: ip4(16),
					SrcPort: u16(20), SrcPortEnd: u16(22), DstPort: u16(24), DstPortEnd: u16(26), ID: u16(28),
					Priority: v[30], Activation: v[31], Action: v[32]})
			default:
				other = append(other, RawObject{snum, stype, v})
			}
		case sTrafficProf:
			if err := p.TrafficProfile.decode(stype, v); err != nil {
				return bad(err.Error())
			}
		case sEventGenInfo:
			if !want(1, 40) {
				return bad("bad event generation info")
			}
			e := &p.EventGenInfo
			e.PrimaryRKS = netip.AddrPortFrom(ip4(0), u16(4))
			e.Flags = v[6]
			e.SecondaryRKS = netip.AddrPortFrom(ip4(8), u16(12))
			copy(e.BillingCorrelationID[:], v[16:40])
			p.HasEventGenInfo = true
		case sVolumeLimit:
			if !want(1, 8) {
				return bad("bad volume limit")
			}
			p.VolumeLimit, p.HasVolumeLimit = binary.BigEndian.Uint64(v), true
		case sTimeLimit:
			if !want(1, 4) {
				return bad("bad time limit")
			}
			p.TimeLimit, p.HasTimeLimit = u32(0), true
		case sOpaqueData:
			switch {
			case p.HasUsagePackets || p.Opaque != nil:
				return bad("opaque data repeated")
			case len(v) == 8 && p.Command.carriesUsage():
				p.UsagePackets, p.HasUsagePackets = binary.BigEndian.Uint64(v), true
			default:
				p.Opaque = v
			}
		case sGateTimeInfo:
			if !want(1, 4) {
				return bad("bad gate time info")
			}
			p.GateTimeInfo, p.HasGateTimeInfo = u32(0), true
		case sGateUsageInfo:
			if !want(1, 8) {
				return bad("bad gate usage info")
			}
			p.GateUsageInfo, p.HasGateUsageInfo = binary.BigEndian.Uint64(v), true
		case sPCError:
			if !want(1, 4) || u16(0) == 0 {
				return bad("bad PacketCable error")
			}
			p.Error = PCMMError{PCMMErrorCode(u16(0)), u16(2)}
		case sGateState:
			if !want(1, 4) {
				return bad("bad gate state")
			}
			p.GateState, p.HasGateState = GateState{u16(0), u16(2)}, true
		case sVersionInfo:
			if !want(1, 4) {
				return bad("bad version info")
			}
			p.Version, p.HasVersion = VersionInfo{u16(0), u16(2)}, true
		default:
			other = append(other, RawObject{snum, stype, v})
		}
		off += n
	}
	if len(p.Opaque) == 8 && p.Command.carriesUsage() { // Opaque Data came before the Transaction ID
		p.UsagePackets, p.HasUsagePackets, p.Opaque = binary.BigEndian.Uint64(p.Opaque), true, nil
	}
	if len(cls) > 0 {
		p.Classifiers = cls
	}
	if len(other) > 0 {
		p.Other = other
	}
	return nil
}

func (tp *TrafficProfile) decode(stype uint8, v []byte) error {
	*tp = TrafficProfile{Kind: TrafficProfileKind(stype)}
	switch TrafficProfileKind(stype) {
	case 0:
		return fmt.Errorf("S-Type 0")
	case ProfileServiceClassName:
		if len(v) < 8 || len(v) > 20 {
			return fmt.Errorf("service class name body")
		}
		tp.Envelope = v[0]
		name := v[4:]
		end := 0
		for end < len(name) && name[end] != 0 {
			end++
		}
		if end == len(name) || end < 2 {
			return fmt.Errorf("service class name not NUL-terminated or too short")
		}
		for _, c := range name[:end] {
			if c < 0x20 || c > 0x7e {
				return fmt.Errorf("service class name not printable")
			}
		}
		for _, c := range name[end:] {
			if c != 0 {
				return fmt.Errorf("service class name padding not zero")
			}
		}
		tp.ServiceClassName = string(name[:end])
	case ProfileFlowSpec:
		if len(v) < 4 {
			return fmt.Errorf("flow spec body")
		}
		tp.Envelope, tp.ServiceNumber = v[0], v[1]
		n := envelopes(tp.Envelope)
		if n == 0 || tp.Envelope > 7 || len(v) != 4+28*n {
			return fmt.Errorf("flow spec envelope %d with %d octets", tp.Envelope, len(v))
		}
		for i := 0; i < n; i++ {
			w := v[4+28*i:]
			f32 := func(j int) float32 { return math.Float32frombits(binary.BigEndian.Uint32(w[j:])) }
			tp.FlowSpec[i] = FlowSpecParams{TokenRate: f32(0), BucketSize: f32(4), PeakRate: f32(8),
				MinPoliced: binary.BigEndian.Uint32(w[12:]), MaxPacket: binary.BigEndian.Uint32(w[16:]),
				Rate: f32(20), Slack: binary.BigEndian.Uint32(w[24:])}
		}
	default:
		tp.Raw = v
	}
	return nil
}
