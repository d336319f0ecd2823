package osp

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// pkiNodes gives ch the clearinghouse role and the others the policy
// server role.
func pkiNodes(names ...string) []PKINode {
	var out []PKINode
	for _, n := range names {
		role := RolePolicyServer
		if n == "ch" {
			role = RoleClearinghouse
		}
		out = append(out, PKINode{Name: n, Role: role})
	}
	return out
}

type labPKI struct {
	dir    string
	ch     *Identity
	signer *Signer
}

func newLabPKI(t testing.TB, nodes ...string) labPKI {
	t.Helper()
	dir := t.TempDir()
	if err := WriteLabPKI(dir, pkiNodes(append([]string{"ch"}, nodes...)...)); err != nil {
		t.Fatal(err)
	}
	ch, err := LoadIdentity(dir, "ch")
	if err != nil {
		t.Fatal(err)
	}
	return labPKI{dir: dir, ch: ch, signer: NewSigner(ch.Cert, ch.Key)}
}

func (l labPKI) verifier(t testing.TB, now time.Time) *Verifier {
	t.Helper()
	roots, err := LoadCA(l.dir)
	if err != nil {
		t.Fatal(err)
	}
	return NewVerifier(roots, WithClock(func() time.Time { return now }), WithSignerName("ch"))
}

func sampleTokenInfo(now time.Time) *TokenInfo {
	return &TokenInfo{
		SourceInfo:      Party{PartySIP, "sip:uac@198.18.1.2"},
		DestinationInfo: Party{PartySIP, "sip:uas@198.18.4.2"},
		CallID:          Base64("call-1@198.18.1.2"),
		ValidAfter:      At(now.Add(-time.Minute)),
		ValidUntil:      At(now.Add(10 * time.Minute)),
		TransactionID:   "4242",
		UsageDetail:     &UsageDetail{Amount: Seconds(14400 * time.Second), Increment: 1, Unit: "s"},
		ServiceClass:    "EF",
		Bandwidth:       64000,
	}
}

var expectCall1 = Expect{CallID: "call-1@198.18.1.2", Source: "uac", Destination: "sip:uas@198.18.4.2"}

func TestTokenSignVerify(t *testing.T) {
	now := time.Now()
	lab := newLabPKI(t)
	tok, err := lab.signer.Sign(sampleTokenInfo(now))
	if err != nil {
		t.Fatal(err)
	}
	ti, err := lab.verifier(t, now).Verify(tok, expectCall1)
	if err != nil {
		t.Fatal(err)
	}
	if ti.ServiceClass != "EF" || ti.Bandwidth != 64000 || ti.TransactionID != "4242" || ti.UsageDetail.Amount != Seconds(14400*time.Second) {
		t.Fatalf("token info %+v", ti)
	}
	parsed, err := ParseToken(tok)
	if err != nil || parsed.TransactionID != "4242" {
		t.Fatalf("ParseToken: %+v %v", parsed, err)
	}
}

// TestTokenRefusals: every way a token can be bad is refused with its own
// reason.
func TestTokenRefusals(t *testing.T) {
	now := time.Now()
	lab := newLabPKI(t, "pol1")
	other := newLabPKI(t) // a different lab: different CA
	good := func() []byte {
		tok, err := lab.signer.Sign(sampleTokenInfo(now))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// Forged: same content and certificate, signed with another key.
	forged := func() []byte {
		tok, err := NewSigner(lab.ch.Cert, other.ch.Key).Sign(sampleTokenInfo(now))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// Tampered: one byte of the signed content changed after signing.
	tampered := func() []byte {
		tok := good()
		mark := []byte(`<Bandwidth critical="False">64000`)
		i := bytes.Index(tok, mark)
		if i < 0 {
			t.Fatal("content not found in token")
		}
		tok[i+len(mark)-5] = '9'
		return tok
	}
	otherCA := func() []byte {
		tok, err := other.signer.Sign(sampleTokenInfo(now))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	wrongSigner := func() []byte {
		pol1, err := LoadIdentity(lab.dir, "pol1")
		if err != nil {
			t.Fatal(err)
		}
		tok, err := NewSigner(pol1.Cert, pol1.Key).Sign(sampleTokenInfo(now))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	withInfo := func(mod func(*TokenInfo)) func() []byte {
		return func() []byte {
			ti := sampleTokenInfo(now)
			mod(ti)
			tok, err := lab.signer.Sign(ti)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
	}
	cases := []struct {
		name  string
		token func() []byte
		want  error
		exp   Expect
	}{
		{"garbage", func() []byte { return []byte("not a token") }, ErrTokenMalformed, expectCall1},
		{"forged signature", forged, ErrTokenSignature, expectCall1},
		{"tampered content", tampered, ErrTokenSignature, expectCall1},
		{"other CA", otherCA, ErrTokenUntrusted, expectCall1},
		{"not the clearinghouse", wrongSigner, ErrTokenSigner, expectCall1},
		{"expired", withInfo(func(ti *TokenInfo) {
			ti.ValidAfter, ti.ValidUntil = At(now.Add(-time.Hour)), At(now.Add(-time.Second))
		}), ErrTokenExpired, expectCall1},
		{"not yet valid", withInfo(func(ti *TokenInfo) { ti.ValidAfter = At(now.Add(time.Minute)) }), ErrTokenNotYetValid, expectCall1},
		{"wrong call id", good, ErrTokenWrongCall, Expect{CallID: "call-2@198.18.1.2"}},
		{"wrong source", good, ErrTokenWrongParties, Expect{CallID: expectCall1.CallID, Source: "mallory"}},
		{"wrong destination", good, ErrTokenWrongParties, Expect{CallID: expectCall1.CallID, Destination: "sip:premium@x"}},
		{"unsigned info missing fields", withInfo(func(ti *TokenInfo) { ti.TransactionID = "" }), ErrTokenMalformed, expectCall1},
	}
	reasons := map[string]string{}
	for _, c := range cases {
		_, err := lab.verifier(t, now).Verify(c.token(), c.exp)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
			continue
		}
		reasons[c.name] = c.want.Error()
		if st := TokenStatus(err); st.Code != StatusUnauthorized || st.Description == "" {
			t.Errorf("%s: status %v", c.name, st)
		}
	}
	// The sentinels themselves are distinct.
	seen := map[string]bool{}
	for _, e := range []error{ErrTokenMalformed, ErrTokenSignature, ErrTokenUntrusted, ErrTokenSigner, ErrTokenExpired,
		ErrTokenNotYetValid, ErrTokenWrongCall, ErrTokenWrongParties, ErrTokenReplayed} {
		if seen[e.Error()] {
			t.Errorf("duplicate reason %q", e)
		}
		seen[e.Error()] = true
	}
}

func TestTokenReplayRefused(t *testing.T) {
	now := time.Now()
	lab := newLabPKI(t)
	tok, err := lab.signer.Sign(sampleTokenInfo(now))
	if err != nil {
		t.Fatal(err)
	}
	v := lab.verifier(t, now)
	if _, err := v.Check(tok, expectCall1); err != nil {
		t.Fatalf("check: %v", err)
	}
	if _, err := v.Verify(tok, expectCall1); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if _, err := v.Verify(tok, expectCall1); !errors.Is(err, ErrTokenReplayed) {
		t.Fatalf("second use: got %v, want ErrTokenReplayed", err)
	}
}

// TestOpenSSLVerifiesToken: a token issued by qoslab verifies with
// `openssl cms -verify` against the lab CA, and the content it prints is
// the TokenInfo.
func TestOpenSSLVerifiesToken(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed (apt-get install openssl); skipping the cross-check")
	}
	now := time.Now()
	lab := newLabPKI(t)
	tok, err := lab.signer.Sign(sampleTokenInfo(now))
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "token.der")
	if err := os.WriteFile(in, tok, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(openssl, "cms", "-verify", "-inform", "DER", "-in", in,
		"-CAfile", filepath.Join(lab.dir, CACertFile)).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl cms -verify: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("<TransactionId>4242</TransactionId>")) {
		t.Fatalf("openssl printed %q", out)
	}
	// And it refuses the token against another lab's CA.
	other := newLabPKI(t)
	out, err = exec.Command(openssl, "cms", "-verify", "-inform", "DER", "-in", in,
		"-CAfile", filepath.Join(other.dir, CACertFile)).CombinedOutput()
	if err == nil {
		t.Fatalf("openssl accepted the token with a foreign CA: %s", out)
	}
}

func TestWriteLabPKIRefusesBadNames(t *testing.T) {
	for _, name := range []string{"", "../x", "a/b", "ca"} {
		if err := WriteLabPKI(t.TempDir(), pkiNodes(name)); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
}

func BenchmarkTokenVerify(b *testing.B) {
	now := time.Now()
	lab := newLabPKI(b)
	tok, err := lab.signer.Sign(sampleTokenInfo(now))
	if err != nil {
		b.Fatal(err)
	}
	v := lab.verifier(b, now)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Check(tok, expectCall1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTokenSign(b *testing.B) {
	now := time.Now()
	lab := newLabPKI(b)
	ti := sampleTokenInfo(now)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := lab.signer.Sign(ti); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteLabPKI(b *testing.B) {
	nodes := []PKINode{{Name: "uac", Role: "uac"}, {Name: "sip1", Role: "proxy"}, {Name: "pol1", Role: RolePolicyServer},
		{Name: "r1", Role: "router"}, {Name: "uas", Role: "uas"}, {Name: "sip2", Role: "proxy"},
		{Name: "pol2", Role: RolePolicyServer}, {Name: "r2", Role: "router"}, {Name: "ch", Role: RoleClearinghouse}}
	for b.Loop() {
		if err := WriteLabPKI(b.TempDir(), nodes); err != nil {
			b.Fatal(err)
		}
	}
}

func TestVerifierForgetsExpiredTokens(t *testing.T) {
	now := time.Now()
	lab := newLabPKI(t)
	clock := now
	roots, err := LoadCA(lab.dir)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(roots, WithClock(func() time.Time { return clock }))
	tok, err := lab.signer.Sign(sampleTokenInfo(now))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok, expectCall1); err != nil {
		t.Fatal(err)
	}
	clock = now.Add(time.Hour) // long after ValidUntil
	ti2 := sampleTokenInfo(clock)
	ti2.TransactionID = "4343"
	tok2, err := lab.signer.Sign(ti2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok2, expectCall1); err != nil {
		t.Fatal(err)
	}
	m := v.used.(*memoryReplays)
	m.mu.Lock()
	n := len(m.used)
	m.mu.Unlock()
	if n != 1 {
		t.Fatalf("verifier remembers %d tokens, want 1 (the expired one pruned)", n)
	}
	// The expired token is still refused, now by its window.
	if _, err := v.Verify(tok, expectCall1); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired token: %v", err)
	}
}
