package pdp

import (
	"fmt"

	"github.com/qoslab/qoslab/flow"
)

// Label is where a message sits in docs/FLOW.md: phase and step (zero
// Step for messages outside the patent's sequences, such as a Gate-Info).
type Label struct {
	Phase flow.Phase
	Step  int
}

// String renders "phase/step", or "-" outside docs/FLOW.md.
func (l Label) String() string {
	if l.Step == 0 {
		return "-"
	}
	return fmt.Sprintf("%s/%d", l.Phase, l.Step)
}

// sent labels a message the policy server of side s sends, by its step in
// package flow; received one it receives. The gate and OSP steps are the
// same whoever hangs up.
func sent(s flow.Side, r flow.Ref) Label     { return labelOf(r.StepAt(s.PolicyServer(), true)) }
func received(s flow.Side, r flow.Ref) Label { return labelOf(r.StepAt(s.PolicyServer(), false)) }

func (c *call) sent(r flow.Ref) Label     { return sent(c.sess.Side, r) }
func (c *call) received(r flow.Ref) Label { return received(c.sess.Side, r) }

func labelOf(s flow.Step, ok bool) Label {
	if !ok {
		return Label{}
	}
	return Label{s.Phase, s.N}
}
