package copsconn

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"

	"github.com/qoslab/qoslab/protocol/cops"
)

var labKeys = map[uint32][]byte{7: []byte("lab secret"), 8: []byte("other secret")}

// Integrity (RFC 2748 2.2.16): signed both ways with HMAC-MD5-96, the PDP
// answering with the key the PEP chose; a missing object closes with Error
// 15, a bad digest, an unknown key or a replayed sequence number with 14.
func TestIntegrity(t *testing.T) {
	leakCheck(t)
	ln := listen(t)
	pdp := (&sessionPDP{}).config()
	pdp.Keys = labKeys
	var mu sync.Mutex
	var peers []Peer
	pdp.Admit = func(p Peer) error { mu.Lock(); peers = append(peers, p); mu.Unlock(); return nil }
	serve(t, ln, pdp)
	addr := ln.Addr().String()

	t.Run("both sides sign", func(t *testing.T) {
		cfg := pepConfig("sip1")
		cfg.Keys, cfg.KeyID = labKeys, 8
		c := runClient(t, NewClient(addr, cfg))
		for i := range 3 {
			if _, err := c.Request(context.Background(), cops.Handle(i), cops.KindAAA.Context(), nil); err != nil {
				t.Fatal(err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if p := peers[len(peers)-1]; !p.Signed || p.KeyID != 8 || p.PEPID != "sip1" {
			t.Fatalf("admission saw %+v", p)
		}
	})
	signed := func(keyID uint32, key []byte) *signer { return newSigner(keyID, key, 1) }
	opn := func() *cops.Message {
		return &cops.Message{Header: cops.Header{Op: cops.OpOPN, ClientType: cops.ClientTypeSession}, PEPID: "x"}
	}
	t.Run("missing", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.send(opn())
		r.expectCC(cops.ErrAuthRequired)
	})
	t.Run("wrong key", func(t *testing.T) {
		r := dialRaw(t, addr)
		b, _ := signed(7, []byte("guess")).appendSigned(nil, opn())
		r.write(b)
		r.expectCC(cops.ErrAuthFailure)
	})
	t.Run("unknown key id", func(t *testing.T) {
		r := dialRaw(t, addr)
		b, _ := signed(9, labKeys[7]).appendSigned(nil, opn())
		r.write(b)
		r.expectCC(cops.ErrAuthFailure)
	})
	t.Run("replay", func(t *testing.T) {
		r := dialRaw(t, addr)
		s := signed(7, labKeys[7])
		b, _ := s.appendSigned(nil, opn())
		r.write(b)
		if m, err := r.read(); err != nil || m.Op != cops.OpCAT || !m.HasIntegrity || m.Integrity.KeyID != 7 || len(m.Integrity.Digest) != DigestLen {
			t.Fatalf("want CAT signed with key 7, got %v %v", m, err)
		}
		ka, _ := s.appendSigned(nil, &cops.Message{Header: cops.Header{Op: cops.OpKA}})
		r.write(ka)
		if m, err := r.read(); err != nil || m.Op != cops.OpKA {
			t.Fatalf("want the KA echoed, got %v %v", m, err)
		}
		r.write(ka) // the same sequence number again
		r.expectCC(cops.ErrAuthFailure)
	})
}

func TestVerifierRejects(t *testing.T) {
	s, v := newSigner(1, []byte("k"), 0xFFFFFFFE), newVerifier(map[uint32][]byte{1: []byte("k")}, 1, true)
	var prev []byte
	for i := range 4 { // crosses the 32-bit wrap
		b, _ := s.appendSigned(nil, &cops.Message{Header: cops.Header{Op: cops.OpKA}})
		var m cops.Message
		if err := m.Decode(b); err != nil {
			t.Fatal(err)
		}
		if err := v.verify(b, &m); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if prev != nil {
			var p cops.Message
			p.Decode(prev)
			if err := v.verify(prev, &p); cops.CodeOf(err) != cops.ErrAuthFailure {
				t.Fatalf("replay of message %d: %v", i-1, err)
			}
		}
		prev = b
		b[len(b)-1] ^= 1
		if err := v.verify(b, &m); cops.CodeOf(err) != cops.ErrAuthFailure {
			t.Fatalf("tampered digest: %v", err)
		}
	}
}

// Admission: the listener sees the peer's address and PEPID and refuses
// whom it does not know, with the code it names (or Error 14).
func TestAdmission(t *testing.T) {
	leakCheck(t)
	ln := listen(t)
	pdp := (&sessionPDP{}).config()
	var mu sync.Mutex
	var seen []Peer
	pdp.Admit = func(p Peer) error {
		mu.Lock()
		seen = append(seen, p)
		mu.Unlock()
		switch p.PEPID {
		case "sip1":
			return nil
		case "moved":
			return &Refusal{Code: cops.ErrUnsupportedClient, Reason: "not served here"}
		}
		return errors.New("unknown PEP")
	}
	serve(t, ln, pdp)
	addr := ln.Addr().String()
	for _, tc := range []struct {
		pepID string
		code  cops.ErrorCode
	}{{"mallory", cops.ErrAuthFailure}, {"moved", cops.ErrUnsupportedClient}} {
		r := dialRaw(t, addr)
		r.send(&cops.Message{Header: cops.Header{Op: cops.OpOPN, ClientType: cops.ClientTypeSession}, PEPID: tc.pepID})
		r.expectCC(tc.code)
	}
	c := runClient(t, NewClient(addr, pepConfig("sip1")))
	if _, err := c.Request(context.Background(), 1, cops.KindAAA.Context(), nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	ok := len(seen) == 3 && seen[2].PEPID == "sip1" && seen[2].Addr.Addr() == netip.MustParseAddr("127.0.0.1") && seen[2].Role == PEP && !seen[2].Signed
	mu.Unlock()
	if !ok {
		t.Fatalf("admission saw %+v", seen)
	}
	// A refused PEP's Client does not get a connection.
	cl := NewClient(addr, pepConfig("mallory"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cl.Run(ctx) }()
	waitFor(t, "the refusal", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) >= 4 })
	if cl.Conn() != nil {
		t.Fatal("refused PEP connected")
	}
	cancel()
	<-done
}
