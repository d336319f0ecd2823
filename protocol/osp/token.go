package osp

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/smallstep/pkcs7"
)

// Token validation failures. Each is distinct so that a refusal names the
// reason; all are answered with StatusUnauthorized.
var (
	ErrTokenMalformed    = errors.New("osp: token malformed")
	ErrTokenSignature    = errors.New("osp: token signature invalid")
	ErrTokenUntrusted    = errors.New("osp: token signer not trusted by the lab CA")
	ErrTokenSigner       = errors.New("osp: token signed by the wrong party")
	ErrTokenExpired      = errors.New("osp: token expired")
	ErrTokenNotYetValid  = errors.New("osp: token not yet valid")
	ErrTokenWrongCall    = errors.New("osp: token is for another call")
	ErrTokenWrongParties = errors.New("osp: token is for other parties")
	ErrTokenReplayed     = errors.New("osp: token already used")
)

// Signer issues tokens with the clearinghouse's key.
type Signer struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// NewSigner signs with key; cert (its certificate) is embedded in each
// token so that verifiers need only the lab CA.
func NewSigner(cert *x509.Certificate, key crypto.Signer) *Signer {
	return &Signer{cert: cert, key: key}
}

// Sign encodes ti and returns the DER PKCS#7 SignedData (content
// attached, SHA-256). Carry it base64 (the Base64 type does).
func (s *Signer) Sign(ti *TokenInfo) ([]byte, error) {
	if ti.Random == "" {
		ti.Random = newRandom()
	}
	content, err := ti.marshal()
	if err != nil {
		return nil, err
	}
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		return nil, fmt.Errorf("osp: sign token: %w", err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSigner(s.cert, s.key, pkcs7.SignerInfoConfig{}); err != nil {
		return nil, fmt.Errorf("osp: sign token: %w", err)
	}
	der, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("osp: sign token: %w", err)
	}
	return der, nil
}

// ParseToken reads a token's TokenInfo without checking anything: for
// logs and for a policy server that wants the granted class before it asks
// the clearinghouse to validate. Never authorise on it alone.
func ParseToken(token []byte) (*TokenInfo, error) {
	p7, err := pkcs7.Parse(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenMalformed, err)
	}
	ti, err := unmarshalTokenInfo(p7.Content)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenMalformed, err)
	}
	return ti, nil
}

// Expect is what a token must match: the call and, when set, the parties
// (compared as given or by their user part, so "sip:uac@198.18.1.2" matches
// "uac").
type Expect struct {
	CallID      string
	Source      string
	Destination string
}

// Verifier checks tokens against the lab CA and remembers the ones it has
// accepted, so that a token is good for one use. It is safe for concurrent
// use.
type Verifier struct {
	roots      *x509.CertPool
	signerName string
	now        func() time.Time
	skew       time.Duration
	used       ReplayStore
}

// ReplayStore remembers the tokens a Verifier accepted. Use records key as
// used until the given time (after which the token's validity window
// refuses it anyway) and reports whether it was fresh. A store shared with
// a database makes replay protection survive a restart.
type ReplayStore interface {
	Use(key string, until time.Time) (fresh bool, err error)
}

// VerifierOption configures a Verifier.
type VerifierOption func(*Verifier)

// WithClock injects the verifier's clock (tests, benchmarks).
func WithClock(now func() time.Time) VerifierOption { return func(v *Verifier) { v.now = now } }

// WithSignerName requires the token's signer certificate to name this
// node (the clearinghouse), not just any lab certificate.
func WithSignerName(name string) VerifierOption { return func(v *Verifier) { v.signerName = name } }

// WithSkew tolerates clock differences in the validity window (default 0:
// the lab's nodes share one kernel clock).
func WithSkew(d time.Duration) VerifierOption { return func(v *Verifier) { v.skew = d } }

// WithReplayStore keeps the used tokens in s instead of memory.
func WithReplayStore(s ReplayStore) VerifierOption { return func(v *Verifier) { v.used = s } }

// NewVerifier trusts tokens whose signer chains to roots.
func NewVerifier(roots *x509.CertPool, opts ...VerifierOption) *Verifier {
	v := &Verifier{roots: roots, now: time.Now}
	for _, o := range opts {
		o(v)
	}
	if v.used == nil {
		v.used = &memoryReplays{now: v.now, skew: v.skew, used: map[string]time.Time{}}
	}
	return v
}

// ErrReplayStore is wrapped when the replay store fails: the token's fate
// is unknown, and the caller answers with a server error, not a refusal.
var ErrReplayStore = errors.New("osp: replay store")

// Verify checks the token's signature, its chain to the lab CA, its signer
// (WithSignerName), its validity window, that it is for want's call and
// parties, and that it was not accepted before; then it records it as
// used. Errors wrap one of the ErrToken* reasons, or ErrReplayStore.
func (v *Verifier) Verify(token []byte, want Expect) (*TokenInfo, error) {
	ti, err := v.check(token, want)
	if err != nil {
		return nil, err
	}
	// Both sides' tokens of one call share a transaction id; the random
	// attribute tells them apart.
	fresh, err := v.used.Use(ti.TransactionID+"/"+ti.Random, ti.ValidUntil.Add(v.skew))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrReplayStore, err)
	}
	if !fresh {
		return nil, fmt.Errorf("%w: transaction %s", ErrTokenReplayed, ti.TransactionID)
	}
	return ti, nil
}

// memoryReplays is the default ReplayStore: a map, forgotten on restart.
type memoryReplays struct {
	now  func() time.Time
	skew time.Duration

	mu        sync.Mutex
	used      map[string]time.Time // token key -> used until, pruned when past
	lastPrune time.Time
}

func (m *memoryReplays) Use(key string, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if now.Sub(m.lastPrune) > time.Second {
		// Expired tokens are refused by the window check anyway, so they
		// need not be remembered. Pruning at most once a second keeps a
		// busy verifier from scanning the map on every call.
		m.lastPrune = now
		for k, u := range m.used {
			if now.After(u) {
				delete(m.used, k)
			}
		}
	}
	if _, seen := m.used[key]; seen {
		return false, nil
	}
	m.used[key] = until
	return true, nil
}

// Check is Verify without recording the use (a token may be checked by a
// party that does not consume it).
func (v *Verifier) Check(token []byte, want Expect) (*TokenInfo, error) {
	return v.check(token, want)
}

func (v *Verifier) check(token []byte, want Expect) (*TokenInfo, error) {
	if want.CallID == "" {
		return nil, fmt.Errorf("%w: no call id to check against", ErrTokenWrongCall)
	}
	p7, err := pkcs7.Parse(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenMalformed, err)
	}
	if len(p7.Signers) != 1 {
		return nil, fmt.Errorf("%w: %d signers, want 1", ErrTokenMalformed, len(p7.Signers))
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		return nil, fmt.Errorf("%w: no signer certificate", ErrTokenMalformed)
	}
	// Signature first, with no trust store: a failure here is forgery or
	// tampering, whoever the signer claims to be.
	if err := p7.Verify(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenSignature, err)
	}
	now := v.now()
	intermediates := x509.NewCertPool()
	for _, c := range p7.Certificates {
		if c != signer {
			intermediates.AddCert(c)
		}
	}
	if _, err := signer.Verify(x509.VerifyOptions{
		Roots: v.roots, Intermediates: intermediates, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenUntrusted, err)
	}
	if v.signerName != "" && signer.Subject.CommonName != v.signerName {
		return nil, fmt.Errorf("%w: signed by %q, want %q", ErrTokenSigner, signer.Subject.CommonName, v.signerName)
	}
	ti, err := unmarshalTokenInfo(p7.Content)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenMalformed, err)
	}
	if now.Add(v.skew).Before(ti.ValidAfter.Time) {
		return nil, fmt.Errorf("%w: valid after %s, now %s", ErrTokenNotYetValid, ti.ValidAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.Add(-v.skew).After(ti.ValidUntil.Time) {
		return nil, fmt.Errorf("%w: valid until %s, now %s", ErrTokenExpired, ti.ValidUntil.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if string(ti.CallID) != want.CallID {
		return nil, fmt.Errorf("%w: token call %q, this call %q", ErrTokenWrongCall, ti.CallID, want.CallID)
	}
	if want.Source != "" && !sameParty(ti.SourceInfo.Value, want.Source) {
		return nil, fmt.Errorf("%w: token source %q, call source %q", ErrTokenWrongParties, ti.SourceInfo.Value, want.Source)
	}
	if want.Destination != "" && !sameParty(ti.DestinationInfo.Value, want.Destination) {
		return nil, fmt.Errorf("%w: token destination %q, call destination %q", ErrTokenWrongParties, ti.DestinationInfo.Value, want.Destination)
	}
	return ti, nil
}

// TokenStatus turns a token validation error into the OSP status a refusal
// carries: 401 with the reason.
func TokenStatus(err error) Status {
	return Status{Code: StatusUnauthorized, Description: strings.TrimPrefix(err.Error(), "osp: ")}
}

func sameParty(a, b string) bool {
	if a == b {
		return true
	}
	ua, _ := SplitParty(a)
	ub, _ := SplitParty(b)
	return ua != "" && ua == ub
}
