package trace

import (
	"github.com/qoslab/qoslab/flow"
)

// phaseOf tells which FIG. a message kind belongs to.
func phaseOf(m *Message) flow.Phase {
	switch m.Kind {
	case flow.SIPBye, flow.COPSReqNoLDP, flow.GateDelete, flow.GateDeleteAck, flow.OSPUsageInd, flow.OSPUsageConf:
		return flow.Teardown
	case flow.SIPOK:
		if m.sip != nil && m.sip.CSeqMethod == "BYE" {
			return flow.Teardown
		}
	}
	return flow.Setup
}

// label gives m its docs/FLOW.md phase and step, when it has one.
func (a *analyzer) label(m *Message, c *Call) {
	if m.Step != 0 {
		return
	}
	if c != nil && m.sip != nil && m.sip.CSeqMethod == "INVITE" && m.sip.Status >= 200 {
		c.answered = c.answered || m.sip.Status < 300
		c.refused = c.refused || m.sip.Status >= 300
	}
	if m.Kind == flow.SIPAck && c != nil && c.refused && !c.answered {
		return
	}
	if m.Kind == "" {
		return
	}
	if m.Kind == flow.COPSDecInstall || m.Kind == flow.COPSDecRemove {
		return // labelled by the REQ it answers (nextDEC)
	}
	from, to := m.fromRole, m.toRole
	phase := phaseOf(m)
	var v flow.Variant
	if phase == flow.Teardown {
		if m.Kind == flow.SIPBye && c != nil && !c.byeSeen {
			c.byeSeen = true
			c.CalleeHangsUp = from == flow.UAS || from == flow.SIP2 && to == flow.SIP1
		}
		if c != nil && c.CalleeHangsUp {
			v = flow.CalleeHangsUp
		}
	}
	if s, ok := flow.Lookup(phase, v, flow.Msg{Kind: m.Kind, From: from, To: to}); ok {
		m.Phase, m.Step = phase, s.N
	}
}

// nextDEC returns the step of the DEC that answers a REQ labelled
// (phase, req).
func nextDEC(phase flow.Phase, req int) (int, bool) {
	s, ok := flow.Of(phase, 0).AnswerTo(req)
	if !ok || (s.Kind != flow.COPSDecInstall && s.Kind != flow.COPSDecRemove) {
		return 0, false
	}
	return s.N, true
}
