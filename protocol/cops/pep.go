package cops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// ErrNoPDP is returned by PEP.Request and PEP.Delete when there is no
// connection to the PDP, or it was lost while waiting. A SIP proxy answers
// 503 to it.
var ErrNoPDP = errors.New("cops: no connection to the PDP")

// SessionDecision is what a PDP decides about a session request: a DEC
// with a Decision (Command plus the session data in client-specific
// decision data) or, when Error.Code is not 0, a DEC with an Error object.
type SessionDecision struct {
	Command Command
	Session Session
	Error   Error
}

// DecisionError is returned by PEP.Request when the PDP answered with an
// Error object instead of a decision.
type DecisionError struct{ Err Error }

// Error says which error the PDP answered.
func (e *DecisionError) Error() string {
	return "cops: PDP answered with error " + errString(e.Err)
}

// PEPConfig configures a PEP (the SIP proxy's COPS client).
type PEPConfig struct {
	// Addr is the PDP's host:port (TCP 3288).
	Addr string
	// PEPID identifies the PEP in its OPN.
	PEPID string
	// ClientType defaults to ClientTypeSession.
	ClientType ClientType
	// Dial defaults to a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// OpenTimeout bounds dial + OPN/CAT; default 5s.
	OpenTimeout time.Duration
	// MinBackoff and MaxBackoff bound the reconnect delay, which doubles
	// after each failure (with jitter) and resets once connected; defaults
	// 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// Integrity, when set, signs and checks every message.
	Integrity *IntegrityKey
	// OnUnsolicited is called (from the connection goroutine) for DECs that
	// answer no outstanding Request: PDP-initiated changes and the answers
	// to requests re-sent after a reconnect or SSQ. It must not block.
	OnUnsolicited func(h Handle, d SessionDecision)
	// OnConnected and OnLost are called when the connection comes up and
	// when it goes away (err says why). They must not block.
	OnConnected func()
	OnLost      func(err error)
	// Log receives connection events; nil discards them.
	Log *slog.Logger
	// Rand returns numbers in [0,1) for keep-alive and backoff jitter;
	// nil uses math/rand/v2.
	Rand func() float64
}

// PEP is the policy client of a SIP proxy. Run owns the connection; Request
// and Delete may be called from any goroutine (one per call).
type PEP struct {
	cfg PEPConfig

	mu    sync.Mutex
	cur   *conn
	state pepState
}

type decResult struct {
	d   SessionDecision
	err error
}

// NewPEP returns a PEP; call Run to connect.
func NewPEP(cfg PEPConfig) *PEP {
	if cfg.ClientType == 0 {
		cfg.ClientType = ClientTypeSession
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = d.DialContext
	}
	if cfg.OpenTimeout == 0 {
		cfg.OpenTimeout = 5 * time.Second
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	return &PEP{cfg: cfg, state: newPEPState()}
}

// Connected reports whether the PEP has an accepted connection to the PDP.
func (p *PEP) Connected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur != nil
}

// Run connects to the PDP and keeps the connection up, reconnecting with
// backoff, until ctx ends; then it sends Client-Close (Shutting down) and
// returns nil. Outstanding requests fail with ErrNoPDP whenever the
// connection is lost.
func (p *PEP) Run(ctx context.Context) error {
	backoff := p.cfg.MinBackoff
	addr := p.cfg.Addr
	for {
		up, redirect, err := p.connection(ctx, addr)
		if ctx.Err() != nil {
			return nil
		}
		p.cfg.Log.Warn("cops pep: connection ended", "pdp", addr, "err", err)
		if up {
			backoff = p.cfg.MinBackoff
		}
		if redirect.IsValid() {
			addr = redirect.String()
			continue
		}
		addr = p.cfg.Addr
		wait := time.Duration(float64(backoff) * (0.5 + p.cfg.Rand()))
		backoff = min(2*backoff, p.cfg.MaxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// connection runs one connection: dial, OPN/CAT, then serve until it ends.
// up tells whether the PDP accepted; redirect is set by a CC with a
// PDP Redirect Address.
func (p *PEP) connection(ctx context.Context, addr string) (up bool, redirect PDPAddr, err error) {
	octx, cancel := context.WithTimeout(ctx, p.cfg.OpenTimeout)
	defer cancel()
	nc, err := p.cfg.Dial(octx, "tcp", addr)
	if err != nil {
		return false, PDPAddr{}, fmt.Errorf("cops pep: dial %s: %w", addr, err)
	}
	c := newConn(nc, p.cfg.Integrity, uint32(p.cfg.Rand()*(1<<31)))
	in, stop := c.startReader()
	defer stop()
	if err := c.send(&Message{Header: Header{Op: OpOPN, ClientType: p.cfg.ClientType}, PEPID: p.cfg.PEPID}); err != nil {
		return false, PDPAddr{}, err
	}
	var ka keepAlive
	select {
	case <-octx.Done():
		if ctx.Err() == nil {
			c.closeWith(p.cfg.ClientType, ErrCommunication)
		}
		return false, PDPAddr{}, fmt.Errorf("cops pep: no CAT from %s: %w", addr, octx.Err())
	case r := <-in:
		if r.err != nil {
			return false, PDPAddr{}, fmt.Errorf("cops pep: waiting for CAT: %w", r.err)
		}
		switch r.m.Op {
		case OpCAT:
			ka = newKeepAlive(time.Duration(r.m.KATimer)*time.Second, true, time.Now(), p.cfg.Rand())
		case OpCC:
			return false, r.m.Redirect, fmt.Errorf("cops pep: PDP refused OPN: %s", errString(r.m.Error))
		default:
			c.closeWith(p.cfg.ClientType, ErrBadMessageFormat)
			return false, PDPAddr{}, fmt.Errorf("cops pep: %s instead of CAT", r.m.Op)
		}
	}
	p.cfg.Log.Info("cops pep: connected", "pdp", addr, "ka", ka.period)
	p.up(c)
	if p.cfg.OnConnected != nil {
		p.cfg.OnConnected()
	}
	err = p.serve(ctx, c, in, &ka)
	p.down(err)
	return true, PDPAddr{}, err
}

// up installs c as the current connection and re-sends open requests, whose
// answers arrive as unsolicited DECs.
func (p *PEP) up(c *conn) {
	p.mu.Lock()
	p.cur = c
	p.mu.Unlock()
	p.resend(c, 0, false)
}

// down fails every outstanding request and tells the owner.
func (p *PEP) down(err error) {
	p.mu.Lock()
	p.cur = nil
	for _, ch := range p.state.lost() {
		ch <- decResult{err: fmt.Errorf("%w: %v", ErrNoPDP, err)}
	}
	p.mu.Unlock()
	if p.cfg.OnLost != nil {
		p.cfg.OnLost(err)
	}
}

// resend re-sends the open requests (all, or only h when one is true).
func (p *PEP) resend(c *conn, h Handle, one bool) {
	p.mu.Lock()
	hs := p.state.resend(h, one)
	msgs := make([]*Message, len(hs))
	for i, k := range hs {
		msgs[i] = p.req(k, p.state.open[k])
	}
	p.mu.Unlock()
	for _, m := range msgs {
		c.send(m)
	}
}

func (p *PEP) req(h Handle, r openRequest) *Message {
	return &Message{Header: Header{Op: OpREQ, ClientType: p.cfg.ClientType}, Handle: h, Context: r.ctx,
		ClientSI: []ClientSI{{Data: r.data}}}
}

// serve is the connection loop after CAT.
func (p *PEP) serve(ctx context.Context, c *conn, in <-chan inbound, ka *keepAlive) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var sent time.Time
	for {
		if t := c.sentAt(); !t.Equal(sent) {
			sent = t
			ka.Sent(t, p.cfg.Rand())
		}
		switch ka.Tick(time.Now()) {
		case kaDead:
			c.closeWith(p.cfg.ClientType, ErrCommunication)
			return errors.New("cops pep: PDP silent for a whole KA timer")
		case kaSend:
			if err := c.send(&Message{Header: Header{Op: OpKA}}); err != nil {
				return err
			}
			continue
		}
		if next := ka.Next(); !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			c.closeWith(p.cfg.ClientType, ErrShuttingDown)
			return ctx.Err()
		case <-timer.C:
		case r := <-in:
			if err := c.admit(r, ka, p.cfg.ClientType, "cops pep"); err != nil {
				return err
			}
			if err := p.handle(c, r.m); err != nil {
				return err
			}
		}
	}
}

// handle acts on one message from the PDP.
func (p *PEP) handle(c *conn, m *Message) error {
	switch m.Op {
	case OpKA:
		return nil
	case OpDEC:
		d := SessionDecision{Error: m.Error}
		var bad error
		if len(m.Decisions) > 0 {
			d.Command = m.Decisions[0].Command
			if data := m.Decisions[0].ClientData; data != nil {
				bad = d.Session.Decode(data)
			}
		}
		p.mu.Lock()
		ch, ok := p.state.decision(m)
		p.mu.Unlock()
		switch {
		case ok:
			ch <- decResult{d: d, err: bad}
		case bad == nil && p.cfg.OnUnsolicited != nil:
			p.cfg.OnUnsolicited(m.Handle, d)
		}
		if bad != nil {
			// A decision we cannot read: tell the PDP, keep the connection.
			return c.send(&Message{Header: Header{Op: OpRPT, ClientType: p.cfg.ClientType}, Handle: m.Handle, ReportType: ReportFailure})
		}
		return nil
	case OpSSQ:
		p.resend(c, m.Handle, m.HasHandle)
		ssc := &Message{Header: Header{Op: OpSSC, ClientType: p.cfg.ClientType}, Handle: m.Handle, HasHandle: m.HasHandle}
		return c.send(ssc)
	case OpCC:
		return fmt.Errorf("cops pep: PDP closed: %s", errString(m.Error))
	}
	c.closeWith(p.cfg.ClientType, ErrBadMessageFormat)
	return fmt.Errorf("cops pep: unexpected %s from PDP", m.Op)
}

// Request sends a REQ of the given kind for the session on handle h and
// waits for the PDP's solicited DEC, or ctx. Only one request per handle
// may be outstanding. It fails with ErrNoPDP when there is no connection or
// it is lost while waiting, and with *DecisionError when the PDP answers
// with an Error object.
func (p *PEP) Request(ctx context.Context, h Handle, kind Kind, s Session) (SessionDecision, error) {
	data, err := s.AppendTo(nil)
	if err != nil {
		return SessionDecision{}, err
	}
	r := openRequest{ctx: kind.Context(), data: data}
	ch := make(chan decResult, 1)
	p.mu.Lock()
	c := p.cur
	if c == nil {
		p.mu.Unlock()
		return SessionDecision{}, ErrNoPDP
	}
	if err := p.state.start(h, r, ch); err != nil {
		p.mu.Unlock()
		return SessionDecision{}, err
	}
	p.mu.Unlock()
	if err := c.send(p.req(h, r)); err != nil {
		p.forget(h, ch)
		return SessionDecision{}, fmt.Errorf("%w: %v", ErrNoPDP, err)
	}
	select {
	case res := <-ch:
		if res.err == nil && res.d.Error.Code != 0 {
			res.err = &DecisionError{res.d.Error}
		}
		return res.d, res.err
	case <-ctx.Done():
		p.forget(h, ch)
		return SessionDecision{}, fmt.Errorf("cops pep: %s on handle %d: %w", kind, h, ctx.Err())
	}
}

// forget drops a pending request if it is still ch.
func (p *PEP) forget(h Handle, ch chan decResult) {
	p.mu.Lock()
	p.state.cancel(h, ch)
	p.mu.Unlock()
}

// Delete removes the state of handle h: it sends DRQ with the reason and
// forgets the open request. The local state is gone even if the DRQ cannot
// be sent (ErrNoPDP).
func (p *PEP) Delete(h Handle, reason ReasonCode) error {
	p.mu.Lock()
	p.state.remove(h)
	c := p.cur
	p.mu.Unlock()
	if c == nil {
		return ErrNoPDP
	}
	return c.send(&Message{Header: Header{Op: OpDRQ, ClientType: p.cfg.ClientType}, Handle: h, Reason: Reason{Code: reason}})
}
