package copsconn

import (
	"context"
	"errors"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qoslab/qoslab/protocol/cops"
)

// These tests run in synctest bubbles on net.Pipe: keep-alive timers of
// seconds pass in fake time, and every step is checked at the exact
// instant the RFC puts it.

// pipeDial returns a Dial function handing out the client end of a pipe
// whose server end goes to server.
func pipeDial(server chan<- net.Conn) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		a, b := net.Pipe()
		server <- b
		return a, nil
	}
}

// A PDP that accepts with a 1 s KA timer and then says nothing: the PEP
// sends its keep-alives between 1/4 and 3/4 s after its last message, and
// after one whole second without a word gives up with CC Communication
// failure (RFC 2748 4.4).
func TestPEPKeepAliveAndDeadPDP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		server := make(chan net.Conn, 1)
		cfg := pepConfig("sip1")
		cfg.Dial = pipeDial(server)
		lost := make(chan error, 1)
		cfg.OnClose = func(c *Conn, err error) { lost <- err }
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		dialed := make(chan error, 1)
		go func() { _, err := Dial(ctx, "pdp", cfg); dialed <- err }()
		r := &raw{t, <-server}
		defer r.nc.Close()
		if m, err := r.read(); err != nil || m.Op != cops.OpOPN {
			t.Fatalf("want OPN: %v %v", m, err)
		}
		r.send(&cops.Message{Header: cops.Header{Op: cops.OpCAT, ClientType: cops.ClientTypeSession}, KATimer: 1})
		if err := <-dialed; err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		prev := start
		for i := range 4 {
			m, err := r.read()
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			now := time.Now()
			if m.Op == cops.OpCC {
				if m.Error.Code != cops.ErrCommunication || now.Sub(start) != time.Second {
					t.Fatalf("CC %s after %v, want Communication-Failure after 1s", m.Error.Code, now.Sub(start))
				}
				break
			}
			if m.Op != cops.OpKA || now.Sub(prev) < 250*time.Millisecond || now.Sub(prev) > 750*time.Millisecond {
				t.Fatalf("message %d: %s %v after the previous one, want KA after 1/4..3/4 s", i, m.Op, now.Sub(prev))
			}
			prev = now
		}
		var ce *ClosedError
		if err := <-lost; !errors.As(err, &ce) {
			t.Fatalf("OnClose: %v", err)
		}
	})
}

// A PEP that opens and then says nothing: the PDP closes after exactly one
// KA timer with CC Communication failure.
func TestPDPDetectsDeadPEP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		cfg := (&sessionPDP{}).config()
		cfg.KATimer = 1
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		accepted := make(chan *Conn, 1)
		go func() {
			c, err := Accept(ctx, a, cfg)
			if err != nil {
				t.Error(err)
			}
			accepted <- c
		}()
		r := &raw{t, b}
		r.open()
		c := <-accepted
		start := time.Now()
		if m, err := r.read(); err != nil || m.Op != cops.OpCC || m.Error.Code != cops.ErrCommunication {
			t.Fatalf("want CC Communication-Failure, got %v %v", m, err)
		}
		if el := time.Since(start); el != time.Second {
			t.Fatalf("gave up after %v, want the KA timer of 1s", el)
		}
		<-c.Done()
	})
}

// With a 1 s KA timer and no gate traffic, the router's keep-alives and the
// policy server's echoes keep the PCMM connection up for as long as it
// lasts; a gate command still works after 10 s of idling.
func TestRouterLegKeepAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		router := make(chan *Conn, 1)
		go func() {
			c, err := Accept(ctx, a, Config{Role: PEP, ClientType: cops.ClientTypePCMM, PEPID: "r1",
				Gates: func(ctx context.Context, cmd *cops.PCMM) cops.PCMM { return cops.PCMM{HasGateID: true, GateID: 1} }})
			if err != nil {
				t.Error(err)
			}
			router <- c
		}()
		pdp, err := Dial(ctx, "r1", Config{Role: PDP, ClientType: cops.ClientTypePCMM, KATimer: 1,
			Dial: func(context.Context, string, string) (net.Conn, error) { return b, nil }})
		if err != nil {
			t.Fatal(err)
		}
		rc := <-router
		time.Sleep(10 * time.Second) // fake time: keep-alives go back and forth
		if pdp.Err() != nil || rc.Err() != nil {
			t.Fatalf("connection lost while idle: %v / %v", pdp.Err(), rc.Err())
		}
		set := gateSet()
		if _, err := pdp.Gate(ctx, &set); err != nil {
			t.Fatal(err)
		}
		cancel()
		<-pdp.Done()
		<-rc.Done()
	})
}

// A PDP that never answers the OPN: the PEP gives up after the open timeout
// with CC Communication failure.
func TestOpenTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		server := make(chan net.Conn, 1)
		cfg := pepConfig("sip1")
		cfg.Dial = pipeDial(server)
		dialed := make(chan error, 1)
		go func() { _, err := Dial(context.Background(), "pdp", cfg); dialed <- err }()
		r := &raw{t, <-server}
		defer r.nc.Close()
		start := time.Now()
		if m, err := r.read(); err != nil || m.Op != cops.OpOPN {
			t.Fatalf("want OPN: %v %v", m, err)
		}
		if m, err := r.read(); err != nil || m.Op != cops.OpCC || m.Error.Code != cops.ErrCommunication {
			t.Fatalf("want CC Communication-Failure, got %v %v", m, err)
		}
		if el := time.Since(start); el != 5*time.Second {
			t.Fatalf("gave up after %v, want the default open timeout 5s", el)
		}
		if err := <-dialed; err == nil {
			t.Fatal("Dial succeeded without CAT")
		}
	})
}
