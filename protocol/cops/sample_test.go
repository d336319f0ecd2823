package cops

import "net/netip"

// Sample values shared by the tests: the FIG. 5 call between UAC
// 198.18.1.2 and UAS 198.18.4.2.

func sampleSession() Session {
	return Session{
		CallID: "a84b4c76e66710@198.18.1.2",
		Side:   SideOriginating,
		Caller: "sip:alice@198.18.1.2",
		Callee: "sip:bob@198.18.4.2",
		Media: []MediaFlow{
			{Dir: Forward, Proto: 17, Src: netip.MustParseAddrPort("198.18.1.2:20000"), Dst: netip.MustParseAddrPort("198.18.4.2:30000")},
			{Dir: Backward, Proto: 17, Src: netip.MustParseAddrPort("198.18.4.2:30000"), Dst: netip.MustParseAddrPort("198.18.1.2:20000")},
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
