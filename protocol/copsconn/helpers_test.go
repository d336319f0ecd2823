package copsconn

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/qoslab/qoslab/protocol/cops"
)

// leakCheck verifies, after every other cleanup of the test has run, that
// no goroutine is left behind. Call it first in a test.
func leakCheck(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// serve runs Serve on ln until the test ends.
func serve(t testing.TB, ln net.Listener, cfg Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

// runClient runs a Client until the test ends and returns its first
// connection.
func runClient(t testing.TB, cl *Client) *Conn {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Client.Run: %v", err)
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	c, err := cl.Wait(wctx)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFor polls cond until it holds or the test times out.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// sessionPDP is a PDP that answers every REQ at once with DEC Install
// carrying the REQ's ClientSI back, and records DRQs.
type sessionPDP struct {
	mu   sync.Mutex
	drqs []cops.Handle
	reqs int
}

func (p *sessionPDP) config() Config {
	return Config{Role: PDP, ClientType: cops.ClientTypeSession, KATimer: 30, OnMessage: p.onMessage}
}

func (p *sessionPDP) onMessage(c *Conn, m *cops.Message) {
	switch m.Op {
	case cops.OpREQ:
		p.mu.Lock()
		p.reqs++
		p.mu.Unlock()
		var data []byte
		if len(m.ClientSI) > 0 {
			data = m.ClientSI[0].Data
		}
		cmd := cops.CommandInstall
		if m.Context == cops.KindNoLDP.Context() {
			cmd = cops.CommandRemove
		}
		c.Send(&cops.Message{Header: cops.Header{Op: cops.OpDEC, Flags: cops.FlagSolicited}, Handle: m.Handle,
			Decisions: []cops.Decision{{Context: m.Context, Command: cmd, ClientData: data}}})
	case cops.OpDRQ:
		p.mu.Lock()
		p.drqs = append(p.drqs, m.Handle)
		p.mu.Unlock()
	}
}

func pepConfig(id string) Config {
	return Config{Role: PEP, ClientType: cops.ClientTypeSession, PEPID: id}
}

// raw is a hand-driven peer on one connection.
type raw struct {
	t  testing.TB
	nc net.Conn
}

func dialRaw(t testing.TB, addr string) *raw {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &raw{t, nc}
}

func (r *raw) write(b []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *raw) send(m *cops.Message) {
	r.t.Helper()
	b, err := m.AppendTo(nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.write(b)
}

// read returns the next message, or nil and the error at end of stream.
func (r *raw) read() (*cops.Message, error) {
	r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := cops.ReadMessage(r.nc, nil, 0)
	if err != nil {
		return nil, err
	}
	m := new(cops.Message)
	return m, m.Decode(b)
}

// expectCC reads until a CC arrives (skipping others), checks its code,
// then that the other end closes the connection.
func (r *raw) expectCC(code cops.ErrorCode) {
	r.t.Helper()
	for {
		m, err := r.read()
		if err != nil {
			r.t.Fatalf("want CC %s, got %v", code, err)
		}
		if m.Op != cops.OpCC {
			continue
		}
		if m.Error.Code != code {
			r.t.Fatalf("CC with %s, want %s", m.Error.Code, code)
		}
		break
	}
	if _, err := r.read(); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		var ne net.Error
		if !errors.As(err, &ne) || ne.Timeout() {
			r.t.Fatalf("connection not closed after CC: %v", err)
		}
	}
}

// open sends OPN for the session client type and expects CAT.
func (r *raw) open() {
	r.t.Helper()
	r.send(&cops.Message{Header: cops.Header{Op: cops.OpOPN, ClientType: cops.ClientTypeSession}, PEPID: "raw"})
	if m, err := r.read(); err != nil || m.Op != cops.OpCAT {
		r.t.Fatalf("want CAT, got %v %v", m, err)
	}
}

var (
	srcAddr = netip.MustParseAddr("198.18.1.2")
	dstAddr = netip.MustParseAddr("198.18.4.2")
)

// gateSet is a Gate-Set as the policy server sends it.
func gateSet() cops.PCMM {
	p := cops.PCMM{Command: cops.GateSet, HasAMID: true, AMID: cops.AMID{AppType: 0x5153, Tag: 1},
		SubscriberID: srcAddr, HasGateSpec: true,
		Classifiers: []cops.Classifier{{Proto: 17, Src: srcAddr, SrcPort: 20000, Dst: dstAddr, DstPort: 30000, Priority: 64}}}
	p.GateSpec.SetDSCP(46)
	return p
}
