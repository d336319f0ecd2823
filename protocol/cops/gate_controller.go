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

// ErrNoRouter is returned by GateController.Do when the router is not
// connected (or the connection is lost while waiting).
var ErrNoRouter = errors.New("cops: no connection to the router")

// GateError is returned by GateController.Do when the router answers with
// a …-Err reply; the reply itself is returned too.
type GateError struct {
	Command GateCommand
	Err     PCMMError
}

// Error names the reply and its PacketCable error.
func (e *GateError) Error() string {
	return fmt.Sprintf("cops: router answered %s: %s/%d", e.Command, e.Err.Code, e.Err.Subcode)
}

// GateControllerConfig configures the policy server side of the PCMM leg.
type GateControllerConfig struct {
	// Addr is the router's host:port (TCP 3918).
	Addr string
	// KATimer in seconds, sent in CAT; 0 disables keep-alives.
	KATimer uint16
	// Dial defaults to a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// OpenTimeout bounds dial + OPN/CAT/REQ; default 5s.
	OpenTimeout time.Duration
	// MinBackoff, MaxBackoff bound the redial delay; defaults 100ms, 5s.
	MinBackoff, MaxBackoff time.Duration
	// Integrity, when set, signs and checks every message.
	Integrity *IntegrityKey
	// OnConnected and OnLost report the connection state; must not block.
	OnConnected func()
	OnLost      func(err error)
	// OnReport receives RPTs that answer no outstanding command (e.g.
	// Gate-Report-State); must not block.
	OnReport func(p PCMM)
	// Log receives connection events; nil discards them.
	Log *slog.Logger
	// Rand returns numbers in [0,1) for backoff jitter; nil: math/rand/v2.
	Rand func() float64
}

// GateController is the policy server's client of one router: it dials the
// router, accepts its OPN and sends gate commands.
type GateController struct {
	cfg GateControllerConfig

	mu     sync.Mutex
	cur    *conn
	handle Handle
	txs    txTable
}

type gateResult struct {
	p   PCMM
	err error
}

// NewGateController returns a GateController; call Run to connect.
func NewGateController(cfg GateControllerConfig) *GateController {
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
	return &GateController{cfg: cfg, txs: newTxTable()}
}

// Connected reports whether the router has opened and synchronised.
func (g *GateController) Connected() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cur != nil
}

// Run dials the router and keeps the connection up, redialling with
// backoff, until ctx ends; then it sends CC (Shutting down) and returns nil.
func (g *GateController) Run(ctx context.Context) error {
	backoff := g.cfg.MinBackoff
	for {
		up, err := g.connection(ctx)
		if ctx.Err() != nil {
			return nil
		}
		g.cfg.Log.Warn("cops gate controller: connection ended", "router", g.cfg.Addr, "err", err)
		if up {
			backoff = g.cfg.MinBackoff
		}
		wait := time.Duration(float64(backoff) * (0.5 + g.cfg.Rand()))
		backoff = min(2*backoff, g.cfg.MaxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func (g *GateController) connection(ctx context.Context) (bool, error) {
	octx, cancel := context.WithTimeout(ctx, g.cfg.OpenTimeout)
	defer cancel()
	nc, err := g.cfg.Dial(octx, "tcp", g.cfg.Addr)
	if err != nil {
		return false, fmt.Errorf("cops gate controller: dial %s: %w", g.cfg.Addr, err)
	}
	c := newConn(nc, g.cfg.Integrity, uint32(g.cfg.Rand()*(1<<31)))
	in, stop := c.startReader()
	defer stop()
	// OPN, then REQ: the router's side of the handshake.
	var handle Handle
	synced := false
	for step := OpOPN; !synced; {
		select {
		case <-octx.Done():
			if ctx.Err() != nil {
				c.closeWith(ClientTypePCMM, ErrShuttingDown)
			} else {
				c.closeWith(ClientTypePCMM, ErrCommunication)
			}
			return false, fmt.Errorf("cops gate controller: waiting for %s: %w", step, octx.Err())
		case r := <-in:
			if r.err != nil {
				if isProtocol(r.err) {
					c.closeWith(ClientTypePCMM, CodeOf(r.err))
				}
				return false, r.err
			}
			if r.m.Op == OpCC {
				return false, fmt.Errorf("cops gate controller: router closed: %s", errString(r.m.Error))
			}
			if r.m.Op != step && !(step == OpREQ && r.m.Op == OpKA) {
				c.closeWith(ClientTypePCMM, ErrBadMessageFormat)
				return false, fmt.Errorf("cops gate controller: %s while waiting for %s", r.m.Op, step)
			}
			if r.m.Op == OpOPN {
				if r.m.ClientType != ClientTypePCMM {
					c.closeWith(r.m.ClientType, ErrUnsupportedClient)
					return false, fmt.Errorf("cops gate controller: router opened client type %s", r.m.ClientType)
				}
				if err := c.send(&Message{Header: Header{Op: OpCAT, ClientType: ClientTypePCMM}, KATimer: g.cfg.KATimer}); err != nil {
					return false, err
				}
				step = OpREQ
				continue
			}
			if r.m.Op == OpREQ {
				handle, synced = r.m.Handle, true
			}
		}
	}
	g.mu.Lock()
	g.cur, g.handle = c, handle
	g.mu.Unlock()
	g.cfg.Log.Info("cops gate controller: router synchronised", "router", g.cfg.Addr, "handle", handle)
	if g.cfg.OnConnected != nil {
		g.cfg.OnConnected()
	}
	err = g.serve(ctx, c, in)
	g.mu.Lock()
	g.cur = nil
	for _, ch := range g.txs.lost() {
		ch <- gateResult{err: fmt.Errorf("%w: %v", ErrNoRouter, err)}
	}
	g.mu.Unlock()
	if g.cfg.OnLost != nil {
		g.cfg.OnLost(err)
	}
	return true, err
}

func (g *GateController) serve(ctx context.Context, c *conn, in <-chan inbound) error {
	ka := newKeepAlive(time.Duration(g.cfg.KATimer)*time.Second, false, time.Now(), 0)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if ka.Tick(time.Now()) == kaDead {
			c.closeWith(ClientTypePCMM, ErrCommunication)
			return errors.New("cops gate controller: router silent for a whole KA timer")
		}
		if next := ka.Next(); !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			c.closeWith(ClientTypePCMM, ErrShuttingDown)
			return ctx.Err()
		case <-timer.C:
		case r := <-in:
			if err := c.admit(r, &ka, ClientTypePCMM, "cops gate controller"); err != nil {
				return err
			}
			switch r.m.Op {
			case OpKA:
				if err := c.send(&Message{Header: Header{Op: OpKA}}); err != nil {
					return err
				}
			case OpRPT:
				g.report(r.m)
			case OpDRQ, OpSSC, OpREQ:
				// DRQ: the router dropped its handle; the next connection
				// brings a new one. A repeated REQ re-synchronises.
				if r.m.Op == OpREQ {
					g.mu.Lock()
					g.handle = r.m.Handle
					g.mu.Unlock()
				}
			case OpCC:
				return fmt.Errorf("cops gate controller: router closed: %s", errString(r.m.Error))
			default:
				c.closeWith(ClientTypePCMM, ErrBadMessageFormat)
				return fmt.Errorf("cops gate controller: unexpected %s", r.m.Op)
			}
		}
	}
}

// report matches an RPT to its command by Transaction ID.
func (g *GateController) report(m *Message) {
	var p PCMM
	if len(m.ClientSI) == 0 || p.Decode(m.ClientSI[0].Data) != nil {
		g.cfg.Log.Warn("cops gate controller: RPT without readable PCMM objects", "rpt", m.String())
		return
	}
	g.mu.Lock()
	ch, ok := g.txs.reply(p.TransactionID)
	g.mu.Unlock()
	switch {
	case ok:
		ch <- gateResult{p: p}
	case g.cfg.OnReport != nil:
		g.cfg.OnReport(p)
	}
}

// Do sends a gate command (Gate-Set, Gate-Info or Gate-Delete) in a DEC and
// waits for the router's RPT with the same Transaction ID, or ctx. A zero
// TransactionID is assigned. It returns the reply; with a …-Err reply the
// error is a *GateError, with no connection ErrNoRouter.
func (g *GateController) Do(ctx context.Context, cmd *PCMM) (PCMM, error) {
	if !cmd.Command.IsRequest() {
		return PCMM{}, fmt.Errorf("cops gate controller: %s is not a gate command", cmd.Command)
	}
	ch := make(chan gateResult, 1)
	g.mu.Lock()
	c, h := g.cur, g.handle
	if c == nil {
		g.mu.Unlock()
		return PCMM{}, ErrNoRouter
	}
	tid, err := g.txs.start(cmd.TransactionID, ch)
	g.mu.Unlock()
	if err != nil {
		return PCMM{}, err
	}
	cmd.TransactionID = tid
	data, err := cmd.AppendTo(nil)
	if err == nil {
		command := CommandInstall
		if cmd.Command == GateDelete {
			command = CommandRemove
		}
		err = c.send(&Message{Header: Header{Op: OpDEC, ClientType: ClientTypePCMM}, Handle: h,
			Decisions: []Decision{{Context: Context{RType: RTypeConfigure}, Command: command, ClientData: data}}})
	}
	if err != nil {
		g.forget(tid, ch)
		return PCMM{}, err
	}
	select {
	case res := <-ch:
		if res.err == nil && (res.p.Error.Code != 0 || res.p.Command.IsErr()) {
			res.err = &GateError{Command: res.p.Command, Err: res.p.Error}
		}
		return res.p, res.err
	case <-ctx.Done():
		g.forget(tid, ch)
		return PCMM{}, fmt.Errorf("cops gate controller: %s transaction %d: %w", cmd.Command, tid, ctx.Err())
	}
}

func (g *GateController) forget(tid uint16, ch chan gateResult) {
	g.mu.Lock()
	g.txs.cancel(tid, ch)
	g.mu.Unlock()
}
