package trace

import (
	"fmt"

	"github.com/qoslab/qoslab/flow"
)

// Variant names, as reports print them.
const (
	VariantNo180           = "no-180"
	VariantCalleeHangsUp   = "callee-hangs-up"
	VariantNoClearinghouse = "no-clearinghouse"
	VariantDenied          = "denied"
	VariantNoTeardown      = "no-teardown"
	// VariantCut is a call the capture's cut (see Report.Cut) ended
	// before it was over: its missing steps are not failures.
	VariantCut = "cut"
)

// maxStep bounds the step numbers of a phase (FIG. 5 has 29).
const maxStep = 64

// steps is one phase of one call: the first message labelled with each
// step number.
type steps [maxStep]*Message

func (s *steps) seen(n int) bool { return n > 0 && n < maxStep && s[n] != nil }

func (s *steps) at(n int) *Message {
	if n <= 0 || n >= maxStep {
		return nil
	}
	return s[n]
}

func (s *steps) count() int {
	n := 0
	for _, m := range s {
		if m != nil {
			n++
		}
	}
	return n
}

// callSteps collects the labelled messages of a call by phase.
func callSteps(c *Call, setup, teardown *steps) {
	for _, m := range c.Messages {
		if m.Step <= 0 || m.Step >= maxStep {
			continue
		}
		t := setup
		if m.Phase == flow.Teardown {
			t = teardown
		}
		if t[m.Step] == nil {
			t[m.Step] = m
		}
	}
}

// stepSet is a set of step numbers.
type stepSet uint64

func setOf(ns ...int) stepSet {
	var s stepSet
	for _, n := range ns {
		s |= 1 << uint(n)
	}
	return s
}

func (s stepSet) has(n int) bool { return n > 0 && n < maxStep && s&(1<<uint(n)) != 0 }

func (s stepSet) list() []int {
	var out []int
	for n := 1; n < maxStep; n++ {
		if s.has(n) {
			out = append(out, n)
		}
	}
	return out
}

// orderMemo keeps the orders derived from docs/FLOW.md's (flow.Without): the
// same few are asked for every call.
type orderMemo map[orderKey][]flow.Before

type orderKey struct {
	base *flow.Before // the order derived from, by its first element
	n    int
	skip stepSet
	upTo int // only the constraints whose later step is at most upTo (0: all)
}

// without is flow.Without(order, skip), keeping only the constraints
// ending at or before upTo when it is set, computed once per analyzer.
func (o orderMemo) without(order []flow.Before, skip stepSet, upTo int) []flow.Before {
	if len(order) == 0 {
		return nil
	}
	k := orderKey{&order[0], len(order), skip, upTo}
	if got, ok := o[k]; ok {
		return got
	}
	base := order
	if upTo > 0 {
		base = nil
		for _, b := range order {
			if b.B <= upTo {
				base = append(base, b)
			}
		}
	}
	out := flow.Without(base, skip.list()...)
	o[k] = out
	return out
}

// checker runs the order and variant checks of one call.
type checker struct {
	c    *Call
	noCH bool
	// cut is set when the capture is cut short: a step missing with no
	// later step of its chain seen may have come after the cut.
	cut    bool
	missed int // steps not failed because of the cut
	// dry only asks whether every step is in (incomplete says), as the
	// pass does before judging a call; no failure is made.
	dry        bool
	incomplete bool
	roles      roleHook
	memo       orderMemo
	failures   []Failure

	setup, teardown steps
}

func (k *checker) fail(f Failure) {
	f.CallID = k.c.ID
	k.failures = append(k.failures, f)
}

func where(m *Message) string {
	return fmt.Sprintf("%s %s->%s at packet %d on %s", m.Label(), m.From, m.To, m.First.No, m.First.Link)
}

// expect reports every step of a table that is not there. In a capture
// cut short, a missing step is excused when no step that must follow it
// was seen: it may have come after the cut.
func (k *checker) expect(phase flow.Phase, table []flow.Step, have *steps, skip stepSet, order []flow.Before) {
	for _, s := range table {
		if s.Kind == flow.RTPMedia || skip.has(s.N) || have.seen(s.N) {
			continue
		}
		if k.dry {
			k.incomplete = true
			return
		}
		if k.cut && !followerSeen(s.N, order, have) {
			k.missed++
			continue
		}
		k.fail(Failure{Check: CheckMissing, Phase: phase, Step: s.N, Expected: s.String(), Seen: "nothing"})
	}
}

// order reports every constraint a < b where b was seen before a.
func (k *checker) order(phase flow.Phase, order []flow.Before, have *steps) {
	for _, o := range order {
		a, b := have.at(o.A), have.at(o.B)
		if a == nil || b == nil || a.First.Before(b.First) {
			continue
		}
		k.fail(Failure{
			Check: CheckOrder, Phase: phase, Step: o.B,
			Expected: fmt.Sprintf("step %d after step %d (%s)", o.B, o.A, where(a)),
			Seen:     where(b),
			Packet:   b.First.No, Link: b.First.Link,
		})
	}
}

// kinds reports steps whose message is of the wrong kind (a DEC Remove
// where docs/FLOW.md has a DEC Install, an OSP refusal in an admitted call).
func (k *checker) kinds(phase flow.Phase, table []flow.Step, have *steps) {
	for _, s := range table {
		m := have.at(s.N)
		if m == nil {
			continue
		}
		bad := m.Kind != s.Kind
		if m.osp != nil && m.osp.Status != 0 && (m.osp.Status < 200 || m.osp.Status > 299) {
			bad = true
		}
		if bad {
			k.fail(Failure{Check: CheckWhat, Phase: phase, Step: s.N, Expected: s.String(), Seen: where(m), Packet: m.First.No, Link: m.First.Link})
		}
	}
}

// followerSeen tells whether a step that the order puts after step n,
// directly or through others, was seen.
func followerSeen(n int, order []flow.Before, have *steps) bool {
	seen := setOf(n)
	todo := []int{n}
	for len(todo) > 0 {
		cur := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		for _, o := range order {
			if o.A != cur || seen.has(o.B) {
				continue
			}
			if have.seen(o.B) {
				return true
			}
			seen |= setOf(o.B)
			todo = append(todo, o.B)
		}
	}
	return false
}

// checkCall runs every order and variant check of one call and returns its
// variants.
func (k *checker) checkCall() []string {
	setup, teardown := &k.setup, &k.teardown
	callSteps(k.c, setup, teardown)
	var variants []string
	if k.noCH {
		variants = append(variants, VariantNoClearinghouse)
	}
	if refusal := k.refusal(); refusal != nil {
		variants = append(variants, VariantDenied)
		if k.dry {
			k.incomplete = !k.refusalReachedUAC()
			return variants
		}
		k.denied(refusal, setup)
		return variants
	}
	var skip stepSet
	if k.noCH {
		skip = setOf(flow.OSPSteps(flow.Setup)...)
	}
	order := flow.SetupOrder
	if !setup.seen(12) && !setup.seen(17) && !setup.seen(22) {
		variants = append(variants, VariantNo180)
		order = flow.SetupOrderNo180
		skip |= setOf(flow.Ringing...)
	}
	k.expect(flow.Setup, flow.SetupSteps, setup, skip, order)
	if !k.dry {
		k.kinds(flow.Setup, flow.SetupSteps, setup)
		k.order(flow.Setup, k.memo.without(order, skip, 0), setup)
	}

	if teardown.count() == 0 {
		return append(k.cutVariant(variants), VariantNoTeardown)
	}
	table, order := flow.TeardownSteps, flow.TeardownOrder
	if k.c.CalleeHangsUp {
		variants = append(variants, VariantCalleeHangsUp)
		table, order = flow.TeardownStepsCalleeHangsUp, flow.TeardownOrderCalleeHangsUp
	}
	skip = 0
	if k.noCH {
		skip = setOf(flow.OSPSteps(flow.Teardown)...)
	}
	k.expect(flow.Teardown, table, teardown, skip, order)
	if !k.dry {
		k.kinds(flow.Teardown, table, teardown)
		k.order(flow.Teardown, k.memo.without(order, skip, 0), teardown)
	}
	return k.cutVariant(variants)
}

func (k *checker) cutVariant(variants []string) []string {
	if k.missed > 0 {
		return append(variants, VariantCut)
	}
	return variants
}

// refusal returns the first final non-2xx answer to the INVITE, if any.
func (k *checker) refusal() *Message {
	for _, m := range k.c.Messages {
		if s := m.sip; s != nil && s.CSeqMethod == "INVITE" && s.Status >= 300 {
			return m
		}
	}
	return nil
}

// denied checks the denied-call variant: the refusing proxy answers 403
// with a Reason, the refusal reaches the UAC, no INVITE crosses the
// refusing proxy, no gate is ever set, and what came before the refusal
// kept docs/FLOW.md's order.
func (k *checker) denied(refusal *Message, setup *steps) {
	fail := func(step int, expected, seen string, m *Message) {
		f := Failure{Check: CheckDenied, Phase: flow.Setup, Step: step, Expected: expected, Seen: seen}
		if m != nil {
			f.Packet, f.Link = m.First.No, m.First.Link
		}
		k.fail(f)
	}
	if refusal.sip.Status != 403 {
		fail(0, "the refusing proxy answers 403", where(refusal), refusal)
	}
	if refusal.sip.Reason == "" {
		fail(0, "a Reason header on the 403", where(refusal)+" without Reason", refusal)
	}
	refuser := roleOfName(k, refusal)
	beyond := map[string]int{flow.SIP1: 6, flow.SIP2: 11}[refuser]
	if beyond == 0 {
		fail(0, "the 403 comes from SIP1 or SIP2", where(refusal), refusal)
	}
	if m := setup.at(beyond); beyond != 0 && m != nil && m.First.No > 0 {
		fail(beyond, "no INVITE beyond the refusing proxy "+refusal.From, where(m), m)
	}
	for _, m := range k.c.Messages {
		if m.Kind == flow.GateSet || m.Kind == flow.GateSetAck {
			fail(m.Step, "no gate for a denied call", where(m), m)
		}
	}
	if !k.refusalReachedUAC() {
		fail(0, "the refusal reaches the UAC", "no final error response to the UAC", nil)
	}
	dec := map[string]int{flow.SIP1: 5, flow.SIP2: 10}[refuser]
	if m := setup.at(dec); m != nil && m.Kind != flow.COPSDecRemove {
		fail(dec, "DEC Remove before the refusal", where(m), m)
	}
	var skip stepSet
	if k.noCH {
		skip = setOf(flow.OSPSteps(flow.Setup)...)
	}
	if dec > 0 {
		k.order(flow.Setup, k.memo.without(flow.SetupOrder, skip, dec), setup)
	}
}

// refusalReachedUAC tells whether a final error answer to the INVITE got
// to the caller.
func (k *checker) refusalReachedUAC() bool {
	for _, m := range k.c.Messages {
		if m.sip != nil && m.sip.CSeqMethod == "INVITE" && m.sip.Status >= 300 && k.toRole(m) == flow.UAC {
			return true
		}
	}
	return false
}

// roleHook lets the checker ask the topology for roles without holding
// the analyzer.
type roleHook interface {
	roleOf(m *Message, from bool) string
}

func roleOfName(k *checker, m *Message) string { return k.roles.roleOf(m, true) }

func (k *checker) toRole(m *Message) string { return k.roles.roleOf(m, false) }
