package osp

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// FuzzUnmarshal: the decoder never panics, and whatever it accepts
// survives marshal -> unmarshal unchanged. Seeds: the toolkit fixtures and
// every sample message (plus testdata/fuzz/FuzzUnmarshal, which go test
// runs as regular tests). Crashers kept there:
//   - response-without-status: an answer without Status decoded as code 0
//     and re-encoded as a Code the decoder refuses; answers now need a Status.
//   - empty-callid-is-absent: <CallId></CallId> decoded as an empty,
//     non-nil value that Marshal then omitted; empty now decodes as absent.
func FuzzUnmarshal(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.xml")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, m := range sampleMessages() {
		b, err := Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unmarshal(b)
		if err != nil {
			return
		}
		out, err := Marshal(m)
		if err != nil {
			t.Fatalf("accepted message does not marshal: %v", err)
		}
		m2, err := Unmarshal(out)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v\n%s", err, out)
		}
		normalizeTimes(m)
		normalizeTimes(m2)
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed the message:\n in  %+v\n out %+v\nwire %s", m, m2, out)
		}
	})
}

// FuzzParseToken: the token parser never panics on any bytes, and
// verification of arbitrary bytes never succeeds.
func FuzzParseToken(f *testing.F) {
	now := time.Now()
	lab := newLabPKI(f)
	tok, err := lab.signer.Sign(sampleTokenInfo(now))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add([]byte{0x30, 0x80, 0x06, 0x09})
	v := lab.verifier(f, now)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseToken(b)
		if _, err := v.Check(b, expectCall1); err == nil && !reflect.DeepEqual(b, tok) {
			// Only a token signed by the lab's clearinghouse may pass;
			// DER allows no second encoding of the same signature here
			// unless the content is identical.
			ti, _ := ParseToken(b)
			if ti == nil || ti.TransactionID != "4242" {
				t.Fatalf("arbitrary bytes verified: %x", b)
			}
		}
	})
}
