package cops

import "testing"

// Every code type names its known values and shows unknown ones as numbers.
func TestCodeNames(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{OpREQ.String(), "REQ"}, {OpSSC.String(), "SSC"}, {OpCode(0).String(), "OP(0)"}, {OpCode(11).String(), "OP(11)"},
		{FlagSolicited.String(), "solicited"}, {Flags(0).String(), "none"}, {Flags(4).String(), "0x4"},
		{ClientTypePCMM.String(), "PCMM"}, {ClientTypeSession.String(), "qoslab-session"}, {ClientType(0x4001).String(), "0x4001"},
		{CNumHandle.String(), "Handle"}, {CNumIntegrity.String(), "Integrity"}, {CNum(17).String(), "C-Num(17)"},
		{RTypeAdmission.String(), "admission"}, {RTypeResource.String(), "resource"}, {RType(3).String(), "R-Type(0x3)"},
		{ReasonTear.String(), "Tear"}, {ReasonUnknownObjectFromP.String(), "Unknown-Object-From-PDP"}, {ReasonCode(14).String(), "Reason(14)"},
		{CommandInstall.String(), "Install"}, {CommandRemove.String(), "Remove"}, {CommandNull.String(), "NULL"}, {Command(3).String(), "Command(3)"},
		{DecisionTriggerError.String(), "trigger-error"}, {DecisionFlags(2).String(), "0x2"},
		{ErrBadHandle.String(), "Bad-Handle"}, {ErrAuthRequired.String(), "Authentication-Required"}, {ErrorCode(16).String(), "Error(16)"},
		{ReportSuccess.String(), "Success"}, {ReportAccounting.String(), "Accounting"}, {ReportType(4).String(), "Report(4)"},
		{KindAAA.String(), "AAA"}, {KindLDP.String(), "LDP"}, {KindNoLDP.String(), "noLDP"}, {KindUnknown.String(), "unknown"},
		{Forward.String(), "fwd"}, {Backward.String(), "bwd"}, {FlowDir(0).String(), "dir(0)"},
		{PCErrUnknownGateID.String(), "Unknown-GateID"}, {PCMMErrorCode(99).String(), "PC-Error(99)"},
		{ProfileServiceClassName.String(), "ServiceClassName"}, {TrafficProfileKind(6).String(), "TrafficProfile(6)"},
		{(GateUpstream | GateDSCPOverride).String(), "upstream|dscp"}, {GateSpecFlags(0).String(), "downstream"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestDecodeAt(t *testing.T) {
	var stream []byte
	names := []string{"REQ-AAA", "KA", "DEC-Install"}
	for _, n := range names {
		stream, _ = sampleMessages()[n].AppendTo(stream)
	}
	off, lastOff := 0, 0
	for _, n := range names {
		lastOff = off
		var m Message
		next, err := m.DecodeAt(stream, off)
		if err != nil {
			t.Fatalf("%s at %d: %v", n, off, err)
		}
		if m.Op != sampleMessages()[n].Op {
			t.Fatalf("%s: decoded %s", n, m.Op)
		}
		off = next
	}
	if off != len(stream) {
		t.Fatalf("ended at %d of %d", off, len(stream))
	}
	var m Message
	if _, err := m.DecodeAt(stream[:len(stream)-1], 0); err != nil {
		t.Fatalf("first message should decode from a cut stream: %v", err)
	}
	if _, err := m.DecodeAt(stream[:len(stream)-1], lastOff); CodeOf(err) != ErrBadMessageFormat {
		t.Fatalf("last message cut by one octet: %v", err)
	}
}
