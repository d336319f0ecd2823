package trace

import (
	"github.com/qoslab/qoslab/flow"
)

// labelKey finds a FLOW.md step from what a message is and who sent it to
// whom. Within a phase the triple is unique, except for the COPS DECs that
// answer different REQs on one handle; those are labelled by the REQ they
// answer (see nextDEC).
type labelKey struct {
	kind     flow.Kind
	from, to string
}

// labels holds the lookup tables of the three step tables.
type labels struct {
	setup, teardown, teardownCallee map[labelKey]int
}

func newLabels() labels {
	table := func(steps []flow.Step) map[labelKey]int {
		m := map[labelKey]int{}
		for _, s := range steps {
			if s.Kind == flow.COPSDecInstall || s.Kind == flow.COPSDecRemove {
				continue
			}
			m[labelKey{s.Kind, s.From, s.To}] = s.N
		}
		return m
	}
	return labels{
		setup:          table(flow.SetupSteps),
		teardown:       table(flow.TeardownSteps),
		teardownCallee: table(flow.TeardownStepsCalleeHangsUp),
	}
}

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

// label gives m its FLOW.md phase and step, when it has one.
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
	from, to := a.topo.Role(m.Tuple.Src.Addr()), a.topo.Role(m.Tuple.Dst.Addr())
	phase := phaseOf(m)
	table := a.labels.setup
	if phase == flow.Teardown {
		if m.Kind == flow.SIPBye && c != nil && !c.byeSeen {
			c.byeSeen = true
			c.CalleeHangsUp = from == flow.UAS || from == flow.SIP2 && to == flow.SIP1
		}
		table = a.labels.teardown
		if c != nil && c.CalleeHangsUp {
			table = a.labels.teardownCallee
		}
	}
	if n, ok := table[labelKey{m.Kind, from, to}]; ok {
		m.Phase, m.Step = phase, n
	}
}

// nextDEC returns the step of the DEC that answers a REQ labelled
// (phase, req): the first later step of the same phase that is a DEC going
// the other way.
func nextDEC(phase flow.Phase, req int) (int, bool) {
	steps := flow.SetupSteps
	if phase == flow.Teardown {
		steps = flow.TeardownSteps
	}
	r, ok := flow.StepByN(phase, req)
	if !ok {
		return 0, false
	}
	for _, s := range steps {
		if s.N > req && s.From == r.To && s.To == r.From && (s.Kind == flow.COPSDecInstall || s.Kind == flow.COPSDecRemove) {
			return s.N, true
		}
	}
	return 0, false
}
