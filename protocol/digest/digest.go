// Package digest is SIP digest authentication (RFC 3261 section 22.4,
// with the algorithms of RFC 8760: SHA-256 and SHA-512-256 besides MD5,
// computed as RFC 7616 says): challenges a proxy sends in
// Proxy-Authenticate (407) or a registrar in WWW-Authenticate (401), the
// credentials a client answers with, their verification against a stored
// H(A1), and stateless nonces a server can check without keeping any.
//
// Only qop=auth is offered; credentials without qop (RFC 2069 clients) are
// still verified. The password never needs to be known where credentials
// are checked: H(A1) = H(username:realm:password) is enough.
package digest

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// Algorithms, as the algorithm parameter names them.
const (
	MD5          = "MD5"
	SHA256       = "SHA-256"
	SHA512_256   = "SHA-512-256"
	defaultAlgo  = MD5 // RFC 3261: absent means MD5
	qopAuth      = "auth"
	schemeDigest = "Digest"
)

// ErrAlgorithm is an algorithm this package does not implement.
var ErrAlgorithm = errors.New("digest: unsupported algorithm")

func newHash(alg string) (func() hash.Hash, error) {
	switch strings.ToUpper(alg) {
	case "", MD5:
		return md5.New, nil
	case SHA256:
		return sha256.New, nil
	case SHA512_256:
		return sha512.New512_256, nil
	}
	return nil, fmt.Errorf("%w %q", ErrAlgorithm, alg)
}

func h(newH func() hash.Hash, parts ...string) string {
	x := newH()
	x.Write([]byte(strings.Join(parts, ":")))
	return hex.EncodeToString(x.Sum(nil))
}

// HA1 is H(username:realm:password), what a credential store keeps.
func HA1(alg, username, realm, password string) (string, error) {
	newH, err := newHash(alg)
	if err != nil {
		return "", err
	}
	return h(newH, username, realm, password), nil
}

// response computes request-digest (RFC 7616 3.4.1, RFC 2617 3.2.2.1).
func response(alg, ha1, method, uri, nonce, nc, cnonce, qop string) (string, error) {
	newH, err := newHash(alg)
	if err != nil {
		return "", err
	}
	ha2 := h(newH, method, uri)
	if qop == "" {
		return h(newH, ha1, nonce, ha2), nil
	}
	return h(newH, ha1, nonce, nc, cnonce, qop, ha2), nil
}

// Challenge is one WWW-Authenticate / Proxy-Authenticate value.
type Challenge struct {
	Realm     string
	Nonce     string
	Opaque    string
	Algorithm string
	Stale     bool // the credentials were right, the nonce too old: retry without asking the user
}

// String renders the header value (RFC 3261 25.1 digest-cln).
func (c Challenge) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, `%s realm="%s", nonce="%s"`, schemeDigest, c.Realm, c.Nonce)
	if c.Opaque != "" {
		fmt.Fprintf(&b, `, opaque="%s"`, c.Opaque)
	}
	alg := c.Algorithm
	if alg == "" {
		alg = defaultAlgo
	}
	fmt.Fprintf(&b, `, algorithm=%s, qop="%s"`, alg, qopAuth)
	if c.Stale {
		b.WriteString(", stale=true")
	}
	return b.String()
}

// ParseChallenge reads a WWW-Authenticate / Proxy-Authenticate value.
func ParseChallenge(v string) (Challenge, error) {
	p, err := parse(v)
	if err != nil {
		return Challenge{}, err
	}
	c := Challenge{Realm: p["realm"], Nonce: p["nonce"], Opaque: p["opaque"], Algorithm: p["algorithm"],
		Stale: strings.EqualFold(p["stale"], "true")}
	if c.Nonce == "" {
		return c, errors.New("digest: challenge without nonce")
	}
	return c, nil
}

// Credentials is one Authorization / Proxy-Authorization value.
type Credentials struct {
	Username  string
	Realm     string
	Nonce     string
	URI       string
	Response  string
	Algorithm string
	CNonce    string
	NC        string
	QOP       string
	Opaque    string
}

// ParseCredentials reads an Authorization / Proxy-Authorization value.
func ParseCredentials(v string) (Credentials, error) {
	p, err := parse(v)
	if err != nil {
		return Credentials{}, err
	}
	c := Credentials{Username: p["username"], Realm: p["realm"], Nonce: p["nonce"], URI: p["uri"],
		Response: strings.ToLower(p["response"]), Algorithm: p["algorithm"], CNonce: p["cnonce"],
		NC: p["nc"], QOP: p["qop"], Opaque: p["opaque"]}
	switch {
	case c.Username == "" || c.Nonce == "" || c.URI == "" || c.Response == "":
		return c, errors.New("digest: credentials need username, nonce, uri and response")
	case c.QOP != "" && c.QOP != qopAuth:
		return c, fmt.Errorf("digest: qop %q not offered", c.QOP)
	case c.QOP != "" && (c.CNonce == "" || c.NC == ""):
		return c, errors.New("digest: qop=auth needs cnonce and nc")
	case strings.Trim(c.Response, "0123456789abcdef") != "":
		return c, errors.New("digest: response is not hexadecimal")
	case strings.Trim(c.NC, "0123456789abcdefABCDEF") != "":
		return c, errors.New("digest: nc is not hexadecimal")
	}
	if _, err := newHash(c.Algorithm); err != nil {
		return c, err
	}
	return c, nil
}

// String renders the header value.
func (c Credentials) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, `%s username="%s", realm="%s", nonce="%s", uri="%s", response="%s"`,
		schemeDigest, c.Username, c.Realm, c.Nonce, c.URI, c.Response)
	if c.Algorithm != "" {
		fmt.Fprintf(&b, ", algorithm=%s", c.Algorithm)
	}
	if c.Opaque != "" {
		fmt.Fprintf(&b, `, opaque="%s"`, c.Opaque)
	}
	if c.QOP != "" {
		fmt.Fprintf(&b, ", qop=%s", c.QOP)
	}
	if c.NC != "" {
		fmt.Fprintf(&b, ", nc=%s", c.NC)
	}
	if c.CNonce != "" {
		fmt.Fprintf(&b, `, cnonce="%s"`, c.CNonce)
	}
	return b.String()
}

// Answer computes the credentials for a challenge (the client side; the
// lab's own UAs and the tests use it).
func Answer(ch Challenge, method, uri, username, password, cnonce string) (Credentials, error) {
	ha1, err := HA1(ch.Algorithm, username, ch.Realm, password)
	if err != nil {
		return Credentials{}, err
	}
	c := Credentials{Username: username, Realm: ch.Realm, Nonce: ch.Nonce, URI: uri, Algorithm: ch.Algorithm,
		CNonce: cnonce, NC: "00000001", QOP: qopAuth, Opaque: ch.Opaque}
	c.Response, err = response(ch.Algorithm, ha1, method, uri, c.Nonce, c.NC, c.CNonce, c.QOP)
	return c, err
}

// Verify says whether the credentials answer for method with the user's
// stored ha1 (H(A1) under the credentials' algorithm). The comparison
// takes constant time.
func (c Credentials) Verify(method, ha1 string) bool {
	want, err := response(c.Algorithm, ha1, method, c.URI, c.Nonce, c.NC, c.CNonce, c.QOP)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(c.Response)) == 1
}

// parse reads `Digest k=v, k="v", ...` into lower-case keys.
func parse(v string) (map[string]string, error) {
	v = strings.TrimSpace(v)
	scheme, rest, _ := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, schemeDigest) {
		return nil, fmt.Errorf("digest: scheme %q is not Digest", scheme)
	}
	out := map[string]string{}
	s := strings.TrimSpace(rest)
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("digest: bad parameter at %.20q", s)
		}
		key := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, `"`) {
			end := 1
			var b strings.Builder
			for ; end < len(s) && s[end] != '"'; end++ {
				if s[end] == '\\' && end+1 < len(s) {
					end++
				}
				b.WriteByte(s[end])
			}
			if end >= len(s) {
				return nil, fmt.Errorf("digest: unterminated quoted value of %s", key)
			}
			val, s = b.String(), s[end+1:]
		} else {
			comma := strings.IndexByte(s, ',')
			if comma < 0 {
				comma = len(s)
			}
			val, s = strings.TrimSpace(s[:comma]), s[comma:]
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("digest: parameter %s twice", key)
		}
		out[key] = val
		s = strings.TrimLeft(s, " \t")
		if s != "" {
			if s[0] != ',' {
				return nil, fmt.Errorf("digest: expected ',' at %.20q", s)
			}
			s = strings.TrimLeft(s[1:], " \t")
		}
	}
	return out, nil
}
