package flow

// Sequence is one phase of a call in one variant: its steps and the
// orders a capture of it must keep.
type Sequence struct {
	Phase   Phase
	Variant Variant
	Title   string // docs/FLOW.md's heading (main line tables)
	Doc     string // docs/FLOW.md's prose after the orders
	Steps   []Step
	Order   []Chain
}

// Chain is an order that must hold: each step is seen after the one
// before it. Why is docs/FLOW.md's reason, when it gives one.
type Chain struct {
	Steps []int
	Why   string
}

// Before is one order constraint: step A is seen before step B.
type Before struct{ A, B int }

// Msg is a message as a node sees it: what it is and who sends it to
// whom. A node leaves "" for an end it cannot name (a proxy knows that it
// received a 200, not always from which role); Find then needs the other
// end to make the message unique.
type Msg struct {
	Kind     Kind
	From, To string
	// Re is, for a COPS decision to a proxy (COPSDecInstall or
	// COPSDecRemove), the kind of REQ it answers. A decision is found by
	// that REQ whichever way it decides: a denied call's DEC Remove stands
	// at the step of the DEC Install it replaces.
	Re Kind
}

// Lookup returns the step of a message in phase p of the variants v:
// Of(p, v).Find(m). It is how nodes label what they log.
func Lookup(p Phase, v Variant, m Msg) (Step, bool) { return Of(p, v).Find(m) }

// Find returns the step of m in q; ok is false unless exactly one step
// matches (none: the message is not one of q's, or not on the wire in q's
// variant).
func (q *Sequence) Find(m Msg) (Step, bool) {
	var found Step
	n := 0
	for _, s := range q.Steps {
		if q.matches(s, m) {
			found = s
			n++
		}
	}
	return found, n == 1
}

func (q *Sequence) matches(s Step, m Msg) bool {
	if (m.From != "" && s.From != m.From) || (m.To != "" && s.To != m.To) {
		return false
	}
	if m.Kind.decision() && m.Re != "" {
		if !s.Kind.decision() {
			return false
		}
		req, ok := q.Step(s.Answers)
		return ok && req.Kind == m.Re
	}
	return s.Kind == m.Kind
}

// Step returns the step numbered n.
func (q *Sequence) Step(n int) (Step, bool) {
	for _, s := range q.Steps {
		if s.N == n {
			return s, true
		}
	}
	return Step{}, false
}

// AnswerTo returns the step that answers step n (the DEC of a REQ, the
// Ack of a Gate-Set, ...).
func (q *Sequence) AnswerTo(n int) (Step, bool) {
	for _, s := range q.Steps {
		if s.Answers == n && n != 0 {
			return s, true
		}
	}
	return Step{}, false
}

// Before returns the order as constraints, chain by chain.
func (q *Sequence) Before() []Before {
	var out []Before
	for _, c := range q.Order {
		for i := 1; i < len(c.Steps); i++ {
			out = append(out, Before{c.Steps[i-1], c.Steps[i]})
		}
	}
	return out
}

// without returns q without the steps drop selects, in variant q.Variant|v.
// The orders keep what the removed steps implied (see Without): a chain
// through a removed step becomes the constraints around it.
func (q *Sequence) without(v Variant, drop func(Step) bool) *Sequence {
	out := *q
	out.Variant |= v
	out.Steps = nil
	var gone []int
	for _, s := range q.Steps {
		if drop(s) {
			gone = append(gone, s.N)
		} else {
			out.Steps = append(out.Steps, s)
		}
	}
	if len(gone) == 0 {
		return q
	}
	out.Order = nil
	for _, b := range Without(q.Before(), gone...) {
		out.Order = append(out.Order, Chain{Steps: []int{b.A, b.B}})
	}
	return &out
}

// Without removes steps from an order and keeps what the removed steps
// implied: if a < x and x < b and x is removed, then a < b. The result
// has no duplicate constraints.
func Without(order []Before, removed ...int) []Before {
	gone := map[int]bool{}
	for _, r := range removed {
		gone[r] = true
	}
	cur := append([]Before(nil), order...)
	for _, x := range removed {
		var next []Before
		var in, out []int
		for _, c := range cur {
			switch {
			case c.B == x:
				in = append(in, c.A)
			case c.A == x:
				out = append(out, c.B)
			default:
				next = append(next, c)
			}
		}
		for _, a := range in {
			for _, b := range out {
				next = append(next, Before{a, b})
			}
		}
		cur = next
	}
	seen := map[Before]bool{}
	var out []Before
	for _, c := range cur {
		if !seen[c] && !gone[c.A] && !gone[c.B] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// The tables and orders under the names the verifier reads them by
// (views of Of, no data of their own).
var (
	SetupSteps                 = fig5.Steps
	SetupOrder                 = fig5.Before()
	SetupOrderNo180            = fig5No180.Before()
	TeardownSteps              = fig6.Steps
	TeardownOrder              = fig6.Before()
	TeardownStepsCalleeHangsUp = fig6CalleeHangsUp.Steps
	TeardownOrderCalleeHangsUp = fig6CalleeHangsUp.Before()
)

// Ringing lists the steps that exist only when the callee sends a 180.
var Ringing = missing(fig5.Steps, fig5No180.Steps)

// StepByN returns the step numbered n in a phase of the main line.
func StepByN(p Phase, n int) (Step, bool) { return Of(p, 0).Step(n) }

// OSPSteps lists the steps of a phase that are OSP messages: with no
// clearinghouse they happen inside the policy server and are not on the
// wire.
func OSPSteps(p Phase) []int { return OffWire(p, NoClearinghouse) }

// missing lists the numbers of the steps of all that are not in some.
func missing(all, some []Step) []int {
	var out []int
	for _, s := range all {
		found := false
		for _, t := range some {
			found = found || t.N == s.N
		}
		if !found {
			out = append(out, s.N)
		}
	}
	return out
}
