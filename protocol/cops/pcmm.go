package cops

import (
	"net/netip"
	"strconv"
)

// PCMM is the set of PacketCable Multimedia objects (client-type 0x800A)
// carried by one COPS message on the router leg: in the client-specific
// decision data (Decision C-Type 4) of a DEC from the policy server, and in
// the ClientSI of an RPT from the router. Layouts follow PKT-SP-MM (I05) as
// Wireshark's packet-cops.c decodes them. Each object is optional on the wire
// except the Transaction ID; the Has* fields (or a zero value where noted)
// tell which are present.
type PCMM struct {
	TransactionID uint16
	Command       GateCommand

	AMID    AMID
	HasAMID bool

	// SubscriberID is absent when invalid.
	SubscriberID netip.Addr

	GateID    uint32
	HasGateID bool

	GateSpec    GateSpec
	HasGateSpec bool

	Classifiers []Classifier

	// TrafficProfile is absent when its Kind is 0.
	TrafficProfile TrafficProfile

	EventGenInfo    EventGenInfo
	HasEventGenInfo bool

	VolumeLimit    uint64 // octets
	HasVolumeLimit bool
	TimeLimit      uint32 // seconds
	HasTimeLimit   bool

	// GateTimeInfo is the time in seconds the gate has been committed; the
	// router reports it in Gate-Info-Ack and Gate-Delete-Ack.
	GateTimeInfo    uint32
	HasGateTimeInfo bool
	// GateUsageInfo is the number of octets that matched the gate (and were
	// marked); the router reports it in Gate-Info-Ack and Gate-Delete-Ack.
	GateUsageInfo    uint64
	HasGateUsageInfo bool
	// UsagePackets is the number of packets that matched the gate. PCMM has
	// no object for it, so qoslab carries it in an Opaque Data object of
	// exactly 8 octets (big-endian count) in Gate-Info-Ack, Gate-Delete-Ack
	// and Gate-Report-State; Wireshark shows those 8 octets in hex.
	UsagePackets    uint64
	HasUsagePackets bool
	// Opaque is the body of any other Opaque Data object; nil means absent.
	Opaque []byte

	// Error is absent when its Code is 0.
	Error PCMMError

	GateState    GateState
	HasGateState bool

	Version    VersionInfo
	HasVersion bool

	// Other keeps objects this package does not model (S-Num 17 and up,
	// IPv6 classifier), so a decode-encode round trip loses nothing.
	Other []RawObject
}

// RawObject is a PCMM object kept as it was on the wire.
type RawObject struct {
	SNum, SType uint8
	Body        []byte
}

// GateCommand is the gate command type of the PCMM Transaction ID object.
type GateCommand uint16

// Gate command types.
const (
	GateSet         GateCommand = 4
	GateSetAck      GateCommand = 5
	GateSetErr      GateCommand = 6
	GateInfo        GateCommand = 7
	GateInfoAck     GateCommand = 8
	GateInfoErr     GateCommand = 9
	GateDelete      GateCommand = 10
	GateDeleteAck   GateCommand = 11
	GateDeleteErr   GateCommand = 12
	GateReportState GateCommand = 15
	GateCmdErr      GateCommand = 16
)

var gateCommandNames = map[GateCommand]string{
	GateSet: "Gate-Set", GateSetAck: "Gate-Set-Ack", GateSetErr: "Gate-Set-Err",
	GateInfo: "Gate-Info", GateInfoAck: "Gate-Info-Ack", GateInfoErr: "Gate-Info-Err",
	GateDelete: "Gate-Delete", GateDeleteAck: "Gate-Delete-Ack", GateDeleteErr: "Gate-Delete-Err",
	GateReportState: "Gate-Report-State", GateCmdErr: "Gate-Cmd-Err",
}

// String names the command ("Gate-Set", ...).
func (g GateCommand) String() string {
	if s, ok := gateCommandNames[g]; ok {
		return s
	}
	return "Gate-Command(" + strconv.Itoa(int(g)) + ")"
}

// IsRequest reports whether g is sent by the policy server (a DEC).
func (g GateCommand) IsRequest() bool { return g == GateSet || g == GateInfo || g == GateDelete }

// Ack returns the success reply to a request command, Err the failure one.
func (g GateCommand) Ack() GateCommand { return g + 1 }

// Err returns the error reply to a request command.
func (g GateCommand) Err() GateCommand { return g + 2 }

// IsErr reports whether g is an error reply.
func (g GateCommand) IsErr() bool {
	return g == GateSetErr || g == GateInfoErr || g == GateDeleteErr || g == GateCmdErr
}

// AMID is the Application Manager ID object (S-Num 2).
type AMID struct {
	AppType uint16
	Tag     uint16
}

// GateSpecFlags are the flag bits of the Gate Spec.
type GateSpecFlags uint8

// Gate Spec flags.
const (
	GateUpstream     GateSpecFlags = 0x1 // direction: 0 downstream, 1 upstream
	GateDSCPOverride GateSpecFlags = 0x2 // DSCP/TOS overwrite enabled
)

// GateSpec is the Gate Spec object (S-Num 5). With GateDSCPOverride set, the
// router rewrites the IPv4 TOS byte as (tos &^ TOSMask) | (TOSOverwrite &
// TOSMask). To mark a DSCP the TOS overwrite byte carries DSCP<<2 and the
// mask is 0xFC, so EF (46) is 0xB8/0xFC; SetDSCP does that.
type GateSpec struct {
	Flags        GateSpecFlags
	TOSOverwrite uint8
	TOSMask      uint8
	SessionClass uint8
	T1, T2       uint16 // seconds
	T3, T4       uint16 // seconds
}

// SetDSCP turns on DSCP overwrite with the given code point (0-63).
func (g *GateSpec) SetDSCP(dscp uint8) {
	g.Flags |= GateDSCPOverride
	g.TOSOverwrite = dscp << 2
	g.TOSMask = 0xFC
}

// DSCP returns the code point the gate marks, and false if the gate does
// not overwrite DSCP (flag off, or a mask that does not cover the DSCP bits).
func (g GateSpec) DSCP() (uint8, bool) {
	if g.Flags&GateDSCPOverride == 0 || g.TOSMask&0xFC != 0xFC {
		return 0, false
	}
	return g.TOSOverwrite >> 2, true
}

// Classifier is a Classifier object (S-Num 6): S-Type 1 (the legacy
// classifier) or, when Extended, S-Type 2 (the extended classifier with
// masks and port ranges).
type Classifier struct {
	Extended bool
	Proto    uint16 // IP protocol number, 0 = any
	TOS      uint8
	TOSMask  uint8
	Src      netip.Addr
	Dst      netip.Addr
	SrcPort  uint16
	DstPort  uint16
	Priority uint8

	// Extended classifier only.
	SrcMask    netip.Addr
	DstMask    netip.Addr
	SrcPortEnd uint16
	DstPortEnd uint16
	ID         uint16
	Activation uint8 // 0 inactive, 1 active
	Action     uint8 // 0 add, 1 replace, 2 delete, 3 no change
}

// String renders "udp 198.18.1.2:20000->198.18.4.2:30000".
func (c Classifier) String() string {
	s := protoName(uint8(c.Proto)) + " " + netip.AddrPortFrom(c.Src, c.SrcPort).String() + "->" + netip.AddrPortFrom(c.Dst, c.DstPort).String()
	if c.Extended && (c.SrcPortEnd != c.SrcPort || c.DstPortEnd != c.DstPort) {
		s += " ports " + strconv.Itoa(int(c.SrcPort)) + "-" + strconv.Itoa(int(c.SrcPortEnd)) + "->" + strconv.Itoa(int(c.DstPort)) + "-" + strconv.Itoa(int(c.DstPortEnd))
	}
	return s
}

// TrafficProfileKind is the S-Type of the Traffic Profile object (S-Num 7).
type TrafficProfileKind uint8

// Traffic profile kinds this package models; the DOCSIS parameter kinds
// (S-Type 3-8) are kept as Raw.
const (
	ProfileFlowSpec         TrafficProfileKind = 1
	ProfileServiceClassName TrafficProfileKind = 2
)

// TrafficProfile is the Traffic Profile object (S-Num 7).
type TrafficProfile struct {
	Kind     TrafficProfileKind // 0: absent
	Envelope uint8              // bit 0 authorized, 1 reserved, 2 committed
	// ServiceClassName for ProfileServiceClassName (2-15 ASCII octets).
	ServiceClassName string
	// FlowSpec for ProfileFlowSpec: ServiceNumber and one parameter set per
	// envelope bit, in bit order.
	ServiceNumber uint8
	FlowSpec      [3]FlowSpecParams
	// Raw is the body after the 4-octet S-Num header for other kinds.
	Raw []byte
}

// FlowSpecParams is one envelope of an RSVP-style flow spec (RFC 2210
// TSpec and RSpec), as PCMM's Flow Spec traffic profile carries it.
type FlowSpecParams struct {
	TokenRate  float32 // r, octets/s
	BucketSize float32 // b, octets
	PeakRate   float32 // p, octets/s
	MinPoliced uint32  // m, octets
	MaxPacket  uint32  // M, octets
	Rate       float32 // R, octets/s
	Slack      uint32  // S, microseconds
}

// envelopes counts the parameter sets an envelope bit field calls for.
func envelopes(e uint8) int {
	n := 0
	for i := 0; i < 3; i++ {
		if e&(1<<i) != 0 {
			n++
		}
	}
	return n
}

// EventGenInfo is the Event Generation Info object (S-Num 8).
type EventGenInfo struct {
	PrimaryRKS   netip.AddrPort
	Flags        uint8
	SecondaryRKS netip.AddrPort
	// BillingCorrelationID: timestamp (4), element id (8), time zone (8),
	// event counter (4).
	BillingCorrelationID [24]byte
}

// PCMMErrorCode is the code of the PacketCable Error object (S-Num 14).
type PCMMErrorCode uint16

// PacketCable error codes (PKT-SP-MM, subset used here).
const (
	PCErrInsufficientResources PCMMErrorCode = 1
	PCErrUnknownGateID         PCMMErrorCode = 2
	PCErrMissingObject         PCMMErrorCode = 6
	PCErrInvalidObject         PCMMErrorCode = 7
	PCErrVolumeLimitExceeded   PCMMErrorCode = 8
	PCErrTimeLimitExceeded     PCMMErrorCode = 9
	PCErrSessionClassExceeded  PCMMErrorCode = 10
	PCErrUndefinedSCN          PCMMErrorCode = 11
	PCErrIncompatibleEnvelope  PCMMErrorCode = 12
	PCErrInvalidSubscriberID   PCMMErrorCode = 13
	PCErrUnauthorizedAMID      PCMMErrorCode = 14
	PCErrClassifiersNotSupp    PCMMErrorCode = 15
	PCErrPolicyException       PCMMErrorCode = 16
	PCErrInvalidFieldValue     PCMMErrorCode = 17
	PCErrTransportError        PCMMErrorCode = 18
	PCErrUnknownGateCommand    PCMMErrorCode = 19
	PCErrOther                 PCMMErrorCode = 127
)

var pcmmErrorNames = map[PCMMErrorCode]string{
	PCErrInsufficientResources: "Insufficient-Resources", PCErrUnknownGateID: "Unknown-GateID",
	PCErrMissingObject: "Missing-Required-Object", PCErrInvalidObject: "Invalid-Object",
	PCErrVolumeLimitExceeded: "Volume-Limit-Exceeded", PCErrTimeLimitExceeded: "Time-Limit-Exceeded",
	PCErrSessionClassExceeded: "Session-Class-Limit-Exceeded", PCErrUndefinedSCN: "Undefined-Service-Class-Name",
	PCErrIncompatibleEnvelope: "Incompatible-Envelope", PCErrInvalidSubscriberID: "Invalid-SubscriberID",
	PCErrUnauthorizedAMID: "Unauthorized-AMID", PCErrClassifiersNotSupp: "Number-Of-Classifiers-Not-Supported",
	PCErrPolicyException: "Policy-Exception", PCErrInvalidFieldValue: "Invalid-Field-Value",
	PCErrTransportError: "Transport-Error", PCErrUnknownGateCommand: "Unknown-Gate-Command",
	PCErrOther: "Other",
}

// String names the PacketCable error code.
func (c PCMMErrorCode) String() string {
	if s, ok := pcmmErrorNames[c]; ok {
		return s
	}
	return "PC-Error(" + strconv.Itoa(int(c)) + ")"
}

// PCMMError is the PacketCable Error object (S-Num 14).
type PCMMError struct {
	Code    PCMMErrorCode
	Subcode uint16
}

// GateState is the Gate State object (S-Num 15) of a Gate-Report-State or
// Gate-Info-Ack.
type GateState struct {
	State  uint16 // 1 idle/closed, 2 authorized, 3 reserved, 4 committed, 5 committed-recovery
	Reason uint16
}

// VersionInfo is the Version Info object (S-Num 16) a router sends in OPN.
type VersionInfo struct {
	Major, Minor uint16
}

// The PCMM version a qoslab router announces in its OPN.
const (
	PCMMVersionMajor = 5
	PCMMVersionMinor = 0
)

// PCMM S-Num values.
const (
	sTransactionID = 1
	sAMID          = 2
	sSubscriberID  = 3
	sGateID        = 4
	sGateSpec      = 5
	sClassifier    = 6
	sTrafficProf   = 7
	sEventGenInfo  = 8
	sVolumeLimit   = 9
	sTimeLimit     = 10
	sOpaqueData    = 11
	sGateTimeInfo  = 12
	sGateUsageInfo = 13
	sPCError       = 14
	sGateState     = 15
	sVersionInfo   = 16
)

// carriesUsage reports whether Opaque Data of 8 octets in a message with
// this command is qoslab's packet count.
func (g GateCommand) carriesUsage() bool {
	return g == GateInfoAck || g == GateDeleteAck || g == GateReportState
}

// String names the traffic profile kind.
func (k TrafficProfileKind) String() string {
	switch k {
	case 0:
		return "none"
	case ProfileFlowSpec:
		return "FlowSpec"
	case ProfileServiceClassName:
		return "ServiceClassName"
	}
	return "TrafficProfile(" + strconv.Itoa(int(k)) + ")"
}

// String names the gate spec flags: direction, then "dscp" if set.
func (f GateSpecFlags) String() string {
	s := "downstream"
	if f&GateUpstream != 0 {
		s = "upstream"
	}
	if f&GateDSCPOverride != 0 {
		s += "|dscp"
	}
	if rest := f &^ (GateUpstream | GateDSCPOverride); rest != 0 {
		s += "|0x" + strconv.FormatUint(uint64(rest), 16)
	}
	return s
}
