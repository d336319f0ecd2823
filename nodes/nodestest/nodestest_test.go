package nodestest

import (
	"strings"
	"testing"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
)

// A router's whole call, as R1 logs it.
func r1Call() []nodes.Message {
	return []nodes.Message{
		{Dir: nodes.Received, Proto: "cops", What: "DEC Gate-Set", Flow: "setup", Step: 19, Peer: "pol1"},
		{Dir: nodes.Sent, Proto: "cops", What: "RPT Gate-Set-Ack", Flow: "setup", Step: 20, Peer: "pol1"},
		{Dir: nodes.Sent, Proto: "cops", What: "DEC Gate-Info", Peer: "pol1"},
		{Dir: nodes.Received, Proto: "cops", What: "DEC Gate-Delete", Flow: "teardown", Step: 5, Peer: "pol1"},
		{Dir: nodes.Sent, Proto: "cops", What: "RPT Gate-Delete-Err", Flow: "teardown", Step: 6, Peer: "pol1"},
	}
}

func TestStepsFindsWhatIsWrong(t *testing.T) {
	call := Call{Me: flow.R1, Phases: []flow.Phase{flow.Setup, flow.Teardown}}
	if errs := Steps(call, r1Call()); len(errs) != 0 {
		t.Fatalf("a right log found wrong: %v", errs)
	}
	cases := []struct {
		name string
		edit func([]nodes.Message) []nodes.Message
		want string
	}{
		{"wrong step", func(ms []nodes.Message) []nodes.Message { ms[0].Step = 14; return ms }, "setup step 14 (COPS DEC Gate-Set POL2->R2)"},
		{"wrong direction", func(ms []nodes.Message) []nodes.Message { ms[1].Dir = nodes.Received; return ms }, "COPS RPT Gate-Set-Ack POL1->R1"},
		{"wrong peer", func(ms []nodes.Message) []nodes.Message { ms[3].Peer = "pol2"; return ms }, "POL2->R1"},
		{"wrong phase", func(ms []nodes.Message) []nodes.Message { ms[3].Flow = "setup"; return ms }, "setup step 5 (COPS DEC Install POL1->SIP1)"},
		{"missing", func(ms []nodes.Message) []nodes.Message { return ms[:4] }, "teardown step 6 (COPS RPT Gate-Delete-Ack R1->POL1) not logged"},
		{"unlabelled", func(ms []nodes.Message) []nodes.Message { ms[0].Step, ms[0].Flow = 0, ""; return ms }, "setup step 19 (COPS DEC Gate-Set POL1->R1) not logged"},
		{"phase not in the call", func(ms []nodes.Message) []nodes.Message { return ms }, "no teardown phase"},
	}
	for _, c := range cases {
		call := call
		if c.name == "phase not in the call" {
			call.Phases = []flow.Phase{flow.Setup}
		}
		errs := Steps(call, c.edit(r1Call()))
		found := false
		for _, err := range errs {
			found = found || strings.Contains(err.Error(), c.want)
		}
		if !found {
			t.Errorf("%s: errors %v, want one saying %q", c.name, errs, c.want)
		}
	}
}

// A decision must answer the REQ before it.
func TestStepsPairsDecisionsWithTheirREQ(t *testing.T) {
	ms := []nodes.Message{
		{Dir: nodes.Sent, Proto: "cops", What: "REQ AAA", Flow: "setup", Step: 2, Peer: "pol1"},
		{Dir: nodes.Received, Proto: "cops", What: "DEC Install", Flow: "setup", Step: 21, Peer: "pol1"},
	}
	errs := Steps(Call{Me: flow.SIP1, Phases: []flow.Phase{flow.Setup}}, ms)
	found := false
	for _, err := range errs {
		found = found || strings.Contains(err.Error(), "answers step 18, the last REQ was step 2")
	}
	if !found {
		t.Errorf("a DEC labelled as the answer to another REQ passed: %v", errs)
	}
}

func TestKindOf(t *testing.T) {
	for _, c := range []struct {
		proto, what string
		want        flow.Kind
	}{
		{"sip", "INVITE", flow.SIPInvite},
		{"sip", "180 Ringing", flow.SIPRinging},
		{"sip", "200", flow.SIPOK},
		{"sip", "100 Trying", ""},
		{"cops", "REQ noLDP", flow.COPSReqNoLDP},
		{"cops", "DEC Remove", flow.COPSDecRemove},
		{"cops", "RPT Gate-Set-Err", flow.GateSetAck},
		{"cops", "DEC Gate-Info", ""},
		{"cops", "DRQ", ""},
		{"osp", "UsageConfirmation", flow.OSPUsageConf},
		{"osp", "AuthorizationIndication", ""},
		{"rtp", "RTP", flow.RTPMedia},
	} {
		if got := KindOf(nodes.Message{Proto: c.proto, What: c.what}); got != c.want {
			t.Errorf("KindOf(%s %q) = %q, want %q", c.proto, c.what, got, c.want)
		}
	}
}
