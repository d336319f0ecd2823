package cops

import (
	"net/netip"

	"github.com/qoslab/qoslab/flow"
)

// Sample values shared by the tests: the FIG. 5 call between UAC
// 198.18.1.2 and UAS 198.18.4.2.

func sampleSession() Session {
	return Session{
		CallID: "a84b4c76e66710@198.18.1.2",
		Side:   flow.Originating,
		Caller: "sip:alice@198.18.1.2",
		Callee: "sip:bob@198.18.4.2",
		Media: []MediaFlow{
			{Dir: Forward, Tuple: flow.Tuple{Proto: 17, Src: netip.MustParseAddrPort("198.18.1.2:20000"), Dst: netip.MustParseAddrPort("198.18.4.2:30000")}},
			{Dir: Backward, Tuple: flow.Tuple{Proto: 17, Src: netip.MustParseAddrPort("198.18.4.2:30000"), Dst: netip.MustParseAddrPort("198.18.1.2:20000")}},
		},
		Class:     "EF",
		Bandwidth: 87200,
		Token:     []byte("token-bytes-from-the-clearinghouse"),
	}
}

func sampleGateSet() PCMM {
	p := PCMM{
		TransactionID: 5,
		Command:       GateSet,
		AMID:          AMID{AppType: 1, Tag: 0x5153},
		HasAMID:       true,
		SubscriberID:  netip.MustParseAddr("198.18.1.2"),
		HasGateSpec:   true,
		GateSpec:      GateSpec{SessionClass: 1, T1: 30},
		Classifiers: []Classifier{{
			Proto: 17, Src: netip.MustParseAddr("198.18.1.2"), Dst: netip.MustParseAddr("198.18.4.2"),
			SrcPort: 20000, DstPort: 30000, Priority: 64,
		}},
		TrafficProfile: TrafficProfile{Kind: ProfileServiceClassName, Envelope: 7, ServiceClassName: "EF"},
	}
	p.GateSpec.SetDSCP(46)
	return p
}

// sampleMessages returns one message of every kind, with the client data
// the lab puts in them.
func sampleMessages() map[string]*Message {
	s := sampleSession()
	sess, _ := s.AppendTo(nil)
	s.Result, s.Reason = 200, "admitted"
	decSess, _ := s.AppendTo(nil)
	gs := sampleGateSet()
	gsb, _ := gs.AppendTo(nil)
	ack := PCMM{TransactionID: 5, Command: GateSetAck, HasAMID: true, AMID: gs.AMID,
		SubscriberID: gs.SubscriberID, HasGateID: true, GateID: 0x2a}
	ackb, _ := ack.AppendTo(nil)
	del := PCMM{TransactionID: 6, Command: GateDelete, HasAMID: true, AMID: gs.AMID,
		SubscriberID: gs.SubscriberID, HasGateID: true, GateID: 0x2a}
	delb, _ := del.AppendTo(nil)
	delAck := PCMM{TransactionID: 6, Command: GateDeleteAck, HasAMID: true, AMID: gs.AMID,
		SubscriberID: gs.SubscriberID, HasGateID: true, GateID: 0x2a,
		HasGateUsageInfo: true, GateUsageInfo: 160000, HasUsagePackets: true, UsagePackets: 1000,
		HasGateTimeInfo: true, GateTimeInfo: 20}
	delAckb, _ := delAck.AppendTo(nil)
	ver := PCMM{Command: 0, HasVersion: true, Version: VersionInfo{5, 0}}
	verb, _ := ver.AppendTo(nil)
	all := fullPCMM()
	allb, err := all.AppendTo(nil)
	if err != nil {
		panic(err)
	}
	s6 := s
	s6.Media = []MediaFlow{{Dir: Forward, Tuple: flow.Tuple{Proto: 17, Src: netip.MustParseAddrPort("[2001:db8::2]:20000"), Dst: netip.MustParseAddrPort("[2001:db8:4::2]:30000")}}}
	sess6b, _ := s6.AppendTo(nil)
	sess6 := ClientTypeSession
	pc := ClientTypePCMM
	return map[string]*Message{
		"REQ-AAA": {Header: Header{Op: OpREQ, ClientType: sess6}, Handle: 7, Context: KindAAA.Context(),
			ClientSI: []ClientSI{{Data: sess}}},
		"REQ-LDP": {Header: Header{Op: OpREQ, ClientType: sess6}, Handle: 7, Context: KindLDP.Context(),
			InInterface: Interface{Addr: netip.MustParseAddr("198.18.1.1"), IfIndex: 2},
			ClientSI:    []ClientSI{{Data: sess}}},
		"DEC-Install": {Header: Header{Op: OpDEC, Flags: FlagSolicited, ClientType: sess6}, Handle: 7,
			Decisions: []Decision{{Context: KindAAA.Context(), Command: CommandInstall, ClientData: decSess}}},
		"DEC-Error": {Header: Header{Op: OpDEC, Flags: FlagSolicited, ClientType: sess6}, Handle: 7,
			Error: Error{Code: ErrUnableToProcess, Subcode: 3}},
		"DRQ": {Header: Header{Op: OpDRQ, ClientType: sess6}, Handle: 7, Reason: Reason{Code: ReasonTear}},
		"SSQ": {Header: Header{Op: OpSSQ, ClientType: sess6}},
		"SSC": {Header: Header{Op: OpSSC, ClientType: sess6}, HasHandle: true, Handle: 9},
		"OPN": {Header: Header{Op: OpOPN, ClientType: sess6}, PEPID: "sip1", LastPDP: netip.MustParseAddrPort("198.18.9.1:3288")},
		"CAT": {Header: Header{Op: OpCAT, ClientType: sess6}, KATimer: 30, AcctTimer: 60},
		"CC":  {Header: Header{Op: OpCC, ClientType: sess6}, Error: Error{Code: ErrShuttingDown}},
		"CC-Redirect": {Header: Header{Op: OpCC, ClientType: sess6}, Error: Error{Code: ErrRedirect},
			Redirect: netip.MustParseAddrPort("[2001:db8::1]:3288")},
		"KA": {Header: Header{Op: OpKA}},
		"REQ-all-objects": {Header: Header{Op: OpREQ, ClientType: sess6}, Handle: 0xdeadbeef, Context: KindLDP.Context(),
			InInterface:  Interface{Addr: netip.MustParseAddr("2001:db8::1"), IfIndex: 3},
			OutInterface: Interface{Addr: netip.MustParseAddr("198.18.2.1"), IfIndex: 4},
			LPDPDecisions: []LPDPDecision{{Command: CommandInstall, Flags: DecisionTriggerError},
				{Context: KindAAA.Context(), Command: CommandNull, Stateless: []byte{1, 2, 3}}},
			ClientSI: []ClientSI{{Data: sess6b}, {Data: []byte{1, 0, 0, 0}}}},
		"DEC-all-data": {Header: Header{Op: OpDEC, Flags: FlagSolicited, ClientType: sess6}, Handle: 1,
			Decisions: []Decision{
				{Command: CommandInstall, Stateless: []byte{1}, Replacement: []byte{2, 2}, ClientData: decSess, NamedData: []byte{4, 4, 4, 4, 4}},
				{Context: KindNoLDP.Context(), Command: CommandRemove, Flags: DecisionTriggerError}},
			HasIntegrity: true, Integrity: Integrity{KeyID: 9, Seq: 1 << 31, Digest: make([]byte, 16)}},
		"RPT-Accounting": {Header: Header{Op: OpRPT, ClientType: sess6}, Handle: 2, ReportType: ReportAccounting,
			ClientSI: []ClientSI{{Data: []byte("acct")}}},
		"PCMM-RPT-Gate-Info-Ack-all-objects": {Header: Header{Op: OpRPT, Flags: FlagSolicited, ClientType: pc}, Handle: 1,
			ReportType: ReportSuccess, ClientSI: []ClientSI{{Data: allb}}},
		"KA-Integrity": {Header: Header{Op: OpKA}, HasIntegrity: true,
			Integrity: Integrity{KeyID: 1, Seq: 2, Digest: make([]byte, 16)}},
		"PCMM-OPN": {Header: Header{Op: OpOPN, ClientType: pc}, PEPID: "r1", ClientSI: []ClientSI{{Data: verb}}},
		"PCMM-REQ": {Header: Header{Op: OpREQ, ClientType: pc}, Handle: 1, Context: Context{RType: RTypeConfigure}},
		"PCMM-DEC-Gate-Set": {Header: Header{Op: OpDEC, ClientType: pc}, Handle: 1,
			Decisions: []Decision{{Context: Context{RType: RTypeConfigure}, Command: CommandInstall, ClientData: gsb}}},
		"PCMM-RPT-Gate-Set-Ack": {Header: Header{Op: OpRPT, Flags: FlagSolicited, ClientType: pc}, Handle: 1,
			ReportType: ReportSuccess, ClientSI: []ClientSI{{Data: ackb}}},
		"PCMM-DEC-Gate-Delete": {Header: Header{Op: OpDEC, ClientType: pc}, Handle: 1,
			Decisions: []Decision{{Context: Context{RType: RTypeConfigure}, Command: CommandRemove, ClientData: delb}}},
		"PCMM-RPT-Gate-Delete-Ack": {Header: Header{Op: OpRPT, Flags: FlagSolicited, ClientType: pc}, Handle: 1,
			ReportType: ReportSuccess, ClientSI: []ClientSI{{Data: delAckb}}},
	}
}

// fullPCMM has every PCMM object this package models, and one it does not.
func fullPCMM() PCMM {
	p := PCMM{
		TransactionID: 0xffff, Command: GateInfoAck,
		HasAMID: true, AMID: AMID{AppType: 2, Tag: 3},
		SubscriberID: netip.MustParseAddr("2001:db8::2"),
		HasGateID:    true, GateID: 0x12345678,
		HasGateSpec: true, GateSpec: GateSpec{Flags: GateUpstream, SessionClass: 2, T1: 1, T2: 2, T3: 3, T4: 4},
		Classifiers: []Classifier{
			{Proto: 6, TOS: 0xb8, TOSMask: 0xfc, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), SrcPort: 1, DstPort: 2, Priority: 1},
			{Extended: true, Proto: 17, Src: netip.MustParseAddr("198.18.1.2"), SrcMask: netip.MustParseAddr("255.255.255.255"),
				Dst: netip.MustParseAddr("198.18.4.0"), DstMask: netip.MustParseAddr("255.255.255.0"),
				SrcPort: 20000, SrcPortEnd: 20001, DstPort: 30000, DstPortEnd: 30001, ID: 7, Priority: 64, Activation: 1, Action: 0},
		},
		TrafficProfile: TrafficProfile{Kind: ProfileFlowSpec, Envelope: 5, ServiceNumber: 2,
			FlowSpec: [3]FlowSpecParams{{TokenRate: 10900, BucketSize: 218, PeakRate: 10900, MinPoliced: 218, MaxPacket: 218, Rate: 10900, Slack: 1000},
				{TokenRate: 1.5, BucketSize: 2, PeakRate: 3, MinPoliced: 4, MaxPacket: 5, Rate: 6, Slack: 7}}},
		HasEventGenInfo: true, EventGenInfo: EventGenInfo{PrimaryRKS: netip.MustParseAddrPort("198.18.9.9:1813"), Flags: 1,
			SecondaryRKS: netip.MustParseAddrPort("198.18.9.10:1814")},
		HasVolumeLimit: true, VolumeLimit: 1 << 40,
		HasTimeLimit: true, TimeLimit: 3600,
		HasGateTimeInfo: true, GateTimeInfo: 61,
		HasGateUsageInfo: true, GateUsageInfo: 1 << 33,
		HasUsagePackets: true, UsagePackets: 123456,
		Error:        PCMMError{Code: PCErrOther, Subcode: 5},
		HasGateState: true, GateState: GateState{State: 4, Reason: 2},
		HasVersion: true, Version: VersionInfo{Major: 5, Minor: 0},
		Other: []RawObject{{SNum: 17, SType: 1, Body: []byte{0, 0, 0, 9}}},
	}
	copy(p.EventGenInfo.BillingCorrelationID[:], "\x00\x00\x00\x01qoslabR1+0000000\x00\x00\x00\x02")
	return p
}
