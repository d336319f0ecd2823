package digest

import (
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
)

// RFC 7616 section 3.9.1: the same request answered with MD5 and SHA-256.
func TestRFC7616Vectors(t *testing.T) {
	const (
		user, pass, realm = "Mufasa", "Circle of Life", "http-auth@example.org"
		nonce             = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
		cnonce            = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
		opaque            = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
	)
	for alg, want := range map[string]string{
		MD5:    "8ca523f5e9506fed4657c9700eebdbec",
		SHA256: "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
	} {
		c, err := Answer(Challenge{Realm: realm, Nonce: nonce, Opaque: opaque, Algorithm: alg}, "GET", "/dir/index.html", user, pass, cnonce)
		if err != nil {
			t.Fatal(err)
		}
		if c.Response != want {
			t.Errorf("%s response %s, want %s", alg, c.Response, want)
		}
		parsed, err := ParseCredentials(c.String())
		if err != nil {
			t.Fatalf("%s: parse own credentials %q: %v", alg, c.String(), err)
		}
		ha1, _ := HA1(alg, user, realm, pass)
		if !parsed.Verify("GET", ha1) {
			t.Errorf("%s: own credentials do not verify", alg)
		}
		if parsed.Verify("POST", ha1) {
			t.Errorf("%s: credentials verify for another method", alg)
		}
		wrong, _ := HA1(alg, user, realm, "Circle of Death")
		if parsed.Verify("GET", wrong) {
			t.Errorf("%s: credentials verify with another password", alg)
		}
	}
}

// Interop: credentials computed by an implementation nobody here wrote
// (icholy/digest, which sipgo's client uses) verify, for SHA-256 (RFC
// 8760) and MD5 (older clients).
func TestVerifiesAnotherImplementation(t *testing.T) {
	key := []byte("test key")
	for _, alg := range []string{SHA256, MD5} {
		ch := Challenge{Realm: "a.qoslab.test", Nonce: NewNonce(key, time.Now()), Algorithm: alg}
		parsed, err := digest.ParseChallenge(ch.String())
		if err != nil {
			t.Fatalf("icholy/digest cannot read our challenge %q: %v", ch, err)
		}
		cred, err := digest.Digest(parsed, digest.Options{Method: "INVITE", URI: "sip:uas@b.qoslab.test", Username: "uac", Password: "secret", Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseCredentials(cred.String())
		if err != nil {
			t.Fatalf("%s: parse %q: %v", alg, cred.String(), err)
		}
		ha1, _ := HA1(alg, "uac", "a.qoslab.test", "secret")
		if !c.Verify("INVITE", ha1) {
			t.Errorf("%s: icholy/digest's credentials %q do not verify", alg, cred.String())
		}
	}
}

func TestNonce(t *testing.T) {
	key, now := []byte("k"), time.Unix(1_000_000, 0)
	n := NewNonce(key, now)
	if ok, stale := CheckNonce(key, n, now.Add(time.Second), time.Minute); !ok || stale {
		t.Errorf("fresh nonce: ok=%v stale=%v", ok, stale)
	}
	if ok, stale := CheckNonce(key, n, now.Add(2*time.Minute), time.Minute); !ok || !stale {
		t.Errorf("old nonce: ok=%v stale=%v, want ok and stale", ok, stale)
	}
	if ok, _ := CheckNonce([]byte("other"), n, now, time.Minute); ok {
		t.Error("a nonce under another key checks")
	}
	if ok, _ := CheckNonce(key, strings.ToUpper(n), now, time.Minute); ok {
		t.Error("a mangled nonce checks")
	}
}

func TestParseRejects(t *testing.T) {
	for _, v := range []string{
		`Basic dXNlcjpwYXNz`,
		`Digest username="a", nonce="n", uri="sip:x", response="r", qop=auth`, // no cnonce/nc
		`Digest username="a", nonce="n", uri="sip:x", response="r", algorithm=SHA-1`,
		`Digest username="a", username="b", nonce="n", uri="sip:x", response="r"`,
		`Digest username="a, nonce="n"`,
	} {
		if _, err := ParseCredentials(v); err == nil {
			t.Errorf("ParseCredentials(%q) accepted", v)
		}
	}
}

// FuzzParseCredentials: any header value parses or is refused with an
// error; what parses renders to a value that parses to the same.
func FuzzParseCredentials(f *testing.F) {
	f.Add(`Digest username="uac", realm="a.qoslab.test", nonce="n", uri="sip:uas@b.qoslab.test", response="0123", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="c"`)
	f.Add(`Digest username="a", nonce="n", uri="sip:x", response="r"`)
	f.Add(`Digest username="a\"b", nonce="n", uri="sip:x", response="r", opaque=""`)
	f.Fuzz(func(t *testing.T, v string) {
		c, err := ParseCredentials(v)
		if err != nil {
			return
		}
		if strings.ContainsAny(c.Username+c.Realm+c.Nonce+c.URI+c.Opaque+c.CNonce, `"\`) {
			return // quoting of these is not round-tripped by String
		}
		again, err := ParseCredentials(c.String())
		if err != nil || again != c {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", v, c, c.String(), again, err)
		}
	})
}
