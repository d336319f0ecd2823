package copsconn

import (
	"crypto/hmac"
	"crypto/md5"
	"hash"

	"github.com/qoslab/qoslab/protocol/cops"
)

// DigestLen is the length of the keyed message digest: HMAC-MD5-96, the
// algorithm RFC 2748 2.2.16 makes mandatory (HMAC-MD5 truncated to 96 bits).
const DigestLen = 12

// signer adds Integrity objects to outgoing messages of one connection: the
// Key ID, a sequence number that grows by one per message (wrapping from
// 0xFFFFFFFF to 0) and the digest over the whole message up to the digest
// itself (RFC 2748 2.2.16).
type signer struct {
	keyID uint32
	seq   uint32
	mac   hash.Hash
	zero  [DigestLen]byte
	sum   [md5.Size]byte
}

func newSigner(keyID uint32, key []byte, firstSeq uint32) *signer {
	return &signer{keyID: keyID, seq: firstSeq, mac: hmac.New(md5.New, key)}
}

// appendSigned encodes m with an Integrity object and fills in its digest.
// m's Integrity fields are overwritten.
func (s *signer) appendSigned(b []byte, m *cops.Message) ([]byte, error) {
	start := len(b)
	m.HasIntegrity = true
	m.Integrity = cops.Integrity{KeyID: s.keyID, Seq: s.seq, Digest: s.zero[:]}
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

// verifier checks the Integrity objects of incoming messages. A verifier
// without a key takes it, by Key ID, from keys on the first message (the
// PDP learns which key the PEP uses from its OPN); afterwards every message
// must use that key and carry the sequence number after the previous one.
type verifier struct {
	keys    map[uint32][]byte
	keyID   uint32
	mac     hash.Hash
	lastSeq uint32
	seen    bool
	sum     [md5.Size]byte
}

// newVerifier expects key keyID; with fixed false it takes whichever key
// of keys the first message names.
func newVerifier(keys map[uint32][]byte, keyID uint32, fixed bool) *verifier {
	v := &verifier{keys: keys, keyID: keyID}
	if fixed {
		v.mac = hmac.New(md5.New, keys[keyID])
	}
	return v
}

// verify checks m, decoded from raw. Errors are *cops.ProtocolError with
// code 15 (Authentication required) for a missing Integrity object and 14
// (Authentication failure) for anything else.
func (v *verifier) verify(raw []byte, m *cops.Message) error {
	if !m.HasIntegrity {
		return cops.Errorf(cops.ErrAuthRequired, "%s without Integrity object", m.Op)
	}
	in := m.Integrity
	if v.mac == nil {
		key, ok := v.keys[in.KeyID]
		if !ok {
			return authErr("unknown integrity key id")
		}
		v.keyID, v.mac = in.KeyID, hmac.New(md5.New, key)
	}
	if in.KeyID != v.keyID {
		return authErr("integrity key id changed")
	}
	if len(in.Digest) != DigestLen {
		return authErr("digest is not HMAC-MD5-96")
	}
	v.mac.Reset()
	v.mac.Write(raw[:len(raw)-DigestLen])
	if !hmac.Equal(v.mac.Sum(v.sum[:0])[:DigestLen], in.Digest) {
		return authErr("bad digest")
	}
	if v.seen && in.Seq != v.lastSeq+1 {
		return authErr("sequence number out of order (replayed or lost message)")
	}
	v.lastSeq, v.seen = in.Seq, true
	return nil
}

func authErr(what string) error { return cops.Errorf(cops.ErrAuthFailure, "%s", what) }
