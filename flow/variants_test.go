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

// The orders the verifier has always checked, written out: the chains of
// the tables must give exactly these constraints, in this order.
func TestOrdersAsConstraints(t *testing.T) {
	chain := func(from, to int) []Before {
		var out []Before
		for i := from; i < to; i++ {
			out = append(out, Before{i, i + 1})
		}
		return out
	}
	cases := []struct {
		name      string
		got, want []Before
	}{
		{"setup", SetupOrder, append(chain(1, 22),
			Before{11, 23}, Before{23, 24}, Before{16, 24}, Before{24, 25},
			Before{21, 25}, Before{22, 25}, Before{25, 26}, Before{26, 27}, Before{27, 28})},
		{"setup without 180", SetupOrderNo180, append(chain(1, 11),
			Before{11, 23}, Before{23, 13}, Before{13, 14}, Before{14, 15}, Before{15, 16}, Before{16, 24},
			Before{24, 18}, Before{18, 19}, Before{19, 20}, Before{20, 21}, Before{21, 25},
			Before{25, 26}, Before{26, 27}, Before{27, 28})},
		{"teardown", TeardownOrder, []Before{{1, 2}, {2, 3}, {3, 10}, {10, 11}, {11, 12},
			{1, 4}, {4, 5}, {5, 6}, {6, 7}, {7, 8}, {8, 9},
			{2, 13}, {13, 14}, {14, 15}, {15, 16}, {16, 17}, {17, 18}}},
		{"teardown, callee hangs up", TeardownOrderCalleeHangsUp, []Before{{3, 2}, {2, 1}, {1, 12}, {12, 11}, {11, 10},
			{2, 4}, {4, 5}, {5, 6}, {6, 7}, {7, 8}, {8, 9},
			{3, 13}, {13, 14}, {14, 15}, {15, 16}, {16, 17}, {17, 18}}},
	}
	for _, c := range cases {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: order\n%v\nwant\n%v", c.name, c.got, c.want)
		}
	}
}

// Every step a variant's order names must exist, and every step of the
// variant (but the media) must be ordered somewhere.
func TestVariantOrdersCoverTheirSteps(t *testing.T) {
	for _, p := range []Phase{Setup, Teardown} {
		for v := Variant(0); v < TheftOfService<<1; v++ {
			q := Of(p, v)
			named := map[int]bool{}
			for _, b := range q.Before() {
				named[b.A], named[b.B] = true, true
			}
			for n := range named {
				if _, ok := q.Step(n); !ok {
					t.Errorf("%s %s: order names step %d, which is not in the table", p, v, n)
				}
			}
			for _, s := range q.Steps {
				if named[s.N] == (s.Kind == RTPMedia) {
					t.Errorf("%s %s: step %d ordered=%v", p, v, s.N, named[s.N])
				}
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

func TestNoClearinghouseTakesOSPOffTheWire(t *testing.T) {
	for _, p := range []Phase{Setup, Teardown} {
		q := Of(p, NoClearinghouse|CalleeHangsUp)
		for _, s := range q.Steps {
			if s.Kind.Proto() == "OSP" {
				t.Errorf("%s: %v still in the no-clearinghouse table", p, s)
			}
		}
		if len(q.Steps)+4 != len(Of(p, CalleeHangsUp).Steps) {
			t.Errorf("%s: %d steps without the clearinghouse", p, len(q.Steps))
		}
	}
	// 2 < 3 < 4 < 5 without 3 and 4 keeps 2 < 5.
	if !slices.Contains(Of(Setup, NoClearinghouse).Before(), Before{2, 5}) {
		t.Error("setup without the clearinghouse lost 2 < 5")
	}
}

// Every message is one step of its table: a node that names the kind and
// one end (the one it is) finds it, and so does one that names both ends.
// The clearinghouse serves both sides: naming it alone is not enough.
func TestLookupFindsEveryStepByOneEnd(t *testing.T) {
	for _, p := range []Phase{Setup, Teardown} {
		for _, v := range []Variant{0, No180, CalleeHangsUp, NoClearinghouse} {
			q := Of(p, v)
			for _, s := range q.Steps {
				re := Kind("")
				if s.Kind.decision() {
					r, _ := q.Step(s.Answers)
					re = r.Kind
				}
				ms := []Msg{{Kind: s.Kind, From: s.From, To: s.To, Re: re}}
				if s.From != CH {
					ms = append(ms, Msg{Kind: s.Kind, From: s.From, Re: re})
				}
				if s.To != CH {
					ms = append(ms, Msg{Kind: s.Kind, To: s.To, Re: re})
				}
				for _, m := range ms {
					got, ok := Lookup(p, v, m)
					if !ok || got != s {
						t.Errorf("%s %s: Lookup(%+v) = %v %v, want %v", p, v, m, got, ok, s)
					}
				}
			}
		}
	}
}

func TestLookup(t *testing.T) {
	cases := []struct {
		p    Phase
		v    Variant
		m    Msg
		want int
	}{
		{Setup, 0, Msg{Kind: SIPInvite, From: SIP1, To: SIP2}, 6},
		{Setup, 0, Msg{Kind: GateSetAck, From: R1, To: POL1}, 20},
		{Setup, 0, Msg{Kind: COPSDecInstall, From: POL1, Re: COPSReqAAA}, 5},
		{Setup, 0, Msg{Kind: COPSDecInstall, To: SIP1, Re: COPSReqLDP}, 21},
		// A denied call's DEC Remove answers the REQ AAA at step 5.
		{Setup, 0, Msg{Kind: COPSDecRemove, To: SIP1, Re: COPSReqAAA}, 5},
		{Teardown, 0, Msg{Kind: SIPBye, From: UAC, To: SIP1}, 1},
		{Teardown, CalleeHangsUp, Msg{Kind: SIPBye, From: UAS, To: SIP2}, 3},
		{Teardown, CalleeHangsUp, Msg{Kind: SIPBye, From: SIP1, To: UAC}, 1},
		{Teardown, CalleeHangsUp, Msg{Kind: SIPOK, From: UAC, To: SIP1}, 12},
		{Teardown, CalleeHangsUp, Msg{Kind: SIPOK, From: SIP2, To: UAS}, 10},
		{Teardown, CalleeHangsUp, Msg{Kind: GateDelete, From: POL2, To: R2}, 14},
		{Teardown, 0, Msg{Kind: COPSDecRemove, From: POL2, Re: COPSReqNoLDP}, 16},
	}
	for _, c := range cases {
		s, ok := Lookup(c.p, c.v, c.m)
		if !ok || s.N != c.want {
			t.Errorf("Lookup(%s, %s, %+v) = %v %v, want step %d", c.p, c.v, c.m, s.N, ok, c.want)
		}
	}
	for _, c := range []struct {
		p Phase
		v Variant
		m Msg
	}{
		{Teardown, 0, Msg{Kind: SIPBye, From: UAS, To: SIP2}},               // a BYE from the UAS is the callee's
		{Setup, NoClearinghouse, Msg{Kind: OSPAuthReq, From: POL1, To: CH}}, // not on the wire
		{Setup, 0, Msg{Kind: COPSDecInstall, From: POL1}},                   // 5 or 21: the REQ decides
		{Setup, 0, Msg{Kind: SIPOK}},                                        // three hops
		{Setup, 0, Msg{Kind: COPSDecInstall, From: POL1, Re: COPSReqNoLDP}}, // no noLDP in the setup
	} {
		if s, ok := Lookup(c.p, c.v, c.m); ok {
			t.Errorf("Lookup(%s, %s, %+v) found %v", c.p, c.v, c.m, s)
		}
	}
}

func TestSides(t *testing.T) {
	for _, side := range []Side{Originating, Terminating} {
		for _, r := range []string{side.UA(), side.Proxy(), side.PolicyServer(), side.Router()} {
			if SideOf(r) != side {
				t.Errorf("SideOf(%s) = %s, want %s", r, SideOf(r), side)
			}
		}
	}
	if Originating.String() != "originating" || Terminating.String() != "terminating" || Side(3).String() != "side(3)" {
		t.Errorf("side names %s %s %s", Originating, Terminating, Side(3))
	}
	if SideOf(CH) != SideUnknown || SideUnknown.Proxy() != "" {
		t.Error("CH has no side")
	}
	gs := Gates()
	if len(gs) != 2 || gs[0] != (Gate{Originating, R1, UAC, 19, 20, 5, 6}) || gs[1] != (Gate{Terminating, R2, UAS, 14, 15, 14, 15}) {
		t.Errorf("Gates() = %+v", gs)
	}
}

func TestVariantNames(t *testing.T) {
	if got := (No180 | NoClearinghouse).String(); got != "no-180+no-clearinghouse" {
		t.Errorf("String = %q", got)
	}
	for _, v := range Variants() {
		if v.Title() == "" || v.Doc() == "" {
			t.Errorf("variant %s has no title or prose", v)
		}
	}
}
