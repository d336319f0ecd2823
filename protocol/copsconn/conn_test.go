package copsconn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/qoslab/qoslab/protocol/cops"
)

// The proxy leg: REQs on handles, solicited DECs back, a DRQ; the PDP
// echoes REQ data.
func TestRequestDecision(t *testing.T) {
	leakCheck(t)
	ln := listen(t)
	pdp := &sessionPDP{}
	serve(t, ln, pdp.config())
	c := runClient(t, NewClient(ln.Addr().String(), pepConfig("sip1")))
	ctx := context.Background()
	dec, err := c.Request(ctx, 7, cops.KindAAA.Context(), []byte("aaa!"))
	if err != nil || dec.Op != cops.OpDEC || dec.Handle != 7 || string(dec.Decisions[0].ClientData) != "aaa!" ||
		dec.Decisions[0].Command != cops.CommandInstall {
		t.Fatalf("AAA: %v %v", dec, err)
	}
	if dec, err = c.Request(ctx, 7, cops.KindNoLDP.Context(), nil); err != nil || dec.Decisions[0].Command != cops.CommandRemove {
		t.Fatalf("noLDP: %v %v", dec, err)
	}
	if err := c.Delete(7, cops.ReasonTear); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "DRQ at the PDP", func() bool { pdp.mu.Lock(); defer pdp.mu.Unlock(); return len(pdp.drqs) == 1 })
}

func TestConcurrentRequests(t *testing.T) {
	leakCheck(t)
	ln := listen(t)
	serve(t, ln, (&sessionPDP{}).config())
	c := runClient(t, NewClient(ln.Addr().String(), pepConfig("sip1")))
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			want := fmt.Sprintf("call-%d", i)
			dec, err := c.Request(context.Background(), cops.Handle(100+i), cops.KindAAA.Context(), []byte(want))
			if err == nil && string(dec.Decisions[0].ClientData) != want {
				err = fmt.Errorf("answer %q for %q", dec.Decisions[0].ClientData, want)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// A PDP that goes away while a Request waits: the Request fails with
// ErrClosed, OnClose is called, and the Client connects again to a new
// PDP on the same address, re-sending the open request (its DEC arrives
// as unsolicited). SSQ makes it re-send too.
func TestLossReconnectAndResend(t *testing.T) {
	leakCheck(t)
	ln := listen(t)
	addr := ln.Addr().String()
	held := make(chan struct{})
	var mu sync.Mutex
	seen := map[cops.Handle]int{}
	pdpCfg := func() Config {
		cfg := (&sessionPDP{}).config()
		answer := cfg.OnMessage
		cfg.OnMessage = func(c *Conn, m *cops.Message) {
			if m.Op != cops.OpREQ {
				return
			}
			mu.Lock()
			seen[m.Handle]++
			mu.Unlock()
			if m.Handle == 9 {
				return // never answered
			}
			answer(c, m)
		}
		return cfg
	}
	sctx, scancel := context.WithCancel(context.Background())
	sdone := make(chan error, 1)
	go func() { sdone <- Serve(sctx, ln, pdpCfg()) }()

	unsolicited := make(chan cops.Handle, 8)
	lost := make(chan error, 4)
	cfg := pepConfig("sip1")
	cfg.OnMessage = func(c *Conn, m *cops.Message) { unsolicited <- m.Handle }
	cfg.OnClose = func(c *Conn, err error) { lost <- err }
	cl := NewClient(addr, cfg)
	cl.MinBackoff, cl.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
	c := runClient(t, cl)
	if _, err := c.Request(context.Background(), 42, cops.KindAAA.Context(), []byte("c42")); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := c.Request(context.Background(), 9, cops.KindAAA.Context(), nil)
		waiting <- err
		close(held)
	}()
	waitFor(t, "REQ 9 at the PDP", func() bool { mu.Lock(); defer mu.Unlock(); return seen[9] == 1 })
	scancel() // the PDP shuts down: CC, close
	if err := <-sdone; err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; !errors.Is(err, ErrClosed) {
		t.Fatalf("request on a lost connection: want ErrClosed, got %v", err)
	}
	<-held
	var ce *ClosedError
	if err := <-lost; !errors.As(err, &ce) || ce.Code.Code != cops.ErrShuttingDown {
		t.Fatalf("OnClose: want the PDP's CC Shutting-down, got %v", err)
	}
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	serve(t, ln2, pdpCfg())
	if h := <-unsolicited; h != 42 {
		t.Fatalf("re-sent handle %d", h)
	}
	c2, err := cl.Wait(context.Background())
	if err != nil || c2 == c {
		t.Fatalf("no new connection: %v", err)
	}
	mu.Lock()
	n42, n9 := seen[42], seen[9]
	mu.Unlock()
	if n42 != 2 || n9 != 2 {
		t.Fatalf("PDP saw handle 42 %d times and 9 %d times, want 2 each (request, reconnect)", n42, n9)
	}
}

// SSQ: the PEP re-sends its open requests, in handle order, then SSC.
func TestSynchronize(t *testing.T) {
	leakCheck(t)
	ln := listen(t)
	got := make(chan string, 8)
	pdp := (&sessionPDP{}).config()
	answer := pdp.OnMessage
	var conns = make(chan *Conn, 1)
	pdp.OnOpen = func(c *Conn) { conns <- c }
	pdp.OnMessage = func(c *Conn, m *cops.Message) {
		got <- fmt.Sprintf("%s %d", m.Op, m.Handle)
		answer(c, m)
	}
	serve(t, ln, pdp)
	c := runClient(t, NewClient(ln.Addr().String(), pepConfig("sip1")))
	for _, h := range []cops.Handle{5, 3} {
		if _, err := c.Request(context.Background(), h, cops.KindAAA.Context(), nil); err != nil {
			t.Fatal(err)
		}
	}
	<-got
	<-got
	if err := (<-conns).Synchronize(0, true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"REQ 3", "REQ 5", "SSC 0"} {
		if g := <-got; g != want {
			t.Fatalf("after SSQ got %q, want %q", g, want)
		}
	}
}

func TestNoServer(t *testing.T) {
	leakCheck(t)
	ln := listen(t)
	addr := ln.Addr().String()
	ln.Close() // nobody listens
	cl := NewClient(addr, pepConfig("sip1"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cl.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer wcancel()
	if _, err := cl.Wait(wctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait without a server: %v", err)
	}
	if err := cl.Delete(1, cops.ReasonTear); !errors.Is(err, ErrClosed) {
		t.Fatalf("Delete without a server: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// The router leg: the router listens and opens, the policy server's gate
// commands are matched to the RPTs by Transaction ID.
func TestGates(t *testing.T) {
	leakCheck(t)
	ln := listen(t)
	var mu sync.Mutex
	gates := map[uint32]bool{}
	serve(t, ln, Config{Role: PEP, ClientType: cops.ClientTypePCMM, PEPID: "r1",
		Gates: func(ctx context.Context, cmd *cops.PCMM) cops.PCMM {
			mu.Lock()
			defer mu.Unlock()
			switch cmd.Command {
			case cops.GateSet:
				gates[0x101] = true
				return cops.PCMM{HasGateID: true, GateID: 0x101}
			case cops.GateDelete:
				if !gates[cmd.GateID] {
					return cops.PCMM{Command: cops.GateDeleteErr, HasGateID: true, GateID: cmd.GateID,
						Error: cops.PCMMError{Code: cops.PCErrUnknownGateID}}
				}
				delete(gates, cmd.GateID)
				return cops.PCMM{HasGateID: true, GateID: cmd.GateID, HasGateUsageInfo: true, GateUsageInfo: 17200,
					HasUsagePackets: true, UsagePackets: 100}
			}
			return cops.PCMM{Command: cmd.Command.Err(), Error: cops.PCMMError{Code: cops.PCErrUnknownGateCommand}}
		}})
	c := runClient(t, NewClient(ln.Addr().String(), Config{Role: PDP, ClientType: cops.ClientTypePCMM, KATimer: 30}))
	if c.Peer().PEPID != "r1" {
		t.Fatalf("router's PEPID %q", c.Peer().PEPID)
	}
	set := gateSet()
	ack, err := c.Gate(context.Background(), &set)
	if err != nil || ack.Command != cops.GateSetAck || ack.GateID != 0x101 || ack.TransactionID != set.TransactionID || set.TransactionID == 0 {
		t.Fatalf("Gate-Set: %s %v", ack.String(), err)
	}
	del := cops.PCMM{Command: cops.GateDelete, HasGateID: true, GateID: ack.GateID}
	if dack, err := c.Gate(context.Background(), &del); err != nil || dack.Command != cops.GateDeleteAck || dack.GateUsageInfo != 17200 || dack.UsagePackets != 100 {
		t.Fatalf("Gate-Delete: %s %v", dack.String(), err)
	}
	del.TransactionID = 0
	_, err = c.Gate(context.Background(), &del)
	var ge *GateError
	if !errors.As(err, &ge) || ge.Command != cops.GateDeleteErr || ge.Err.Code != cops.PCErrUnknownGateID {
		t.Fatalf("second Gate-Delete: %v", err)
	}
	if err := c.StartGate(&cops.PCMM{Command: cops.GateSetAck}, 0, nil); err == nil {
		t.Fatal("an Ack sent as a command")
	}
}

// A reply later than the command's timeout: the command fails with
// ErrTimeout, the reply arrives as OnMessage.
func TestGateTimeout(t *testing.T) {
	leakCheck(t)
	ln := listen(t)
	release := make(chan struct{})
	serve(t, ln, Config{Role: PEP, ClientType: cops.ClientTypePCMM, PEPID: "r1",
		Gates: func(ctx context.Context, cmd *cops.PCMM) cops.PCMM {
			<-release
			return cops.PCMM{HasGateID: true, GateID: 7}
		}})
	late := make(chan *cops.Message, 1)
	c := runClient(t, NewClient(ln.Addr().String(), Config{Role: PDP, ClientType: cops.ClientTypePCMM,
		OnMessage: func(c *Conn, m *cops.Message) { late <- m }}))
	done := make(chan error, 1)
	set := gateSet()
	set.TransactionID = 77
	if err := c.StartGate(&set, 20*time.Millisecond, func(p cops.PCMM, err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrTimeout) {
		t.Fatalf("want ErrTimeout, got %v", err)
	}
	close(release)
	m := <-late
	var p cops.PCMM
	if m.Op != cops.OpRPT || p.Decode(m.ClientSI[0].Data) != nil || p.TransactionID != 77 || p.Command != cops.GateSetAck {
		t.Fatalf("late reply %v", m)
	}
}

// The policy server's proxy port against bad input: what has an answer
// gets it and the connection survives, the rest gets CC with the RFC 2748
// code.
func TestPDPBadInput(t *testing.T) {
	leakCheck(t)
	ln := listen(t)
	cfg := (&sessionPDP{}).config()
	cfg.OpenTimeout = 200 * time.Millisecond
	serve(t, ln, cfg)
	addr := ln.Addr().String()
	okREQ, _ := (&cops.Message{Header: cops.Header{Op: cops.OpREQ, ClientType: cops.ClientTypeSession}, Handle: 1,
		Context: cops.KindAAA.Context(), ClientSI: []cops.ClientSI{{Data: []byte{1, 0, 0, 0}}}}).AppendTo(nil)
	// expectDECError reads a DEC that must carry the Error code on handle
	// h, then checks that the connection still answers a good REQ.
	expectDECError := func(r *raw, h cops.Handle, code cops.ErrorCode) {
		t.Helper()
		m, err := r.read()
		if err != nil || m.Op != cops.OpDEC || m.Handle != h || m.Error.Code != code || m.Flags != cops.FlagSolicited {
			t.Fatalf("want DEC with Error %s on handle %d, got %v %v", code, h, m, err)
		}
		r.write(okREQ)
		if m, err := r.read(); err != nil || m.Op != cops.OpDEC || m.Error.Code != 0 {
			t.Fatalf("connection unusable after a malformed REQ: %v %v", m, err)
		}
	}
	t.Run("never sends OPN", func(t *testing.T) { dialRaw(t, addr).expectCC(cops.ErrCommunication) })
	t.Run("wrong version", func(t *testing.T) {
		r := dialRaw(t, addr)
		b, _ := (&cops.Message{Header: cops.Header{Op: cops.OpKA}}).AppendTo(nil)
		b[0] = 2 << 4
		r.write(b)
		r.expectCC(cops.ErrBadMessageFormat)
	})
	t.Run("length that lies", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.write([]byte{0x10, byte(cops.OpOPN), 0x51, 0x53, 0x7f, 0, 0, 0})
		r.expectCC(cops.ErrBadMessageFormat)
	})
	t.Run("length not a multiple of 4", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.write([]byte{0x10, byte(cops.OpKA), 0, 0, 0, 0, 0, 9})
		r.expectCC(cops.ErrBadMessageFormat)
	})
	t.Run("truncated header then close", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.write([]byte{0x10, byte(cops.OpOPN), 0x51})
		r.nc.(*net.TCPConn).CloseWrite()
		if m, err := r.read(); err == nil && m.Op != cops.OpCC {
			t.Fatalf("unexpected %v", m)
		}
	})
	t.Run("not COPS at all", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		if m, err := r.read(); err == nil {
			t.Fatalf("an HTTP client got %v", m)
		}
	})
	t.Run("unsupported client type", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.send(&cops.Message{Header: cops.Header{Op: cops.OpOPN, ClientType: 0x4242}, PEPID: "x"})
		r.expectCC(cops.ErrUnsupportedClient)
	})
	t.Run("REQ before OPN", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.write(okREQ)
		r.expectCC(cops.ErrBadMessageFormat)
	})
	t.Run("DEC from a PEP", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.open()
		r.send(&cops.Message{Header: cops.Header{Op: cops.OpDEC, ClientType: cops.ClientTypeSession}, Handle: 1,
			Decisions: []cops.Decision{{Command: cops.CommandInstall}}})
		r.expectCC(cops.ErrBadMessageFormat)
	})
	t.Run("unknown C-Num", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.open()
		b := append([]byte(nil), okREQ...)
		b[8+8+2] = 99 // the Context object's C-Num
		r.write(b)
		expectDECError(r, 1, cops.ErrUnknownObject)
	})
	t.Run("object length overruns message", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.open()
		b := append([]byte(nil), okREQ...)
		binary.BigEndian.PutUint16(b[16:], 200) // the Context object's length
		r.write(b)
		expectDECError(r, 1, cops.ErrBadMessageFormat)
	})
	t.Run("missing Context", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.open()
		b := append([]byte(nil), okREQ[:16]...) // header + handle only
		binary.BigEndian.PutUint32(b[4:], 16)
		r.write(b)
		expectDECError(r, 1, cops.ErrMandatoryObject)
	})
	t.Run("handle object unreadable", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.open()
		b := append([]byte(nil), okREQ...)
		binary.BigEndian.PutUint16(b[8:], 200) // the Handle object's length
		r.write(b)
		r.expectCC(cops.ErrBadMessageFormat)
	})
	t.Run("KA flood", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.open()
		ka, _ := (&cops.Message{Header: cops.Header{Op: cops.OpKA}}).AppendTo(nil)
		var flood []byte
		for range floodLimit + 10 {
			flood = append(flood, ka...)
		}
		r.write(flood)
		r.expectCC(cops.ErrUnableToProcess)
	})
	t.Run("still serves", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.open()
		r.write(okREQ)
		if m, err := r.read(); err != nil || m.Op != cops.OpDEC || m.Flags != cops.FlagSolicited {
			t.Fatalf("want solicited DEC, got %v %v", m, err)
		}
	})
}

// A DEC the PEP cannot decode fails the Request waiting on its handle, is
// reported with RPT Failure, and the connection goes on.
func TestPEPMalformedDecision(t *testing.T) {
	leakCheck(t)
	ln := listen(t)
	cl := NewClient(ln.Addr().String(), pepConfig("sip1"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cl.Run(ctx) }()
	defer func() { cancel(); <-done }()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r := &raw{t, nc}
	if m, err := r.read(); err != nil || m.Op != cops.OpOPN || m.PEPID != "sip1" {
		t.Fatalf("want OPN: %v %v", m, err)
	}
	r.send(&cops.Message{Header: cops.Header{Op: cops.OpCAT, ClientType: cops.ClientTypeSession}, KATimer: 30})
	c, err := cl.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() {
		_, err := c.Request(ctx, 4, cops.KindAAA.Context(), nil)
		res <- err
	}()
	if m, err := r.read(); err != nil || m.Op != cops.OpREQ {
		t.Fatalf("want REQ: %v %v", m, err)
	}
	b, _ := (&cops.Message{Header: cops.Header{Op: cops.OpDEC, Flags: cops.FlagSolicited, ClientType: cops.ClientTypeSession},
		Handle: 4, Decisions: []cops.Decision{{Command: cops.CommandInstall}}}).AppendTo(nil)
	b[8+8+3] = 9 // the Decision flags object's C-Type
	r.write(b)
	if err := <-res; cops.CodeOf(err) != cops.ErrBadMessageFormat {
		t.Fatalf("want a Bad-Message-Format error, got %v", err)
	}
	if m, err := r.read(); err != nil || m.Op != cops.OpRPT || m.ReportType != cops.ReportFailure || m.Handle != 4 {
		t.Fatalf("want RPT Failure on handle 4: %v %v", m, err)
	}
	go func() {
		dec, err := c.Request(ctx, 5, cops.KindAAA.Context(), nil)
		if err == nil && dec.Handle != 5 {
			err = fmt.Errorf("DEC on handle %d", dec.Handle)
		}
		res <- err
	}()
	if m, err := r.read(); err != nil || m.Op != cops.OpREQ || m.Handle != 5 {
		t.Fatalf("connection unusable after a malformed DEC: %v %v", m, err)
	}
	r.send(&cops.Message{Header: cops.Header{Op: cops.OpDEC, Flags: cops.FlagSolicited, ClientType: cops.ClientTypeSession},
		Handle: 5, Decisions: []cops.Decision{{Command: cops.CommandInstall}}})
	if err := <-res; err != nil {
		t.Fatal(err)
	}
}

// Serve returns (and leaves nothing running) when Accept fails for another
// reason than shutdown.
func TestServeReturnsOnAcceptError(t *testing.T) {
	leakCheck(t)
	ln := listen(t)
	done := make(chan error, 1)
	go func() { done <- Serve(context.Background(), ln, (&sessionPDP{}).config()) }()
	r := dialRaw(t, ln.Addr().String())
	r.open()   // a PEP stays connected
	ln.Close() // Accept fails; Serve must stop the connection and return
	if err := <-done; err == nil {
		t.Fatal("Serve hid the accept error")
	}
}

func TestConfigChecked(t *testing.T) {
	for _, cfg := range []Config{
		{ClientType: cops.ClientTypeSession},
		{Role: PDP},
		{Role: PEP, ClientType: cops.ClientTypeSession},
		{Role: PEP, ClientType: cops.ClientTypeSession, PEPID: "x", Keys: map[uint32][]byte{1: []byte("k")}, KeyID: 2},
	} {
		if _, err := Dial(context.Background(), "127.0.0.1:1", cfg); err == nil || errors.Is(err, ErrClosed) {
			t.Errorf("config %+v accepted: %v", cfg, err)
		}
	}
}
