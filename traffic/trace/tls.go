package trace

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// The OSP leg over TLS (the lab's clearinghouse with tls: "on") is read as
// Wireshark reads it with tls.keylog_file: the record layer is cut from
// the TCP stream (RFC 8446 section 5.1, RFC 5246 section 6.2), the
// ClientHello and ServerHello give the session's client random, version
// and cipher suite, the key log gives its secrets, and the records are
// decrypted with the keys derived from them (TLS 1.3: RFC 8446 section 7;
// TLS 1.2: RFC 5246 section 6.3, AEAD suites RFC 5288 and RFC 7905). The
// plaintext is HTTP carrying OSP, framed and parsed as on the clear leg.

// TLS record content types and handshake types.
const (
	recChangeCipherSpec = 20
	recAlert            = 21
	recHandshake        = 22
	recAppData          = 23
	hsClientHello       = 1
	hsServerHello       = 2
	hsFinished          = 20
	hsKeyUpdate         = 24
	tlsRecordMax        = 5 + 1<<14 + 2048 // header and the largest ciphertext (RFC 5246 6.2.3)
	tls12, tls13        = 0x0303, 0x0304
	extSupportedVersion = 43
)

// helloRetryRandom is the ServerHello random of a HelloRetryRequest (RFC
// 8446 section 4.1.3): the handshake goes on with another ServerHello.
var helloRetryRandom = [32]byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

// looksLikeTLS tells whether b starts with a TLS record header.
func looksLikeTLS(b []byte) bool {
	return len(b) >= 3 && b[0] >= recChangeCipherSpec && b[0] <= recAppData && b[1] == 3 && b[2] <= 4
}

// frameTLS cuts one TLS record.
func frameTLS(b []byte) (int, error) {
	if len(b) < 5 {
		return 0, nil
	}
	n := 5 + int(binary.BigEndian.Uint16(b[3:]))
	if !looksLikeTLS(b) || n > tlsRecordMax {
		return 0, fmt.Errorf("not a TLS record: %x", b[:5])
	}
	if len(b) < n {
		return 0, nil
	}
	return n, nil
}

// frameOSP frames the OSP leg: HTTP/1.1 in the clear, or the TLS records
// that carry it (a record starts with a byte below any HTTP start line).
func frameOSP(b []byte) (int, error) {
	if len(b) > 0 && b[0] >= recChangeCipherSpec && b[0] <= recAppData {
		return frameTLS(b)
	}
	return frameText(b)
}

// tlsSuite is what decrypting a cipher suite takes.
type tlsSuite struct {
	keyLen, ivLen int              // key and (TLS 1.2: implicit) IV lengths
	hash          func() hash.Hash // TLS 1.3 HKDF / TLS 1.2 PRF hash
	aead          func(key []byte) (cipher.AEAD, error)
	chacha        bool
}

func aesGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// tlsSuites are the suites Go's crypto/tls negotiates (its defaults and
// the TLS 1.3 ones); others are reported as not decryptable.
var tlsSuites = map[uint16]tlsSuite{
	0x1301: {16, 12, sha256.New, aesGCM, false},              // TLS_AES_128_GCM_SHA256
	0x1302: {32, 12, sha512.New384, aesGCM, false},           // TLS_AES_256_GCM_SHA384
	0x1303: {32, 12, sha256.New, chacha20poly1305.New, true}, // TLS_CHACHA20_POLY1305_SHA256
	0xC02B: {16, 4, sha256.New, aesGCM, false},               // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
	0xC02F: {16, 4, sha256.New, aesGCM, false},               // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
	0xC02C: {32, 4, sha512.New384, aesGCM, false},            // TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
	0xC030: {32, 4, sha512.New384, aesGCM, false},            // TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
	0xCCA9: {32, 12, sha256.New, chacha20poly1305.New, true}, // TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
	0xCCA8: {32, 12, sha256.New, chacha20poly1305.New, true}, // TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
	0x009C: {16, 4, sha256.New, aesGCM, false},               // TLS_RSA_WITH_AES_128_GCM_SHA256
	0x009D: {32, 4, sha512.New384, aesGCM, false},            // TLS_RSA_WITH_AES_256_GCM_SHA384
}

// tlsKey names one TLS session on one link.
type tlsKey struct {
	link   uint16
	lo, hi endpoint
}

func tlsKeyOf(link uint16, a, b endpoint) tlsKey {
	if string(a.ip[:]) > string(b.ip[:]) || a.ip == b.ip && a.port > b.port {
		a, b = b, a
	}
	return tlsKey{link, a, b}
}

// tlsSession is one TLS connection as one link shows it.
type tlsSession struct {
	client                     endpoint // the ClientHello's sender
	clientRandom, serverRandom [32]byte
	haveClientHello            bool
	haveServerHello            bool
	version, suite             uint16
	dirs                       [2]tlsDirection // client to server, server to client
	failed                     bool            // cannot be read further (reported once)
}

// tlsDirection is one direction's record protection and buffers.
type tlsDirection struct {
	hs     []byte // handshake bytes not yet parsed
	ccs    bool   // TLS 1.2: a ChangeCipherSpec came; what follows is protected
	aead   cipher.AEAD
	iv     []byte
	seq    uint64
	secret []byte // TLS 1.3: the traffic secret in use (for KeyUpdate)
	app    []byte // plaintext not yet framed as HTTP
	appOff uint32 // offset of app[0] in the plaintext stream
	// queue holds protected records that came before their keys could be
	// set (a link that shows the ServerHello before the whole ClientHello).
	queue []queuedRecord
}

type queuedRecord struct {
	rec      []byte
	meta     segMeta
	src, dst endpoint
}

// maxQueuedRecords bounds the records a direction holds for its keys.
const maxQueuedRecords = 256

// tlsRecord takes one TLS record of the OSP leg seen on a link.
func (a *analyzer) tlsRecord(link uint16, src, dst endpoint, rec []byte, meta segMeta) {
	k := tlsKeyOf(link, src, dst)
	s := a.tlsSessions[k]
	if s == nil {
		s = &tlsSession{}
		a.tlsSessions[k] = s
		a.ospSeen++ // the clearinghouse is on the wire, if in TLS
	}
	if s.failed {
		return
	}
	if !s.haveClientHello && rec[0] == recHandshake && len(rec) > 5 && rec[5] == hsClientHello {
		s.client = src
	}
	d := 0
	if src != s.client {
		d = 1
	}
	if err := a.tlsTake(s, d, link, src, dst, rec, meta); err != nil {
		s.failed = true
		a.tlsFailure(s, link, src, dst, meta, err)
	}
}

// protected tells whether a record of a direction is encrypted: in TLS
// 1.3 every protected record is application data on the outside (RFC
// 8446 section 5.2); in TLS 1.2 everything after the ChangeCipherSpec.
func (s *tlsSession) protected(d int, typ byte) bool {
	if s.dirs[d].ccs && s.version != tls13 {
		return true
	}
	return typ == recAppData
}

func (a *analyzer) tlsTake(s *tlsSession, d int, link uint16, src, dst endpoint, rec []byte, meta segMeta) error {
	dir := &s.dirs[d]
	typ := rec[0]
	switch {
	case typ == recChangeCipherSpec:
		// TLS 1.2: protection starts; TLS 1.3: a middlebox compatibility
		// record, meaningless.
		dir.ccs = true
		return a.tlsReady(s, link)
	case !s.protected(d, typ) && typ == recHandshake:
		dir.hs = append(dir.hs, rec[5:]...)
		if err := a.tlsHandshake(s, d); err != nil {
			return err
		}
		return a.tlsReady(s, link)
	case !s.protected(d, typ):
		return nil // a clear alert
	case dir.aead == nil:
		if len(dir.queue) >= maxQueuedRecords {
			return tlsError("%d protected records and still no keys: the handshake is not in the capture", len(dir.queue))
		}
		dir.queue = append(dir.queue, queuedRecord{append([]byte(nil), rec...), meta, src, dst})
		return nil
	}
	return a.tlsOpen(s, d, link, src, dst, rec, meta)
}

// tlsOpen decrypts one protected record and hands on what it carries.
func (a *analyzer) tlsOpen(s *tlsSession, d int, link uint16, src, dst endpoint, rec []byte, meta segMeta) error {
	dir := &s.dirs[d]
	plain, inner, err := dir.open(s, rec)
	if err != nil {
		return err
	}
	switch inner {
	case recHandshake:
		return a.tlsEncryptedHandshake(s, d, plain)
	case recAppData:
		a.tlsDecrypted[s.clientRandom] = true
		dir.app = append(dir.app, plain...)
		return a.tlsApp(dir, link, src, dst, meta)
	}
	return nil // alerts
}

// tlsReady sets the keys once both hellos are in (in either order), and
// opens the records that waited for them.
func (a *analyzer) tlsReady(s *tlsSession, link uint16) error {
	if !s.haveClientHello || !s.haveServerHello {
		return nil
	}
	for d := range s.dirs {
		dir := &s.dirs[d]
		if dir.aead == nil {
			var err error
			switch {
			case s.version == tls13:
				err = a.tls13Keys(s)
			case dir.ccs:
				err = a.tls12Keys(s, d)
			}
			if err != nil {
				return err
			}
		}
		if dir.aead == nil {
			continue
		}
		q := dir.queue
		dir.queue = nil
		for _, r := range q {
			if err := a.tlsOpen(s, d, link, r.src, r.dst, r.rec, r.meta); err != nil {
				return err
			}
		}
	}
	return nil
}

// tlsHandshake reads the clear handshake messages: the randoms, the
// version and the cipher suite.
func (a *analyzer) tlsHandshake(s *tlsSession, d int) error {
	dir := &s.dirs[d]
	for len(dir.hs) >= 4 {
		n := 4 + (int(dir.hs[1])<<16 | int(dir.hs[2])<<8 | int(dir.hs[3]))
		if len(dir.hs) < n {
			return nil
		}
		msg := dir.hs[4:n]
		switch dir.hs[0] {
		case hsClientHello:
			if len(msg) < 34 {
				return tlsError("short ClientHello")
			}
			copy(s.clientRandom[:], msg[2:34])
			s.haveClientHello = true
		case hsServerHello:
			if err := s.serverHello(msg); err != nil {
				return err
			}
		}
		dir.hs = dir.hs[n:]
	}
	return nil
}

func (s *tlsSession) serverHello(msg []byte) error {
	if len(msg) < 35 || len(msg) < 35+int(msg[34])+3 {
		return tlsError("short ServerHello")
	}
	var random [32]byte
	copy(random[:], msg[2:34])
	if random == helloRetryRandom {
		return nil // a HelloRetryRequest: another ServerHello follows
	}
	s.serverRandom = random
	off := 35 + int(msg[34])
	s.suite = binary.BigEndian.Uint16(msg[off:])
	s.version = binary.BigEndian.Uint16(msg)
	off += 3
	if off+2 <= len(msg) {
		exts := msg[off+2:]
		for len(exts) >= 4 {
			typ, n := binary.BigEndian.Uint16(exts), int(binary.BigEndian.Uint16(exts[2:]))
			if 4+n > len(exts) {
				break
			}
			if typ == extSupportedVersion && n == 2 {
				s.version = binary.BigEndian.Uint16(exts[4:])
			}
			exts = exts[4+n:]
		}
	}
	if _, ok := tlsSuites[s.suite]; !ok {
		return tlsError("cipher suite %#04x, which the verifier does not decrypt", s.suite)
	}
	if s.version != tls12 && s.version != tls13 {
		return tlsError("version %#04x, which the verifier does not decrypt", s.version)
	}
	s.haveServerHello = true
	return nil
}

// tls13Keys sets both directions' handshake traffic keys.
func (a *analyzer) tls13Keys(s *tlsSession) error {
	sec := a.keys.tls13[s.clientRandom]
	if sec == nil || sec.clientHS == nil || sec.serverHS == nil || sec.clientApp == nil || sec.serverApp == nil {
		return tlsError("no TLS 1.3 traffic secrets for this session in the key logs")
	}
	for d, secret := range [2][]byte{sec.clientHS, sec.serverHS} {
		if err := s.dirs[d].set13(s, secret); err != nil {
			return err
		}
	}
	return nil
}

// tls12Keys sets the keys of one direction after its ChangeCipherSpec:
// the key block is PRF(master, "key expansion", server random + client
// random), cut into the client's and the server's key and IV.
func (a *analyzer) tls12Keys(s *tlsSession, d int) error {
	suite := tlsSuites[s.suite]
	master := a.keys.master[s.clientRandom]
	if master == nil {
		return tlsError("no TLS 1.2 master secret (CLIENT_RANDOM) for this session in the key logs")
	}
	seed := append(append([]byte("key expansion"), s.serverRandom[:]...), s.clientRandom[:]...)
	block := prf12(suite.hash, master, seed, 2*suite.keyLen+2*suite.ivLen)
	keys := [2][]byte{block[:suite.keyLen], block[suite.keyLen : 2*suite.keyLen]}
	ivs := [2][]byte{block[2*suite.keyLen : 2*suite.keyLen+suite.ivLen], block[2*suite.keyLen+suite.ivLen:]}
	aead, err := suite.aead(keys[d])
	if err != nil {
		return tlsError("%v", err)
	}
	dir := &s.dirs[d]
	dir.aead, dir.iv, dir.seq = aead, ivs[d], 0
	return nil
}

// prf12 is TLS 1.2's PRF, P_hash of RFC 5246 section 5.
func prf12(h func() hash.Hash, secret, seed []byte, n int) []byte {
	out := make([]byte, 0, n)
	mac := hmac.New(h, secret)
	mac.Write(seed)
	ai := mac.Sum(nil) // A(1)
	for len(out) < n {
		mac.Reset()
		mac.Write(ai)
		mac.Write(seed)
		out = mac.Sum(out)
		mac.Reset()
		mac.Write(ai)
		ai = mac.Sum(ai[:0])
	}
	return out[:n]
}

// expandLabel is TLS 1.3's HKDF-Expand-Label (RFC 8446 section 7.1) with
// an empty context.
func expandLabel(h func() hash.Hash, secret []byte, label string, n int) ([]byte, error) {
	full := "tls13 " + label
	info := []byte{byte(n >> 8), byte(n), byte(len(full))}
	info = append(append(info, full...), 0)
	return hkdf.Expand(h, secret, string(info), n)
}

// set13 sets a direction's keys from a TLS 1.3 traffic secret (RFC 8446
// section 7.3); the record sequence number starts again from 0.
func (dir *tlsDirection) set13(s *tlsSession, secret []byte) error {
	suite := tlsSuites[s.suite]
	key, err := expandLabel(suite.hash, secret, "key", suite.keyLen)
	if err != nil {
		return tlsError("%v", err)
	}
	iv, err := expandLabel(suite.hash, secret, "iv", 12)
	if err != nil {
		return tlsError("%v", err)
	}
	aead, err := suite.aead(key)
	if err != nil {
		return tlsError("%v", err)
	}
	dir.aead, dir.iv, dir.seq, dir.secret = aead, iv, 0, secret
	return nil
}

// open decrypts one record and returns its plaintext and content type.
func (dir *tlsDirection) open(s *tlsSession, rec []byte) ([]byte, byte, error) {
	var nonce [12]byte
	var aad []byte
	var sealed []byte
	suite := tlsSuites[s.suite]
	tag := dir.aead.Overhead()
	switch {
	case s.version == tls13 || suite.chacha:
		// nonce = IV xor the sequence number (RFC 8446 5.3, RFC 7905 2).
		copy(nonce[:], dir.iv)
		var seq [8]byte
		binary.BigEndian.PutUint64(seq[:], dir.seq)
		for i := range seq {
			nonce[4+i] ^= seq[i]
		}
		sealed = rec[5:]
		if s.version == tls13 {
			aad = rec[:5]
		}
	default:
		// AES-GCM in TLS 1.2: the implicit 4-byte salt, then the 8-byte
		// explicit nonce the record carries (RFC 5288 section 3).
		if len(rec) < 5+8 {
			return nil, 0, tlsError("short record")
		}
		copy(nonce[:4], dir.iv)
		copy(nonce[4:], rec[5:13])
		sealed = rec[13:]
	}
	if len(sealed) < tag {
		return nil, 0, tlsError("record shorter than its tag")
	}
	if aad == nil {
		// TLS 1.2: seq_num + type + version + plaintext length.
		aad = binary.BigEndian.AppendUint64(make([]byte, 0, 13), dir.seq)
		aad = append(aad, rec[0], rec[1], rec[2], byte((len(sealed)-tag)>>8), byte(len(sealed)-tag))
	}
	plain, err := dir.aead.Open(nil, nonce[:dir.aead.NonceSize()], sealed, aad)
	if err != nil {
		return nil, 0, tlsError("record %d of this direction does not decrypt with the key log's secrets (%v)", dir.seq, err)
	}
	dir.seq++
	if s.version != tls13 {
		return plain, rec[0], nil
	}
	// TLSInnerPlaintext: content, the real type, zero padding.
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 {
		return nil, 0, tlsError("record without a content type")
	}
	return plain[:i], plain[i], nil
}

// tlsEncryptedHandshake reads the handshake messages inside the encrypted
// records: a TLS 1.3 Finished switches its direction to the application
// traffic keys, a KeyUpdate to the next ones.
func (a *analyzer) tlsEncryptedHandshake(s *tlsSession, d int, plain []byte) error {
	dir := &s.dirs[d]
	dir.hs = append(dir.hs, plain...)
	for len(dir.hs) >= 4 {
		n := 4 + (int(dir.hs[1])<<16 | int(dir.hs[2])<<8 | int(dir.hs[3]))
		if len(dir.hs) < n {
			return nil
		}
		typ := dir.hs[0]
		dir.hs = dir.hs[n:]
		if s.version != tls13 {
			continue
		}
		switch typ {
		case hsFinished:
			if dir.secret == nil {
				continue
			}
			sec := a.keys.tls13[s.clientRandom]
			app := sec.clientApp
			if d == 1 {
				app = sec.serverApp
			}
			if err := dir.set13(s, app); err != nil {
				return err
			}
			dir.hs = nil
		case hsKeyUpdate:
			suite := tlsSuites[s.suite]
			next, err := expandLabel(suite.hash, dir.secret, "traffic upd", suite.hash().Size())
			if err != nil {
				return tlsError("%v", err)
			}
			if err := dir.set13(s, next); err != nil {
				return err
			}
		}
	}
	return nil
}

// tlsApp frames the decrypted HTTP messages and hands each to message(),
// named by its offset in the plaintext stream (the same on every link).
func (a *analyzer) tlsApp(dir *tlsDirection, link uint16, src, dst endpoint, meta segMeta) error {
	for len(dir.app) > 0 {
		n, err := frameText(dir.app)
		if err != nil {
			return tlsError("the decrypted stream is not HTTP: %v", err)
		}
		if n == 0 {
			if len(dir.app) > maxStreamBuffer {
				return tlsError("decrypted message longer than %d bytes", maxStreamBuffer)
			}
			return nil
		}
		if len(skipCRLFOnly(dir.app[:n])) > 0 {
			a.message(link, src, dst, protoTLS, "osp", dir.appOff, dir.app[:n], meta)
		}
		dir.app = dir.app[n:]
		dir.appOff += uint32(n)
	}
	dir.app = nil
	return nil
}

// protoTLS marks, in a message key, a message decrypted from TLS (its
// sequence number is an offset in the plaintext, not in the TCP stream).
const protoTLS = 0x80 | protoTCP

// tlsFailure reports a session the verifier cannot read, once whatever
// the number of links it crosses.
func (a *analyzer) tlsFailure(s *tlsSession, link uint16, src, dst endpoint, meta segMeta, err error) {
	if s.haveClientHello {
		if a.tlsReported[s.clientRandom] {
			return
		}
		a.tlsReported[s.clientRandom] = true
	}
	t := Tuple{Src: src.addrPort(), Dst: dst.addrPort(), Proto: protoTCP}
	seen := fmt.Sprintf("%s on %s: %v", t, a.links[link], err)
	if s.haveClientHello {
		seen = fmt.Sprintf("%s on %s, client random %x...: %v", t, a.links[link], s.clientRandom[:8], err)
	}
	a.tlsFailures = append(a.tlsFailures, Failure{
		Check:    CheckTLS,
		Expected: "OSP over TLS readable with the session's secrets (a key log, as Wireshark's tls.keylog_file)",
		Seen:     seen, Packet: meta.no, Link: a.links[link],
	})
}

// tlsError is what makes a session unreadable; it is reported once, as a
// failure, with the session.
func tlsError(format string, args ...any) error { return fmt.Errorf(format, args...) }
