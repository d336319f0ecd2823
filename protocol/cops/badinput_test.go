package cops

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// startPDP serves a PDP on loopback for raw-socket tests.
func startPDP(t *testing.T, cfg PDPConfig) string {
	t.Helper()
	if cfg.Handler == nil {
		cfg.Handler = func(ctx context.Context, r SessionRequest) SessionDecision {
			return SessionDecision{Command: CommandInstall, Session: r.Session}
		}
	}
	if cfg.OpenTimeout == 0 {
		cfg.OpenTimeout = 200 * time.Millisecond
	}
	ln := listen(t)
	pdp := NewPDP(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	runBG(t, ctx, cancel, func(ctx context.Context) error { return pdp.Serve(ctx, ln) })
	return ln.Addr().String()
}

// rawPEP is a hand-driven TCP client.
type rawPEP struct {
	t  *testing.T
	nc net.Conn
}

func dialRaw(t *testing.T, addr string) *rawPEP {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawPEP{t, nc}
}

func (r *rawPEP) write(b []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawPEP) send(m *Message) {
	r.t.Helper()
	b, err := m.AppendTo(nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.write(b)
}

// read returns the next message, or nil and the error at end of stream.
func (r *rawPEP) read() (*Message, error) {
	r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	raw, err := ReadMessage(r.nc, nil, 0)
	if err != nil {
		return nil, err
	}
	m := new(Message)
	return m, m.Decode(raw)
}

// expectCC reads until a CC arrives (skipping others) and checks its code,
// then that the PDP closes the connection.
func (r *rawPEP) expectCC(code ErrorCode) {
	r.t.Helper()
	for {
		m, err := r.read()
		if err != nil {
			r.t.Fatalf("want CC %s, got %v", code, err)
		}
		if m.Op != OpCC {
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

// expectDECError reads a DEC that must carry the Error code on handle h,
// and then checks that the connection still answers a good REQ.
func (r *rawPEP) expectDECError(h Handle, code ErrorCode, good []byte) {
	r.t.Helper()
	m, err := r.read()
	if err != nil || m.Op != OpDEC || m.Handle != h || m.Error.Code != code {
		r.t.Fatalf("want DEC with Error %s on handle %d, got %v %v", code, h, m, err)
	}
	r.write(good)
	if m, err := r.read(); err != nil || m.Op != OpDEC || m.Error.Code != 0 {
		r.t.Fatalf("connection unusable after a malformed REQ: %v %v", m, err)
	}
}

func (r *rawPEP) open() {
	r.t.Helper()
	r.send(&Message{Header: Header{Op: OpOPN, ClientType: ClientTypeSession}, PEPID: "raw"})
	m, err := r.read()
	if err != nil || m.Op != OpCAT {
		r.t.Fatalf("want CAT, got %v %v", m, err)
	}
}

func TestPDPBadInput(t *testing.T) {
	leakCheck(t)
	addr := startPDP(t, PDPConfig{KATimer: 30})
	okREQ, _ := (&Message{Header: Header{Op: OpREQ, ClientType: ClientTypeSession}, Handle: 1,
		Context: KindAAA.Context(), ClientSI: []ClientSI{{Data: []byte{1, 0, 0, 0}}}}).AppendTo(nil)

	t.Run("never sends OPN", func(t *testing.T) {
		dialRaw(t, addr).expectCC(ErrCommunication)
	})
	t.Run("wrong version", func(t *testing.T) {
		r := dialRaw(t, addr)
		b, _ := (&Message{Header: Header{Op: OpKA}}).AppendTo(nil)
		b[0] = 2 << 4
		r.write(b)
		r.expectCC(ErrBadMessageFormat)
	})
	t.Run("length that lies", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.write([]byte{0x10, byte(OpOPN), 0x51, 0x53, 0x7f, 0, 0, 0})
		r.expectCC(ErrBadMessageFormat)
	})
	t.Run("length not a multiple of 4", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.write([]byte{0x10, byte(OpKA), 0, 0, 0, 0, 0, 9})
		r.expectCC(ErrBadMessageFormat)
	})
	t.Run("truncated header then close", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.write([]byte{0x10, byte(OpOPN), 0x51})
		r.nc.(*net.TCPConn).CloseWrite()
		if m, err := r.read(); err == nil && m.Op != OpCC {
			t.Fatalf("unexpected %v", m)
		}
	})
	t.Run("unsupported client type", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.send(&Message{Header: Header{Op: OpOPN, ClientType: 0x4242}, PEPID: "x"})
		r.expectCC(ErrUnsupportedClient)
	})
	t.Run("REQ before OPN", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.write(okREQ)
		r.expectCC(ErrBadMessageFormat)
	})
	t.Run("unknown C-Num", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.open()
		b := append([]byte(nil), okREQ...)
		b[8+8+2] = 99 // the Context object's C-Num
		r.write(b)
		r.expectDECError(1, ErrUnknownObject, okREQ)
	})
	t.Run("object length overruns message", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.open()
		b := append([]byte(nil), okREQ...)
		binary.BigEndian.PutUint16(b[16:], 200) // the Context object's length
		r.write(b)
		r.expectDECError(1, ErrBadMessageFormat, okREQ)
	})
	t.Run("missing Context", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.open()
		b := append([]byte(nil), okREQ[:16]...) // header + handle only
		binary.BigEndian.PutUint32(b[4:], 16)
		r.write(b)
		r.expectDECError(1, ErrMandatoryObject, okREQ)
	})
	t.Run("handle object unreadable", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.open()
		b := append([]byte(nil), okREQ...)
		binary.BigEndian.PutUint16(b[8:], 200) // the Handle object's length
		r.write(b)
		r.expectCC(ErrBadMessageFormat)
	})
	t.Run("REQ without session data gets DEC error", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.open()
		r.send(&Message{Header: Header{Op: OpREQ, ClientType: ClientTypeSession}, Handle: 3, Context: KindAAA.Context()})
		m, err := r.read()
		if err != nil || m.Op != OpDEC || m.Error.Code != ErrMandatoryClientSI || m.Handle != 3 {
			t.Fatalf("want DEC with Error 5, got %v %v", m, err)
		}
	})
	t.Run("KA flood", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.open()
		ka, _ := (&Message{Header: Header{Op: OpKA}}).AppendTo(nil)
		var flood []byte
		for range floodLimit + 10 {
			flood = append(flood, ka...)
		}
		r.write(flood)
		r.expectCC(ErrUnableToProcess)
	})
	t.Run("PDP still serves", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.open()
		r.write(okREQ)
		m, err := r.read()
		if err != nil || m.Op != OpDEC || m.Flags != FlagSolicited {
			t.Fatalf("want solicited DEC, got %v %v", m, err)
		}
	})
}

func TestPDPDeadPEP(t *testing.T) {
	leakCheck(t)
	if testing.Short() {
		t.Skip("waits for a 1 s KA timer")
	}
	addr := startPDP(t, PDPConfig{KATimer: 1})
	r := dialRaw(t, addr)
	r.open()
	// Say nothing: after one KA timer the PDP gives up on us.
	r.expectCC(ErrCommunication)
}

func TestPEPSendsKeepAlives(t *testing.T) {
	leakCheck(t)
	if testing.Short() {
		t.Skip("waits for keep-alives of a 1 s KA timer")
	}
	ln := listen(t)
	pep := NewPEP(PEPConfig{Addr: ln.Addr().String(), PEPID: "sip1"})
	ctx, cancel := context.WithCancel(context.Background())
	runBG(t, ctx, cancel, pep.Run)
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r := &rawPEP{t, nc}
	if m, err := r.read(); err != nil || m.Op != OpOPN || m.PEPID != "sip1" {
		t.Fatalf("want OPN, got %v %v", m, err)
	}
	r.send(&Message{Header: Header{Op: OpCAT, ClientType: ClientTypeSession}, KATimer: 1})
	start := time.Now()
	for i := range 3 {
		m, err := r.read()
		if err != nil || m.Op != OpKA {
			t.Fatalf("KA %d: %v %v", i, m, err)
		}
		r.send(&Message{Header: Header{Op: OpKA}})
	}
	// Three KAs, each 1/4..3/4 s after the previous message.
	if el := time.Since(start); el < 3*250*time.Millisecond || el > 3*time.Second {
		t.Errorf("3 KAs took %v", el)
	}
	cancel()
	if m, err := r.read(); err != nil || m.Op != OpCC || m.Error.Code != ErrShuttingDown {
		t.Fatalf("want CC Shutting-Down on shutdown, got %v %v", m, err)
	}
}

func TestIntegrity(t *testing.T) {
	leakCheck(t)
	key := &IntegrityKey{KeyID: 7, Key: []byte("lab secret")}
	t.Run("both sides sign", func(t *testing.T) {
		_, pep, _ := pdpPair(t, PDPConfig{KATimer: 30, Integrity: key,
			Handler: func(ctx context.Context, r SessionRequest) SessionDecision {
				return SessionDecision{Command: CommandInstall, Session: r.Session}
			}}, PEPConfig{Integrity: key})
		waitFor(t, "PEP connected", pep.Connected)
		for i := range 3 {
			if _, err := pep.Request(context.Background(), Handle(i), KindAAA, Session{CallID: "c"}); err != nil {
				t.Fatal(err)
			}
		}
	})
	addr := startPDP(t, PDPConfig{KATimer: 30, Integrity: key})
	t.Run("missing", func(t *testing.T) {
		r := dialRaw(t, addr)
		r.send(&Message{Header: Header{Op: OpOPN, ClientType: ClientTypeSession}, PEPID: "x"})
		r.expectCC(ErrAuthRequired)
	})
	t.Run("wrong key", func(t *testing.T) {
		r := dialRaw(t, addr)
		s := newSigner(IntegrityKey{KeyID: 7, Key: []byte("guess")}, 1)
		b, _ := s.appendSigned(nil, &Message{Header: Header{Op: OpOPN, ClientType: ClientTypeSession}, PEPID: "x"})
		r.write(b)
		r.expectCC(ErrAuthFailure)
	})
	t.Run("replay", func(t *testing.T) {
		r := dialRaw(t, addr)
		s := newSigner(*key, 1)
		b, _ := s.appendSigned(nil, &Message{Header: Header{Op: OpOPN, ClientType: ClientTypeSession}, PEPID: "x"})
		r.write(b)
		if m, err := r.read(); err != nil || m.Op != OpCAT {
			t.Fatalf("want CAT, got %v %v", m, err)
		}
		ka, _ := s.appendSigned(nil, &Message{Header: Header{Op: OpKA}})
		r.write(ka)
		r.write(ka) // same sequence number again
		r.expectCC(ErrAuthFailure)
	})
}

func TestVerifierRejects(t *testing.T) {
	key := IntegrityKey{KeyID: 1, Key: []byte("k")}
	s, v := newSigner(key, 0xFFFFFFFE), newVerifier(key)
	for i := range 4 { // crosses the 32-bit wrap
		b, _ := s.appendSigned(nil, &Message{Header: Header{Op: OpKA}})
		var m Message
		if err := m.Decode(b); err != nil {
			t.Fatal(err)
		}
		if err := v.verify(b, &m); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		b[len(b)-1] ^= 1
		if err := v.verify(b, &m); CodeOf(err) != ErrAuthFailure {
			t.Fatalf("tampered digest: %v", err)
		}
	}
}

// A PDP that answers with session data the PEP cannot read: the request
// fails at once with the decode error, and the PEP reports Failure.
func TestPEPUnreadableDecision(t *testing.T) {
	leakCheck(t)
	ln := listen(t)
	pep := NewPEP(PEPConfig{Addr: ln.Addr().String(), PEPID: "sip1"})
	ctx, cancel := context.WithCancel(context.Background())
	runBG(t, ctx, cancel, pep.Run)
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r := &rawPEP{t, nc}
	if m, err := r.read(); err != nil || m.Op != OpOPN {
		t.Fatalf("want OPN: %v %v", m, err)
	}
	r.send(&Message{Header: Header{Op: OpCAT, ClientType: ClientTypeSession}, KATimer: 30})
	waitFor(t, "PEP connected", pep.Connected)
	res := make(chan error, 1)
	go func() {
		_, err := pep.Request(context.Background(), 4, KindAAA, Session{CallID: "c4"})
		res <- err
	}()
	if m, err := r.read(); err != nil || m.Op != OpREQ {
		t.Fatalf("want REQ: %v %v", m, err)
	}
	r.send(&Message{Header: Header{Op: OpDEC, Flags: FlagSolicited, ClientType: ClientTypeSession}, Handle: 4,
		Decisions: []Decision{{Command: CommandInstall, ClientData: []byte{9, 0, 0, 0}}}}) // session version 9
	select {
	case err := <-res:
		if CodeOf(err) != ErrBadMessageFormat {
			t.Fatalf("want a Bad-Message-Format error, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("request still waiting")
	}
	if m, err := r.read(); err != nil || m.Op != OpRPT || m.ReportType != ReportFailure || m.Handle != 4 {
		t.Fatalf("want RPT Failure on handle 4: %v %v", m, err)
	}
}

// Serve returns (and leaves nothing running) when Accept fails for another
// reason than shutdown.
func TestServeReturnsOnAcceptError(t *testing.T) {
	leakCheck(t)
	ln := listen(t)
	pdp := NewPDP(PDPConfig{KATimer: 30, Handler: func(ctx context.Context, r SessionRequest) SessionDecision {
		return SessionDecision{Command: CommandInstall}
	}})
	done := make(chan error, 1)
	go func() { done <- pdp.Serve(context.Background(), ln) }()
	r := dialRaw(t, ln.Addr().String())
	r.open()   // a PEP stays connected
	ln.Close() // Accept fails; Serve must stop the connection and return
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Serve hid the accept error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Accept failed")
	}
}
