package copsconn

import (
	"testing"
	"time"
)

func TestKeepAliveSender(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	// rnd 0 puts the next KA at 1/4 of the timer, rnd 1 (limit) at 3/4.
	k := newKeepAlive(4*time.Second, true, t0, 0)
	if got := k.Next(); !got.Equal(at(1000)) {
		t.Fatalf("first KA due %v, want +1s", got.Sub(t0))
	}
	steps := []struct {
		ms   int
		want kaAction
	}{{999, kaNone}, {1000, kaSend}}
	for _, s := range steps {
		if got := k.Tick(at(s.ms)); got != s.want {
			t.Fatalf("Tick(+%dms) = %d, want %d", s.ms, got, s.want)
		}
	}
	k.Sent(at(1000), 0.999999)
	if got := k.Next(); got.Sub(at(1000)) < 2999*time.Millisecond || got.After(at(4000)) {
		t.Fatalf("KA after rnd≈1 due %v after send, want ≈3s", got.Sub(at(1000)))
	}
	// Nothing received since t0: the peer is dead at +4s.
	k.Sent(at(3500), 0.5)
	if got := k.Next(); !got.Equal(at(4000)) {
		t.Fatalf("next = %v, want the dead line at +4s", got.Sub(t0))
	}
	if got := k.Tick(at(4000)); got != kaDead {
		t.Fatalf("Tick at the dead line = %d", got)
	}
	k.Received(at(4000), false)
	if got := k.Tick(at(4001)); got == kaDead {
		t.Fatal("still dead after receiving")
	}
}

func TestKeepAliveReceiverNeverSends(t *testing.T) {
	t0 := time.Unix(0, 0)
	k := newKeepAlive(time.Second, false, t0, 0)
	if got := k.Tick(t0.Add(900 * time.Millisecond)); got != kaNone {
		t.Fatalf("receiver acted: %d", got)
	}
	if got := k.Next(); !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("next %v", got)
	}
}

func TestKeepAliveDisabled(t *testing.T) {
	k := newKeepAlive(0, true, time.Unix(0, 0), 0.5)
	if !k.Next().IsZero() || k.Tick(time.Unix(1e6, 0)) != kaNone {
		t.Fatal("KA timer 0 must disable keep-alives")
	}
}

func TestKeepAliveFlood(t *testing.T) {
	t0 := time.Unix(0, 0)
	k := newKeepAlive(time.Second, false, t0, 0)
	for i := range floodLimit {
		if k.Received(t0.Add(time.Duration(i)*time.Millisecond), true) {
			t.Fatalf("flood declared after %d KAs", i+1)
		}
	}
	if !k.Received(t0.Add(100*time.Millisecond), true) {
		t.Fatal("no flood after floodLimit+1 KAs in a second")
	}
	// A new second starts a new count.
	if k.Received(t0.Add(1200*time.Millisecond), true) {
		t.Fatal("flood carried over into the next second")
	}
}
