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

// steps is one phase of one call: the first message labelled with each
// step number.
type steps map[int]*Message

func (s steps) seen(n int) bool { _, ok := s[n]; return ok }

// callSteps collects the labelled messages of a call by phase.
func callSteps(c *Call) (setup, teardown steps) {
	setup, teardown = steps{}, steps{}
	for _, m := range c.Messages {
		if m.Step == 0 {
			continue
		}
		t := setup
		if m.Phase == flow.Teardown {
			t = teardown
		}
		if _, ok := t[m.Step]; !ok {
			t[m.Step] = m
		}
	}
	return setup, teardown
}

// checker runs the order and variant checks of one call.
type checker struct {
	c    *Call
	noCH bool
	// cut is set when the capture is cut short: a step missing with no
	// later step of its chain seen may have come after the cut.
	cut      bool
	missed   int // steps not failed because of the cut
	roles    roleHook
	failures []Failure
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
func (k *checker) expect(phase flow.Phase, table []flow.Step, have steps, skip map[int]bool, order []flow.Before) {
	for _, s := range table {
		if s.Kind == flow.RTPMedia || skip[s.N] || have.seen(s.N) {
			continue
		}
		if k.cut && !followerSeen(s.N, order, have) {
			k.missed++
			continue
		}
		k.fail(Failure{Check: CheckMissing, Phase: phase, Step: s.N, Expected: s.String(), Seen: "nothing"})
	}
}

// order reports every constraint a < b where b was seen before a.
func (k *checker) order(phase flow.Phase, order []flow.Before, have steps) {
	for _, o := range order {
		a, b := have[o.A], have[o.B]
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
func (k *checker) kinds(phase flow.Phase, table []flow.Step, have steps) {
	for _, s := range table {
		m := have[s.N]
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
func followerSeen(n int, order []flow.Before, have steps) bool {
	seen := map[int]bool{n: true}
	todo := []int{n}
	for len(todo) > 0 {
		cur := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		for _, o := range order {
			if o.A != cur || seen[o.B] {
				continue
			}
			if have.seen(o.B) {
				return true
			}
			seen[o.B] = true
			todo = append(todo, o.B)
		}
	}
	return false
}

func toSet(ns ...[]int) map[int]bool {
	m := map[int]bool{}
	for _, l := range ns {
		for _, n := range l {
			m[n] = true
		}
	}
	return m
}

func setKeys(m map[int]bool) []int {
	var out []int
	for n := range m {
		out = append(out, n)
	}
	return out
}

// checkCall runs every order and variant check of one call and returns its
// variants.
func (k *checker) checkCall() []string {
	setup, teardown := callSteps(k.c)
	var variants []string
	if k.noCH {
		variants = append(variants, VariantNoClearinghouse)
	}
	if refusal := k.refusal(); refusal != nil {
		variants = append(variants, VariantDenied)
		k.denied(refusal, setup)
		return variants
	}
	skip := map[int]bool{}
	if k.noCH {
		skip = toSet(flow.OSPSteps(flow.Setup))
	}
	order := flow.SetupOrder
	if !setup.seen(12) && !setup.seen(17) && !setup.seen(22) {
		variants = append(variants, VariantNo180)
		order = flow.SetupOrderNo180
		for _, n := range flow.Ringing {
			skip[n] = true
		}
	}
	k.expect(flow.Setup, flow.SetupSteps, setup, skip, order)
	k.kinds(flow.Setup, flow.SetupSteps, setup)
	k.order(flow.Setup, flow.Without(order, setKeys(skip)...), setup)

	if len(teardown) == 0 {
		return append(k.cutVariant(variants), VariantNoTeardown)
	}
	table, order := flow.TeardownSteps, flow.TeardownOrder
	if k.c.CalleeHangsUp {
		variants = append(variants, VariantCalleeHangsUp)
		table, order = flow.TeardownStepsCalleeHangsUp, flow.TeardownOrderCalleeHangsUp
	}
	skip = map[int]bool{}
	if k.noCH {
		skip = toSet(flow.OSPSteps(flow.Teardown))
	}
	k.expect(flow.Teardown, table, teardown, skip, order)
	k.kinds(flow.Teardown, table, teardown)
	k.order(flow.Teardown, flow.Without(order, setKeys(skip)...), teardown)
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
func (k *checker) denied(refusal *Message, setup steps) {
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
	if m := setup[beyond]; beyond != 0 && m != nil && m.First.No > 0 {
		fail(beyond, "no INVITE beyond the refusing proxy "+refusal.From, where(m), m)
	}
	toUAC := false
	for _, m := range k.c.Messages {
		if m.Kind == flow.GateSet || m.Kind == flow.GateSetAck {
			fail(m.Step, "no gate for a denied call", where(m), m)
		}
		if m.sip != nil && m.sip.CSeqMethod == "INVITE" && m.sip.Status >= 300 && k.toRole(m) == flow.UAC {
			toUAC = true
		}
	}
	if !toUAC {
		fail(0, "the refusal reaches the UAC", "no final error response to the UAC", nil)
	}
	dec := map[string]int{flow.SIP1: 5, flow.SIP2: 10}[refuser]
	if m := setup[dec]; m != nil && m.Kind != flow.COPSDecRemove {
		fail(dec, "DEC Remove before the refusal", where(m), m)
	}
	var prefix []flow.Before
	for _, b := range flow.SetupOrder {
		if b.B <= dec {
			prefix = append(prefix, b)
		}
	}
	skip := []int{}
	if k.noCH {
		skip = flow.OSPSteps(flow.Setup)
	}
	k.order(flow.Setup, flow.Without(prefix, skip...), setup)
}

// roleHook lets the checker ask the topology for roles without holding
// the analyzer.
type roleHook interface {
	roleOf(m *Message, from bool) string
}

func roleOfName(k *checker, m *Message) string { return k.roles.roleOf(m, true) }

func (k *checker) toRole(m *Message) string { return k.roles.roleOf(m, false) }
