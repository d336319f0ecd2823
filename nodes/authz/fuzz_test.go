package authz

import (
	"reflect"
	"testing"
)

// FuzzParse: the policy parser never panics, and a policy it accepts
// renders to text that parses back to the same rules.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`deny * -> premium* code=402 reason="premium numbers; barred"; allow uac->uas class=af41 bw=128k`,
		`allow * -> *`,
		`deny a -> b reason="quote \" inside"`,
		`allow sip:boss@* -> [a-c]* bw=2M class=CS5`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		q, err := Parse(p.String())
		if err != nil {
			t.Fatalf("rendered policy %q does not parse: %v", p.String(), err)
		}
		if !reflect.DeepEqual(p.Rules(), q.Rules()) {
			t.Fatalf("render round trip changed rules:\n%+v\n%+v", p.Rules(), q.Rules())
		}
		_ = p.Decide("sip:uac@x", "uas")
	})
}
