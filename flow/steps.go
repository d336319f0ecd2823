package flow

// The patent's two sequences, as docs/FLOW.md tabulates them. A variant
// that renumbers or reorders them is a Sequence of its own (variants.go).

// fig5 is FIG. 5, the call setup, with the callee ringing before it
// answers.
var fig5 = Sequence{
	Phase: Setup,
	Title: "Setup (FIG. 5)",
	Steps: steps(Setup,
		Step{N: 1, Kind: SIPInvite, From: UAC, To: SIP1},
		Step{N: 2, Kind: COPSReqAAA, From: SIP1, To: POL1, Note: "Context R-Type 0x01 admission"},
		Step{N: 3, Kind: OSPAuthReq, From: POL1, To: CH},
		Step{N: 4, Kind: OSPAuthResp, From: CH, To: POL1, Answers: 3, Note: "status 2xx + token"},
		Step{N: 5, Kind: COPSDecInstall, From: POL1, To: SIP1, Answers: 2, Note: "carries the token"},
		Step{N: 6, Kind: SIPInvite, From: SIP1, To: SIP2, Note: "carries the token"},
		Step{N: 7, Kind: COPSReqAAA, From: SIP2, To: POL2},
		Step{N: 8, Kind: OSPAuthReq, From: POL2, To: CH},
		Step{N: 9, Kind: OSPAuthResp, From: CH, To: POL2, Answers: 8, Note: "status 2xx + token"},
		Step{N: 10, Kind: COPSDecInstall, From: POL2, To: SIP2, Answers: 7},
		Step{N: 11, Kind: SIPInvite, From: SIP2, To: UAS},
		Step{N: 12, Kind: SIPRinging, From: UAS, To: SIP2, Answers: 11, Note: "Ringing, carries the SDP answer"},
		Step{N: 13, Kind: COPSReqLDP, From: SIP2, To: POL2, Note: "Context R-Type 0x02 resource allocation, media 5-tuples"},
		Step{N: 14, Kind: GateSet, From: POL2, To: R2, Note: "PCMM, classifier + DSCP EF"},
		Step{N: 15, Kind: GateSetAck, From: R2, To: POL2, Answers: 14, Note: "PCMM"},
		Step{N: 16, Kind: COPSDecInstall, From: POL2, To: SIP2, Answers: 13},
		Step{N: 17, Kind: SIPRinging, From: SIP2, To: SIP1, Answers: 6},
		Step{N: 18, Kind: COPSReqLDP, From: SIP1, To: POL1},
		Step{N: 19, Kind: GateSet, From: POL1, To: R1, Note: "PCMM"},
		Step{N: 20, Kind: GateSetAck, From: R1, To: POL1, Answers: 19, Note: "PCMM"},
		Step{N: 21, Kind: COPSDecInstall, From: POL1, To: SIP1, Answers: 18},
		Step{N: 22, Kind: SIPRinging, From: SIP1, To: UAC, Answers: 1},
		Step{N: 23, Kind: SIPOK, From: UAS, To: SIP2, Answers: 11},
		Step{N: 24, Kind: SIPOK, From: SIP2, To: SIP1, Answers: 6},
		Step{N: 25, Kind: SIPOK, From: SIP1, To: UAC, Answers: 1},
		Step{N: 26, Kind: SIPAck, From: UAC, To: SIP1},
		Step{N: 27, Kind: SIPAck, From: SIP1, To: SIP2},
		Step{N: 28, Kind: SIPAck, From: SIP2, To: UAS},
		Step{N: 29, Kind: RTPMedia, From: UAC, To: UAS, Note: "both ways, EF on the core link"},
	),
	Order: []Chain{
		{Steps: span(1, 22), Why: "a single chain"},
		{Steps: []int{11, 23, 24}},
		{Steps: []int{16, 24}, Why: "SIP2 holds the 200 until its gate is in"},
		{Steps: []int{24, 25}},
		{Steps: []int{21, 25}},
		{Steps: []int{22, 25}},
		{Steps: []int{25, 26, 27, 28}},
	},
}

// fig6 is FIG. 6, the teardown, with the caller hanging up.
var fig6 = Sequence{
	Phase: Teardown,
	Title: "Teardown (FIG. 6)",
	Doc: "The three chains run concurrently; nothing else is promised between them. " +
		"A COPS DRQ that deletes each handle may follow step 7 / step 16.",
	Steps: steps(Teardown,
		Step{N: 1, Kind: SIPBye, From: UAC, To: SIP1},
		Step{N: 2, Kind: SIPBye, From: SIP1, To: SIP2},
		Step{N: 3, Kind: SIPBye, From: SIP2, To: UAS},
		Step{N: 4, Kind: COPSReqNoLDP, From: SIP1, To: POL1, Note: "R-Type 0x02, release"},
		Step{N: 5, Kind: GateDelete, From: POL1, To: R1, Note: "PCMM"},
		Step{N: 6, Kind: GateDeleteAck, From: R1, To: POL1, Answers: 5, Note: "PCMM"},
		Step{N: 7, Kind: COPSDecRemove, From: POL1, To: SIP1, Answers: 4},
		Step{N: 8, Kind: OSPUsageInd, From: POL1, To: CH},
		Step{N: 9, Kind: OSPUsageConf, From: CH, To: POL1, Answers: 8},
		Step{N: 10, Kind: SIPOK, From: UAS, To: SIP2, Answers: 3},
		Step{N: 11, Kind: SIPOK, From: SIP2, To: SIP1, Answers: 2},
		Step{N: 12, Kind: SIPOK, From: SIP1, To: UAC, Answers: 1},
		Step{N: 13, Kind: COPSReqNoLDP, From: SIP2, To: POL2},
		Step{N: 14, Kind: GateDelete, From: POL2, To: R2, Note: "PCMM"},
		Step{N: 15, Kind: GateDeleteAck, From: R2, To: POL2, Answers: 14, Note: "PCMM"},
		Step{N: 16, Kind: COPSDecRemove, From: POL2, To: SIP2, Answers: 13},
		Step{N: 17, Kind: OSPUsageInd, From: POL2, To: CH},
		Step{N: 18, Kind: OSPUsageConf, From: CH, To: POL2, Answers: 17},
	),
	Order: []Chain{
		{Steps: []int{1, 2, 3, 10, 11, 12}},
		{Steps: []int{1, 4, 5, 6, 7, 8, 9}},
		{Steps: []int{2, 13, 14, 15, 16, 17, 18}},
	},
}

// steps stamps the phase on a table's rows.
func steps(p Phase, rows ...Step) []Step {
	for i := range rows {
		rows[i].Phase = p
	}
	return rows
}

// span is from, from+1, ..., to.
func span(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}
