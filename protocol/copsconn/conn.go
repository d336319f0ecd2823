package copsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/qoslab/qoslab/protocol/cops"
)

// Conn is one COPS connection, whichever end dialled, whichever role this
// end plays and whichever client type it carries. Any goroutine may send on
// it; one goroutine of its own reads, keeps it alive and dispatches what
// arrives.
type Conn struct {
	cfg  Config
	nc   net.Conn
	peer Peer
	log  *slog.Logger

	wmu    sync.Mutex
	wbuf   []byte
	signer *signer
	sentAt time.Time

	verifier *verifier // the reader goroutine's
	in       <-chan inbound
	stopRd   func()

	ctx    context.Context // ends when the connection does
	cancel context.CancelFunc
	quit   chan struct{}
	once   sync.Once
	done   chan struct{}
	err    error // why it ended; set before done is closed

	mu     sync.Mutex
	closed bool
	reqs   map[cops.Handle]waiter // PEP: Requests waiting for their DEC
	open   *openTable             // PEP: the last REQ of every open handle
	gates  gateTable              // PCMM PDP: gate commands waiting for their RPT
	handle cops.Handle            // PCMM: the handle of the PEP's configuration REQ
}

func newConn(nc net.Conn, cfg Config, open *openTable) *Conn {
	c := &Conn{cfg: cfg, nc: nc, open: open, quit: make(chan struct{}), done: make(chan struct{}),
		reqs: map[cops.Handle]waiter{}, gates: newGateTable()}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.peer = Peer{ClientType: cfg.ClientType, Role: PEP}
	if cfg.Role == PEP {
		c.peer.Role, c.peer.PEPID = PDP, cfg.PEPID
	}
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		c.peer.Addr = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	c.log = cfg.Log.With("peer", nc.RemoteAddr().String(), "client_type", cfg.ClientType.String())
	if len(cfg.Keys) > 0 {
		if cfg.Role == PEP {
			c.signer = newSigner(cfg.KeyID, cfg.Keys[cfg.KeyID], c.firstSeq())
			c.verifier = newVerifier(cfg.Keys, cfg.KeyID, true)
		} else {
			c.verifier = newVerifier(cfg.Keys, 0, false)
		}
	}
	return c
}

// firstSeq picks a random initial Integrity sequence number.
func (c *Conn) firstSeq() uint32 { return uint32(c.cfg.Rand() * (1 << 32)) }

// Peer returns what the connection knows about the other end.
func (c *Conn) Peer() Peer { return c.peer }

// Role returns this end's role.
func (c *Conn) Role() Role { return c.cfg.Role }

// Done is closed when the connection has ended; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended (a *ClosedError, matching
// ErrClosed), or nil while it is up.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close ends the connection with a Client-Close (Shutting down). It does not
// wait: Done tells when the connection has ended.
func (c *Conn) Close() { c.once.Do(func() { close(c.quit) }) }

// Send encodes and writes m, signed when Integrity is on. A zero client
// type is this connection's (KA stays 0). Write errors are *ClosedError.
func (c *Conn) Send(m *cops.Message) error {
	if m.ClientType == cops.ClientTypeNone && m.Op != cops.OpKA {
		m.ClientType = c.cfg.ClientType
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var err error
	if c.signer != nil {
		c.wbuf, err = c.signer.appendSigned(c.wbuf[:0], m)
	} else {
		c.wbuf, err = m.AppendTo(c.wbuf[:0])
	}
	if err != nil {
		return fmt.Errorf("copsconn: encode %s: %w", m.Op, err)
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
	if _, err := c.nc.Write(c.wbuf); err != nil {
		return &ClosedError{Err: fmt.Errorf("send %s: %w", m.Op, err)}
	}
	c.sentAt = time.Now()
	return nil
}

// lastSent returns when the last message went out.
func (c *Conn) lastSent() time.Time {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.sentAt
}

// closeWith sends a Client-Close with the error code (best effort); the
// caller then ends the connection, which closes it gracefully.
func (c *Conn) closeWith(code cops.ErrorCode, sub uint16) {
	c.closeAs(c.cfg.ClientType, code, sub)
}

func (c *Conn) closeAs(ct cops.ClientType, code cops.ErrorCode, sub uint16) {
	c.Send(&cops.Message{Header: cops.Header{Op: cops.OpCC, ClientType: ct}, Error: cops.Error{Code: code, Subcode: sub}})
}

// inbound is what the reader goroutine hands to the connection's loop.
type inbound struct {
	m   *cops.Message
	err error
}

// badMessage is a well-framed message that did not decode: its op and,
// when its first object is a readable Handle, the handle, so that the
// receiver can answer it instead of closing.
type badMessage struct {
	op        cops.OpCode
	handle    cops.Handle
	hasHandle bool
	err       error
}

func (e *badMessage) Error() string { return e.err.Error() }
func (e *badMessage) Unwrap() error { return e.err }

// recv reads, decodes and verifies one message into a fresh Message that
// owns its buffer. A framed message that does not decode is a *badMessage:
// the stream is still in sync.
//
// A header whose op code is none of COPS's is no COPS peer at all (an HTTP
// client, a port scan): it gets no CC, the connection just closes.
func (c *Conn) recv() (*cops.Message, error) {
	buf := make([]byte, 0, 512) // owned by the message: it is handed on
	raw, err := cops.ReadMessage(c.nc, buf, cops.DefaultMaxMessageLen)
	if err != nil {
		if isProtocol(err) && len(buf[:cops.HeaderLen]) == cops.HeaderLen {
			if op := cops.OpCode(buf[:cops.HeaderLen][1]); op < cops.OpREQ || op > cops.OpSSC {
				return nil, fmt.Errorf("copsconn: not a COPS peer: %w", errors.New(err.Error()))
			}
		}
		return nil, err
	}
	m := new(cops.Message)
	if err := m.Decode(raw); err != nil {
		bm := &badMessage{op: cops.OpCode(raw[1]), err: err}
		bm.handle, bm.hasHandle = cops.PeekHandle(raw)
		return nil, bm
	}
	if c.verifier != nil {
		if err := c.verifier.verify(raw, m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// drainTimeout is how long a closing connection keeps reading (and
// discarding) after its last message, so that unread input does not make
// the kernel answer with a reset that would destroy our CC in flight.
const drainTimeout = 500 * time.Millisecond

// startReader runs recv in a goroutine that delivers every message (and
// finally the error that ended reading) to c.in. c.stopRd half-closes the
// connection, drains what the peer still sends for at most drainTimeout,
// closes it and waits for the goroutine.
func (c *Conn) startReader() {
	ch := make(chan inbound)
	done := make(chan struct{})
	quit := make(chan struct{})
	go func() {
		defer close(done)
		draining := false
		for {
			m, err := c.recv()
			if !draining {
				select {
				case ch <- inbound{m, err}:
				case <-quit:
					draining = true
				}
			}
			var bm *badMessage
			if err != nil && !errors.As(err, &bm) {
				return
			}
		}
	}()
	var once sync.Once
	c.in = ch
	c.stopRd = func() {
		once.Do(func() {
			c.nc.SetReadDeadline(time.Now().Add(drainTimeout))
			if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			close(quit)
			<-done
			c.nc.Close()
		})
	}
}

// isProtocol reports whether err is the peer's fault in COPS terms (as
// opposed to an I/O error), so it deserves a CC with its code.
func isProtocol(err error) bool {
	var pe *cops.ProtocolError
	return errors.As(err, &pe)
}

// start runs the connection after its handshake: OnOpen first, then the
// loop on a goroutine of its own until ctx ends, Close is called, the peer
// closes or breaks the protocol.
func (c *Conn) start(ctx context.Context, ka keepAlive) {
	c.log.Info("cops connection open", "cops_role", c.cfg.Role.String(), "pep_id", c.peer.PEPID, "ka", ka.period)
	if c.cfg.OnOpen != nil {
		c.cfg.OnOpen(c)
	}
	stop := context.AfterFunc(ctx, c.Close)
	go func() {
		defer stop()
		err := c.loop(&ka)
		c.finish(err)
	}()
}

// errShutdown ends a connection that we closed.
var errShutdown = errors.New("shut down")

// loop is the connection's life after the handshake: keep-alives, dead
// peer detection and dispatch of what arrives.
func (c *Conn) loop(ka *keepAlive) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var sent time.Time
	for {
		if c.cfg.Role == PEP {
			if t := c.lastSent(); !t.Equal(sent) {
				sent = t
				ka.Sent(t, c.cfg.Rand())
			}
		}
		switch ka.Tick(time.Now()) {
		case kaDead:
			c.closeWith(cops.ErrCommunication, 0)
			return errors.New("peer silent for a whole keep-alive timer")
		case kaSend:
			if err := c.Send(&cops.Message{Header: cops.Header{Op: cops.OpKA}}); err != nil {
				return err
			}
			continue
		}
		if next := ka.Next(); !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-c.quit:
			c.closeWith(cops.ErrShuttingDown, 0)
			return errShutdown
		case <-timer.C:
		case r := <-c.in:
			if err := c.receive(r, ka); err != nil {
				return err
			}
		}
	}
}

// receive handles one read: a malformed message is answered when the RFC
// has an answer for it (the connection survives), any other read error
// ends the connection, with a CC carrying the RFC error code when the peer
// broke the protocol; a keep-alive flood is refused the same way (RFC 2748
// 2.5 "Unable to process").
func (c *Conn) receive(r inbound, ka *keepAlive) error {
	if r.err != nil {
		var bm *badMessage
		if errors.As(r.err, &bm) && c.answerBad(bm) {
			ka.Received(time.Now(), false)
			return nil
		}
		if isProtocol(r.err) {
			c.closeWith(cops.CodeOf(r.err), 0)
		}
		return r.err
	}
	if ka.Received(time.Now(), r.m.Op == cops.OpKA) {
		c.closeWith(cops.ErrUnableToProcess, 0)
		return errors.New("keep-alive flood")
	}
	return c.dispatch(r.m)
}

// answerBad answers a malformed message on its handle where RFC 2748 has
// an answer: a PDP answers a REQ with a DEC carrying the Error object
// (2.2.8), a PEP reports a DEC it cannot read as a failure (RPT, 3.5) and
// fails the Request that waited for it. It returns false for what can only
// be answered by closing.
func (c *Conn) answerBad(bm *badMessage) bool {
	if !bm.hasHandle {
		return false
	}
	code := cops.CodeOf(bm.err)
	switch {
	case c.cfg.Role == PDP && bm.op == cops.OpREQ:
		c.log.Warn("malformed REQ answered with an Error", "handle", bm.handle, "err", bm.err)
		return c.Send(&cops.Message{Header: cops.Header{Op: cops.OpDEC, Flags: cops.FlagSolicited},
			Handle: bm.handle, Error: cops.Error{Code: code}}) == nil
	case c.cfg.Role == PEP && bm.op == cops.OpDEC:
		c.log.Warn("malformed DEC reported as a failure", "handle", bm.handle, "err", bm.err)
		c.failRequest(bm.handle, bm.err)
		return c.Send(&cops.Message{Header: cops.Header{Op: cops.OpRPT}, Handle: bm.handle,
			ReportType: cops.ReportFailure}) == nil
	}
	return false
}

// dispatch acts on one message after the handshake. What a peer of its
// role may not send (RFC 2748 3) closes the connection with Error 3.
func (c *Conn) dispatch(m *cops.Message) error {
	pcmm := c.cfg.ClientType == cops.ClientTypePCMM
	switch {
	case m.Op == cops.OpKA:
		if c.cfg.Role == PDP { // the PDP echoes the PEP's keep-alive (RFC 2748 3.7)
			return c.Send(&cops.Message{Header: cops.Header{Op: cops.OpKA}})
		}
		return nil
	case m.Op == cops.OpCC:
		return &ClosedError{Code: m.Error, Redirect: m.Redirect}
	case c.cfg.Role == PEP && m.Op == cops.OpDEC:
		if c.decision(m) {
			return nil
		}
		if pcmm && c.cfg.Gates != nil {
			return c.serveGate(m)
		}
		c.deliver(m)
		return nil
	case c.cfg.Role == PEP && m.Op == cops.OpSSQ:
		return c.synchronize(m)
	case c.cfg.Role == PDP && m.Op == cops.OpREQ && pcmm:
		// A repeated configuration REQ re-synchronises the gate handle.
		c.mu.Lock()
		c.handle = m.Handle
		c.mu.Unlock()
		return nil
	case c.cfg.Role == PDP && m.Op == cops.OpRPT && pcmm && c.gateReply(m):
		return nil
	case c.cfg.Role == PDP && (m.Op == cops.OpREQ || m.Op == cops.OpRPT || m.Op == cops.OpDRQ || m.Op == cops.OpSSC):
		c.deliver(m)
		return nil
	}
	c.closeWith(cops.ErrBadMessageFormat, 0)
	return fmt.Errorf("%s from a %s", m.Op, c.peer.Role)
}

func (c *Conn) deliver(m *cops.Message) {
	if c.cfg.OnMessage != nil {
		c.cfg.OnMessage(c, m)
	}
}

// finish ends the connection: the reader stops and the socket closes,
// every call waiting on the connection fails, OnClose runs, Done closes.
func (c *Conn) finish(err error) {
	c.stopRd()
	c.cancel()
	var ce *ClosedError
	if !errors.As(err, &ce) {
		ce = &ClosedError{Err: err}
	}
	c.mu.Lock()
	c.closed, c.err = true, ce
	reqs := c.reqs
	c.reqs = map[cops.Handle]waiter{}
	gates := c.gates.takeAll()
	c.mu.Unlock()
	for _, w := range reqs {
		w.ch <- reqResult{err: ce}
	}
	for _, g := range gates {
		g.stop()
		g.done(cops.PCMM{}, ce)
	}
	if errors.Is(err, errShutdown) {
		c.log.Info("cops connection closed")
	} else {
		c.log.Warn("cops connection lost", "err", ce)
	}
	if c.cfg.OnClose != nil {
		c.cfg.OnClose(c, ce)
	}
	close(c.done)
}
