package cops

import (
	"crypto/hmac"
	"crypto/md5"
	"hash"
)

// IntegrityKey configures the Message Integrity object (RFC 2748 2.2.15) on
// a connection: every message sent carries KeyID, a sequence number that
// grows by one per message, and an HMAC-MD5 digest (the algorithm RFC 2748
// requires) keyed with Key. Received messages must carry the same KeyID, a
// valid digest and a sequence number greater than the last one seen;
// otherwise the connection is closed with Error 14 (Authentication
// Failure), or 15 (Authentication Required) when the object is missing.
type IntegrityKey struct {
	KeyID uint32
	Key   []byte
}

// DigestLen is the length of the HMAC-MD5 keyed message digest.
const DigestLen = md5.Size

// signer adds Integrity objects to outgoing messages of one connection.
type signer struct {
	keyID uint32
	seq   uint32
	mac   hash.Hash
	zero  [DigestLen]byte
	sum   [DigestLen]byte
}

func newSigner(k IntegrityKey, firstSeq uint32) *signer {
	return &signer{keyID: k.KeyID, seq: firstSeq, mac: hmac.New(md5.New, k.Key)}
}

// appendSigned encodes m with an Integrity object and fills in its digest,
// computed over the whole message up to the digest (RFC 2748 2.2.15). m's
// Integrity fields are overwritten.
func (s *signer) appendSigned(b []byte, m *Message) ([]byte, error) {
	start := len(b)
	m.HasIntegrity = true
	m.Integrity = Integrity{KeyID: s.keyID, Seq: s.seq, Digest: s.zero[:]}
	b, err := m.AppendTo(b)
	if err != nil {
		return b, err
	}
	s.seq++
	end := len(b) - DigestLen
	s.mac.Reset()
	s.mac.Write(b[start:end])
	copy(b[end:], s.mac.Sum(s.sum[:0]))
	return b, nil
}

// verifier checks the Integrity objects of incoming messages.
type verifier struct {
	keyID   uint32
	mac     hash.Hash
	lastSeq uint32
	seen    bool
	sum     [DigestLen]byte
}

func newVerifier(k IntegrityKey) *verifier {
	return &verifier{keyID: k.KeyID, mac: hmac.New(md5.New, k.Key)}
}

// verify checks m, decoded from raw. It rejects replays: a sequence number
// not greater than the previous one.
func (v *verifier) verify(raw []byte, m *Message) error {
	if !m.HasIntegrity {
		return protoErr(ErrAuthRequired, 0, "%s without Integrity object", m.Op)
	}
	in := m.Integrity
	if in.KeyID != v.keyID {
		return protoErr(ErrAuthFailure, 0, "unknown integrity key id %d", in.KeyID)
	}
	if len(in.Digest) != DigestLen {
		return protoErr(ErrAuthFailure, 0, "digest of %d octets, want %d", len(in.Digest), DigestLen)
	}
	v.mac.Reset()
	v.mac.Write(raw[:len(raw)-DigestLen])
	if !hmac.Equal(v.mac.Sum(v.sum[:0]), in.Digest) {
		return protoErr(ErrAuthFailure, 0, "bad digest on %s seq %d", m.Op, in.Seq)
	}
	if v.seen && in.Seq-v.lastSeq-1 >= 1<<31 { // seq <= last, with wrap-around
		return protoErr(ErrAuthFailure, 0, "replayed sequence number %d (last %d)", in.Seq, v.lastSeq)
	}
	v.lastSeq, v.seen = in.Seq, true
	return nil
}
