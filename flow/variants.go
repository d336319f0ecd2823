package flow

// SetupOrderNo180 is SetupOrder for a callee that answers 200 without a
// 180: the LDP steps (13-16, 18-21) are triggered by the 200, so 23, 24
// and 25 take the places of 12, 17 and 22 in the chain (FLOW.md).
var SetupOrderNo180 = concat(
	chain(1, 11),
	[]Before{
		{11, 23}, {23, 13}, {13, 14}, {14, 15}, {15, 16}, {16, 24},
		{24, 18}, {18, 19}, {19, 20}, {20, 21}, {21, 25},
		{25, 26}, {26, 27}, {27, 28},
	},
)

// Ringing lists the steps that exist only when the callee sends a 180.
var Ringing = []int{12, 17, 22}

// TeardownStepsCalleeHangsUp is FIG. 6 when the callee hangs up. A step
// keeps the number of the hop it crosses: the BYE runs UAS -> SIP2 (step 3)
// -> SIP1 (2) -> UAC (1), and its 200 back UAC -> SIP1 (12) -> SIP2 (11)
// -> UAS (10), so a number always names the same pair of nodes, whoever
// hangs up; the COPS and OSP chains keep their numbers and their sides.
// The nodes log the same numbers (nodes/ua, nodes/proxy).
var TeardownStepsCalleeHangsUp = []Step{
	{Teardown, 1, SIPBye, SIP1, UAC, false},
	{Teardown, 2, SIPBye, SIP2, SIP1, false},
	{Teardown, 3, SIPBye, UAS, SIP2, false},
	TeardownSteps[3], TeardownSteps[4], TeardownSteps[5], TeardownSteps[6],
	TeardownSteps[7], TeardownSteps[8],
	{Teardown, 10, SIPOK, SIP2, UAS, false},
	{Teardown, 11, SIPOK, SIP1, SIP2, false},
	{Teardown, 12, SIPOK, UAC, SIP1, false},
	TeardownSteps[12], TeardownSteps[13], TeardownSteps[14], TeardownSteps[15],
	TeardownSteps[16], TeardownSteps[17],
}

// TeardownOrderCalleeHangsUp is TeardownOrder when the callee hangs up:
// the SIP chain runs 3 < 2 < 1 < 12 < 11 < 10; SIP2 sees the BYE first
// (step 3) and starts its release chain (13-18), SIP1 sees it at step 2
// and starts its own (4-9).
var TeardownOrderCalleeHangsUp = concat(
	[]Before{{3, 2}, {2, 1}, {1, 12}, {12, 11}, {11, 10}},
	[]Before{{2, 4}, {4, 5}, {5, 6}, {6, 7}, {7, 8}, {8, 9}},
	[]Before{{3, 13}, {13, 14}, {14, 15}, {15, 16}, {16, 17}, {17, 18}},
)

// OSPSteps lists the steps of a phase that are OSP messages: with no
// clearinghouse they happen inside the policy server and are not on the
// wire.
func OSPSteps(p Phase) []int {
	steps := SetupSteps
	if p == Teardown {
		steps = TeardownSteps
	}
	var out []int
	for _, s := range steps {
		if s.OSP {
			out = append(out, s.N)
		}
	}
	return out
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

// Lookup finds the step a message is in a phase from what it is and who
// sends it to whom (FLOW.md roles). In the teardown, calleeHangsUp selects
// the mirrored SIP rows (TeardownStepsCalleeHangsUp): the BYE from the UAS
// to SIP2 is step 1 then, and the UAC's 200 to SIP1 step 10. A COPS DEC
// answers a REQ on the same handle, so DECs are found by the REQ they
// answer instead (see the trace verifier); Lookup returns the first row.
func Lookup(p Phase, k Kind, from, to string, calleeHangsUp bool) (Step, bool) {
	steps := SetupSteps
	if p == Teardown {
		steps = TeardownSteps
		if calleeHangsUp {
			steps = TeardownStepsCalleeHangsUp
		}
	}
	for _, s := range steps {
		if s.Kind == k && s.From == from && s.To == to {
			return s, true
		}
	}
	return Step{}, false
}
