package authz

import (
	"strings"
	"testing"
)

func TestDefaultPolicyAllowsEverything(t *testing.T) {
	p, err := FromParams(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	d := p.Decide("sip:anyone@x", "sip:other@y")
	if !d.Allow || d.Class != "EF" || d.Bandwidth != 80000 || d.Rule != 0 {
		t.Fatalf("default decision %+v", d)
	}
}

func TestPolicyRules(t *testing.T) {
	p, err := Parse(`deny * -> premium* code=402 reason="premium numbers; barred"; allow uac->uas class=af41 bw=128k; allow sip:boss@* -> * bw=2M; deny mallory -> *`)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		src, dst string
		want     Decision
	}{
		{"sip:uac@198.18.1.2", "premium-line", Decision{Code: 402, Reason: "premium numbers; barred", Rule: 1}},
		{"sip:uac@198.18.1.2", "<sip:uas@198.18.4.2>;tag=9", Decision{Allow: true, Class: "AF41", Bandwidth: 128000, Rule: 2}},
		{"sip:boss@corp", "anybody", Decision{Allow: true, Class: "EF", Bandwidth: 2000000, Rule: 3}},
		{"tel:mallory", "uas", Decision{Code: 403, Reason: "denied by policy rule 4", Rule: 4}},
		{"stranger", "uas", Decision{Code: 403, Reason: "no policy rule allows stranger -> uas"}},
	}
	for _, c := range cases {
		if got := p.Decide(c.src, c.dst); got != c.want {
			t.Errorf("%s -> %s: got %+v, want %+v", c.src, c.dst, got, c.want)
		}
	}
	// String renders something Parse reads back to the same rules.
	q, err := Parse(p.String())
	if err != nil {
		t.Fatalf("reparse %q: %v", p.String(), err)
	}
	if q.String() != p.String() {
		t.Errorf("render round trip: %q vs %q", q.String(), p.String())
	}
}

func TestPolicyParseErrors(t *testing.T) {
	bad := map[string]string{
		"verb":          "permit a -> b",
		"arrow":         "allow a b",
		"short":         "allow a ->",
		"class":         "allow a -> b class=XYZ",
		"bw":            "allow a -> b bw=-3",
		"bw unit":       "allow a -> b bw=3G",
		"code range":    "deny a -> b code=200",
		"class on deny": "deny a -> b class=EF",
		"reason allow":  "allow a -> b reason=x",
		"no kv":         "allow a -> b fast",
		"quote":         `deny a -> b reason="open`,
		"pattern":       "allow [ -> b",
		"empty":         " ; ; ",
	}
	for name, s := range bad {
		_, err := Parse(s)
		if err == nil {
			t.Errorf("%s: %q parsed", name, s)
			continue
		}
		if !strings.HasPrefix(err.Error(), "authz: ") {
			t.Errorf("%s: error %q lacks prefix", name, err)
		}
	}
}

func TestUserPart(t *testing.T) {
	for in, want := range map[string]string{
		"sip:alice@host":                "alice",
		"\"A\" <sips:bob@h:5061>;tag=1": "bob",
		"tel:+15551234;phone-context=x": "+15551234",
		"4045551212":                    "4045551212",
	} {
		if got := UserPart(in); got != want {
			t.Errorf("UserPart(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDSCP(t *testing.T) {
	if d, ok := DSCP("EF"); !ok || d != 46 {
		t.Error("EF")
	}
	if d, ok := DSCP("AF41"); !ok || d != 34 {
		t.Error("AF41")
	}
	if _, ok := DSCP("XX"); ok {
		t.Error("XX")
	}
}

// Found by FuzzParse: `deny 0->""` parsed with an empty destination
// pattern, which rendered as "deny 0 ->  code=403" and parsed back as a
// different rule. Patterns must be non-empty single words.
func TestParseRefusesEmptyQuotedPattern(t *testing.T) {
	if _, err := Parse(`deny 0->""`); err == nil {
		t.Fatal("empty pattern accepted")
	}
	if _, err := Parse(`allow "a b" -> c`); err == nil {
		t.Fatal("pattern with a space accepted")
	}
}
