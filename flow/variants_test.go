package flow

import (
	"slices"
	"testing"
)

func TestWithoutKeepsImpliedOrder(t *testing.T) {
	got := Without([]Before{{1, 2}, {2, 3}, {3, 4}, {4, 5}}, 3, 4)
	want := []Before{{1, 2}, {2, 5}}
	if !slices.Equal(got, want) {
		t.Fatalf("Without = %v, want %v", got, want)
	}
}

func TestOSPSteps(t *testing.T) {
	if got := OSPSteps(Setup); !slices.Equal(got, []int{3, 4, 8, 9}) {
		t.Errorf("setup OSP steps = %v", got)
	}
	if got := OSPSteps(Teardown); !slices.Equal(got, []int{8, 9, 17, 18}) {
		t.Errorf("teardown OSP steps = %v", got)
	}
}

// Every step a variant order names must exist, and every step of the
// variant (other than the dropped ones) must be ordered somewhere.
func TestVariantOrdersCoverTheirSteps(t *testing.T) {
	cases := []struct {
		name    string
		order   []Before
		steps   []Step
		dropped []int
	}{
		{"setup", SetupOrder, SetupSteps, []int{29}},
		{"setup without 180", SetupOrderNo180, SetupSteps, []int{12, 17, 22, 29}},
		{"teardown", TeardownOrder, TeardownSteps, nil},
		{"teardown, callee hangs up", TeardownOrderCalleeHangsUp, TeardownStepsCalleeHangsUp, nil},
	}
	for _, c := range cases {
		named := map[int]bool{}
		for _, b := range c.order {
			named[b.A], named[b.B] = true, true
		}
		for _, s := range c.steps {
			if named[s.N] == slices.Contains(c.dropped, s.N) {
				t.Errorf("%s: step %d ordered=%v dropped=%v", c.name, s.N, named[s.N], slices.Contains(c.dropped, s.N))
			}
		}
	}
}

func TestCalleeTeardownMirrorsSIPOnly(t *testing.T) {
	for i, s := range TeardownStepsCalleeHangsUp {
		if s.N != TeardownSteps[i].N || s.Kind != TeardownSteps[i].Kind {
			t.Errorf("row %d: %v vs %v", i, s, TeardownSteps[i])
		}
		if s.Kind != SIPBye && s.Kind != SIPOK && s != TeardownSteps[i] {
			t.Errorf("row %d changed a COPS/OSP step: %v", i, s)
		}
	}
}

func TestLookup(t *testing.T) {
	cases := []struct {
		p        Phase
		k        Kind
		from, to string
		callee   bool
		want     int
	}{
		{Setup, SIPInvite, SIP1, SIP2, false, 6},
		{Setup, GateSetAck, R1, POL1, false, 20},
		{Teardown, SIPBye, UAC, SIP1, false, 1},
		{Teardown, SIPBye, UAS, SIP2, true, 3},
		{Teardown, SIPBye, SIP1, UAC, true, 1},
		{Teardown, SIPOK, UAC, SIP1, true, 12},
		{Teardown, SIPOK, SIP2, UAS, true, 10},
		{Teardown, GateDelete, POL2, R2, true, 14},
	}
	for _, c := range cases {
		s, ok := Lookup(c.p, c.k, c.from, c.to, c.callee)
		if !ok || s.N != c.want {
			t.Errorf("Lookup(%s, %s, %s->%s, callee=%v) = %v %v, want step %d", c.p, c.k, c.from, c.to, c.callee, s.N, ok, c.want)
		}
	}
	if _, ok := Lookup(Teardown, SIPBye, UAS, SIP2, false); ok {
		t.Error("a BYE from the UAS found in the caller-hangs-up table")
	}
}
