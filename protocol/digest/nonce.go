package digest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// Nonces are stateless (RFC 7616 3.3 suggests it): the issue time and an
// HMAC of it under the server's key, so any server holding the key can
// tell its own fresh nonces from forged or old ones without a table.

// NewNonce issues a nonce at now under key.
func NewNonce(key []byte, now time.Time) string {
	var b [8 + sha256.Size]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	m := hmac.New(sha256.New, key)
	m.Write(b[:8])
	copy(b[8:], m.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// CheckNonce says whether nonce was issued under key (ok) and, if so,
// whether it is older than maxAge at now (stale: the client should retry
// with a fresh one, RFC 3261 22.4 stale=true).
func CheckNonce(key []byte, nonce string, now time.Time, maxAge time.Duration) (ok, stale bool) {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 8+sha256.Size {
		return false, false
	}
	m := hmac.New(sha256.New, key)
	m.Write(b[:8])
	if !hmac.Equal(m.Sum(nil), b[8:]) {
		return false, false
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(b[:8])))
	return true, now.Sub(issued) > maxAge || issued.After(now.Add(time.Minute))
}
