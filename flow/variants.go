package flow

import (
	"fmt"
	"math/bits"
	"strings"
)

// Variant is a set of docs/FLOW.md's variants; the zero value is the
// patent's main line (the callee rings, the caller hangs up, the
// clearinghouse is on the wire). Of selects the tables of a combination.
type Variant uint16

// The variants. To add one: a bit here, an entry in variants with its
// prose, and either the tables it replaces (Sequence values, like
// fig5No180) or what it takes off the wire (drop).
const (
	// No180: the callee answers 200 without a 180.
	No180 Variant = 1 << iota
	// CalleeHangsUp: the BYE and its 200 run the other way.
	CalleeHangsUp
	// NoClearinghouse: the policy servers do the clearinghouse's work.
	NoClearinghouse
	// Denied: the clearinghouse refuses the call.
	Denied
	// TheftOfService: a UA marks its own packets EF without a gate.
	TheftOfService
)

// variant is one variant as data: its names and prose for docs/FLOW.md
// and the reports, the tables it replaces, what it takes off the wire.
type variant struct {
	v     Variant
	name  string // as reports print it: "no-180"
	title string // docs/FLOW.md's heading
	doc   string
	// tables are the sequences the variant replaces, one per phase at most.
	tables []*Sequence
	// drop, when set, says which steps the variant takes off the wire:
	// they happen inside a node, so no capture or node log shows them.
	drop func(Step) bool
}

// variants lists every variant in docs/FLOW.md's order.
var variants = []variant{
	{
		v: No180, name: "no-180", title: "Setup without 180",
		doc: "If the UAS answers 200 without a 180, the \"LDP\" steps (13-16, 18-21) are triggered " +
			"by the 200 instead and the same order holds with 23-25 in place of 12, 17, 22.",
		tables: []*Sequence{&fig5No180},
	},
	{
		v: CalleeHangsUp, name: "callee-hangs-up", title: "Teardown when the callee hangs up",
		doc: "A step keeps the number of the hop it crosses: the BYE runs UAS -> SIP2 (step 3) -> " +
			"SIP1 (2) -> UAC (1), and its 200 back UAC -> SIP1 (12) -> SIP2 (11) -> UAS (10), so a " +
			"number always names the same pair of nodes, whoever hangs up. The COPS and OSP chains " +
			"keep their numbers and their sides; SIP2 sees the BYE first and starts its release " +
			"chain (13-18), SIP1 sees it at step 2 and starts its own (4-9).",
		tables: []*Sequence{&fig6CalleeHangsUp},
	},
	{
		v: NoClearinghouse, name: "no-clearinghouse", title: "No clearinghouse",
		doc: "Patent: \"the policy server handles most of the clearinghouse tasks\". The OSP steps " +
			"happen inside the policy server; no OSP traffic is on the wire, everything else holds " +
			"(an order through a step that is not on the wire still holds between its neighbours).",
		drop: func(s Step) bool { return s.Kind.Proto() == "OSP" },
	},
	{
		v: Denied, name: "denied", title: "Denied call",
		doc: "CH answers a non-2xx status; POLn answers DEC Remove (at the step of the DEC Install " +
			"it replaces: 5 or 10); the proxy answers the caller 403 with a Reason; no INVITE " +
			"crosses further, no gate is ever installed.",
	},
	{
		v: TheftOfService, name: "theft-of-service", title: "Theft of service",
		doc: "A UA marks its own packets EF without a gate; its edge router re-marks them to " +
			"DSCP 0 (RFC 2475 boundary conditioning).",
	},
}

// fig5No180 is FIG. 5 when the callee answers without ringing: the 200
// triggers the LDP steps in place of the 180.
var fig5No180 = Sequence{
	Phase:   Setup,
	Variant: No180,
	Steps:   without(fig5.Steps, 12, 17, 22),
	Order: []Chain{
		{Steps: append(span(1, 11), 23, 13, 14, 15, 16, 24, 18, 19, 20, 21, 25, 26, 27, 28)},
	},
}

// fig6CalleeHangsUp is FIG. 6 when the callee hangs up: the SIP rows run
// the other way over the same hops.
var fig6CalleeHangsUp = Sequence{
	Phase:   Teardown,
	Variant: CalleeHangsUp,
	Doc:     fig6.Doc,
	Steps:   mirrored(fig6.Steps, "SIP"),
	Order: []Chain{
		{Steps: []int{3, 2, 1, 12, 11, 10}},
		{Steps: []int{2, 4, 5, 6, 7, 8, 9}},
		{Steps: []int{3, 13, 14, 15, 16, 17, 18}},
	},
}

// Of returns the steps and the order of phase p in the variants v: the
// table a variant in v replaces for p (the main line's when none does),
// with the steps the variants in v take off the wire removed.
func Of(p Phase, v Variant) *Sequence {
	q := &fig5
	if p == Teardown {
		q = &fig6
	}
	for _, d := range variants {
		if v&d.v == 0 {
			continue
		}
		for _, t := range d.tables {
			if t.Phase == p {
				q = t
			}
		}
	}
	for _, d := range variants {
		if v&d.v != 0 && d.drop != nil {
			q = q.without(d.v, d.drop)
		}
	}
	return q
}

// Variants returns every variant, in docs/FLOW.md's order.
func Variants() []Variant {
	out := make([]Variant, len(variants))
	for i, d := range variants {
		out[i] = d.v
	}
	return out
}

// String names the variants of a set as reports print them, joined by
// "+" ("no-180+no-clearinghouse"); "main" for the zero value.
func (v Variant) String() string {
	if v == 0 {
		return "main"
	}
	var names []string
	for _, d := range variants {
		if v&d.v != 0 {
			names = append(names, d.name)
			v &^= d.v
		}
	}
	if v != 0 {
		names = append(names, fmt.Sprintf("variant(%#x)", uint16(v)))
	}
	return strings.Join(names, "+")
}

// Title is docs/FLOW.md's heading of a single variant.
func (v Variant) Title() string { return v.info().title }

// Doc is docs/FLOW.md's prose of a single variant.
func (v Variant) Doc() string { return v.info().doc }

func (v Variant) info() variant {
	if bits.OnesCount16(uint16(v)) == 1 {
		for _, d := range variants {
			if d.v == v {
				return d
			}
		}
	}
	return variant{v: v, name: v.String()}
}

// OffWire returns the steps of phase p that the variants in v take off
// the wire (with no clearinghouse: the OSP steps).
func OffWire(p Phase, v Variant) []int {
	var out []int
	for _, s := range Of(p, 0).Steps {
		for _, d := range variants {
			if v&d.v != 0 && d.drop != nil && d.drop(s) {
				out = append(out, s.N)
				break
			}
		}
	}
	return out
}

// without returns the steps other than the numbered ones.
func without(steps []Step, drop ...int) []Step {
	var out []Step
	for _, s := range steps {
		gone := false
		for _, d := range drop {
			gone = gone || s.N == d
		}
		if !gone {
			out = append(out, s)
		}
	}
	return out
}

// mirrored returns the steps with the rows of one protocol running the
// other way (From and To swapped).
func mirrored(steps []Step, proto string) []Step {
	out := append([]Step(nil), steps...)
	for i, s := range out {
		if s.Kind.Proto() == proto {
			out[i].From, out[i].To = s.To, s.From
		}
	}
	return out
}
