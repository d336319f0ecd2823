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

// SessionRequest is one REQ from a SIP proxy as the PDP's handler sees it.
type SessionRequest struct {
	PEPID   string
	Handle  Handle
	Kind    Kind
	Context Context
	Session Session
}

// PDPConfig configures the policy server side of the proxy leg.
type PDPConfig struct {
	// ClientType accepted in OPN; defaults to ClientTypeSession. Other
	// client types get CC with Error 6 (Unsupported client).
	ClientType ClientType
	// KATimer in seconds, sent in CAT; 0 disables keep-alives.
	KATimer uint16
	// OpenTimeout is how long a new connection may take to send OPN
	// before it gets CC (Communication failure); default 5s.
	OpenTimeout time.Duration
	// Handler decides each REQ. It may block (OSP, gates); it runs in its
	// own goroutine, and the REQs of one handle are decided one after the
	// other, so at most one solicited DEC per handle is outstanding. ctx
	// ends when the PEP's connection does.
	Handler func(ctx context.Context, r SessionRequest) SessionDecision
	// OnDelete is called for a DRQ, after any decision in progress on the
	// handle, and for every handle still open when a PEP disconnects
	// (with reason Unspecified, subcode 0xFFFF meaning "connection lost").
	OnDelete func(pepID string, h Handle, r Reason)
	// OnReport is called for RPTs (optional).
	OnReport func(pepID string, h Handle, t ReportType)
	// Integrity, when set, is required on every message.
	Integrity *IntegrityKey
	// Log receives connection events; nil discards them.
	Log *slog.Logger
}

// ReasonSubConnectionLost marks the OnDelete calls a PDP makes by itself
// when a PEP's connection goes away.
const ReasonSubConnectionLost = 0xFFFF

// PDP is the policy server side of the proxy leg: it accepts PEP
// connections and answers their requests through the handler.
type PDP struct {
	cfg PDPConfig

	mu    sync.Mutex
	peps  map[string]*pdpConn
	conns map[*pdpConn]struct{}
}

// NewPDP returns a PDP; call Serve with a listener.
func NewPDP(cfg PDPConfig) *PDP {
	if cfg.ClientType == 0 {
		cfg.ClientType = ClientTypeSession
	}
	if cfg.OpenTimeout == 0 {
		cfg.OpenTimeout = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &PDP{cfg: cfg, peps: map[string]*pdpConn{}, conns: map[*pdpConn]struct{}{}}
}

// Serve accepts PEP connections on ln until ctx ends, then closes ln, sends
// CC (Shutting down) to every PEP and returns once every connection
// goroutine has ended. It returns nil after ctx ends, or the accept error.
func (s *PDP) Serve(ctx context.Context, ln net.Listener) error {
	return acceptLoop(ctx, ln, "cops pdp", s.serveConn)
}

// pdpConn is one PEP's connection and its handle table.
type pdpConn struct {
	c     *conn
	pepID string
	ct    ClientType
	// handles maps each open handle to the completion of the last work
	// (decision or delete) queued on it: work on a handle runs in order.
	handles map[Handle]chan struct{}
}

func (s *PDP) serveConn(ctx context.Context, nc net.Conn) {
	pc := &pdpConn{c: newConn(nc, s.cfg.Integrity, rand.Uint32()>>1), ct: s.cfg.ClientType, handles: map[Handle]chan struct{}{}}
	in, stop := pc.c.startReader()
	defer stop()
	log := s.cfg.Log.With("peer", nc.RemoteAddr().String())
	if err := s.open(ctx, pc, in); err != nil {
		log.Warn("cops pdp: open failed", "err", err)
		return
	}
	log = log.With("pep", pc.pepID)
	log.Info("cops pdp: PEP connected")
	s.mu.Lock()
	s.peps[pc.pepID] = pc
	s.conns[pc] = struct{}{}
	s.mu.Unlock()

	cctx, cancel := context.WithCancel(ctx)
	var work sync.WaitGroup
	err := s.loop(cctx, pc, in, &work)
	cancel()
	stop()
	work.Wait()
	s.mu.Lock()
	if s.peps[pc.pepID] == pc {
		delete(s.peps, pc.pepID)
	}
	delete(s.conns, pc)
	s.mu.Unlock()
	if s.cfg.OnDelete != nil {
		for h := range pc.handles {
			s.cfg.OnDelete(pc.pepID, h, Reason{Code: ReasonUnspecified, Subcode: ReasonSubConnectionLost})
		}
	}
	log.Info("cops pdp: PEP gone", "err", err, "handles", len(pc.handles))
}

// open waits for OPN and answers CAT, or CC with the reason.
func (s *PDP) open(ctx context.Context, pc *pdpConn, in <-chan inbound) error {
	t := time.NewTimer(s.cfg.OpenTimeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
		pc.c.closeWith(pc.ct, ErrShuttingDown)
		return ctx.Err()
	case <-t.C:
		pc.c.closeWith(pc.ct, ErrCommunication)
		return errors.New("cops pdp: no OPN within the open timeout")
	case r := <-in:
		switch {
		case r.err != nil:
			if isProtocol(r.err) {
				pc.c.closeWith(pc.ct, CodeOf(r.err))
			}
			return r.err
		case r.m.Op != OpOPN:
			pc.c.closeWith(pc.ct, ErrBadMessageFormat)
			return fmt.Errorf("cops pdp: %s before OPN", r.m.Op)
		case r.m.ClientType != s.cfg.ClientType:
			pc.c.closeWith(r.m.ClientType, ErrUnsupportedClient)
			return fmt.Errorf("cops pdp: unsupported client type %s", r.m.ClientType)
		}
		pc.pepID = r.m.PEPID
	}
	return pc.c.send(&Message{Header: Header{Op: OpCAT, ClientType: pc.ct}, KATimer: s.cfg.KATimer})
}

func (s *PDP) loop(ctx context.Context, pc *pdpConn, in <-chan inbound, work *sync.WaitGroup) error {
	ka := newKeepAlive(time.Duration(s.cfg.KATimer)*time.Second, false, time.Now(), 0)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if ka.Tick(time.Now()) == kaDead {
			pc.c.closeWith(pc.ct, ErrCommunication)
			return errors.New("cops pdp: PEP silent for a whole KA timer")
		}
		if next := ka.Next(); !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			pc.c.closeWith(pc.ct, ErrShuttingDown)
			return nil
		case <-timer.C:
		case r := <-in:
			var bm *badMessage
			if errors.As(r.err, &bm) && bm.op == OpREQ && bm.hasHandle && CodeOf(bm) != ErrAuthFailure && CodeOf(bm) != ErrAuthRequired {
				// A malformed REQ with a readable handle: answer it with
				// an Error and keep the connection (RFC 2748 2.2.8).
				ka.Received(time.Now(), false)
				if err := pc.c.send(&Message{Header: Header{Op: OpDEC, Flags: FlagSolicited, ClientType: pc.ct},
					Handle: bm.handle, Error: Error{Code: CodeOf(bm)}}); err != nil {
					return err
				}
				continue
			}
			if err := pc.c.admit(r, &ka, pc.ct, "cops pdp"); err != nil {
				return err
			}
			if err := s.handle(ctx, pc, r.m, work); err != nil {
				return err
			}
		}
	}
}

func (s *PDP) handle(ctx context.Context, pc *pdpConn, m *Message, work *sync.WaitGroup) error {
	switch m.Op {
	case OpKA:
		return pc.c.send(&Message{Header: Header{Op: OpKA}})
	case OpREQ:
		req := SessionRequest{PEPID: pc.pepID, Handle: m.Handle, Kind: KindOf(m.Context), Context: m.Context}
		var derr Error
		switch {
		case len(m.ClientSI) == 0:
			derr = Error{Code: ErrMandatoryClientSI}
		default:
			if err := req.Session.Decode(m.ClientSI[0].Data); err != nil {
				derr = Error{Code: CodeOf(err)}
			}
		}
		s.queue(ctx, pc, m.Handle, work, func() {
			d := SessionDecision{Error: derr}
			if derr.Code == 0 {
				d = s.cfg.Handler(ctx, req)
			}
			if ctx.Err() == nil {
				pc.c.send(decisionMessage(pc.ct, m.Handle, m.Context, d, true))
			}
		})
		return nil
	case OpDRQ:
		reason := m.Reason
		s.queue(ctx, pc, m.Handle, work, func() {
			if s.cfg.OnDelete != nil {
				s.cfg.OnDelete(pc.pepID, m.Handle, reason)
			}
		})
		delete(pc.handles, m.Handle)
		return nil
	case OpRPT:
		if s.cfg.OnReport != nil {
			s.cfg.OnReport(pc.pepID, m.Handle, m.ReportType)
		}
		return nil
	case OpSSC:
		return nil
	case OpCC:
		return fmt.Errorf("cops pdp: PEP closed: %s", errString(m.Error))
	}
	pc.c.closeWith(pc.ct, ErrBadMessageFormat)
	return fmt.Errorf("cops pdp: unexpected %s from PEP", m.Op)
}

// queue runs f after the work already queued on handle h.
func (s *PDP) queue(ctx context.Context, pc *pdpConn, h Handle, work *sync.WaitGroup, f func()) {
	prev := pc.handles[h]
	done := make(chan struct{})
	pc.handles[h] = done
	work.Add(1)
	go func() {
		defer work.Done()
		defer close(done)
		if prev != nil {
			<-prev
		}
		f()
	}()
}

// decisionMessage builds the DEC for a decision.
func decisionMessage(ct ClientType, h Handle, ctx Context, d SessionDecision, solicited bool) *Message {
	m := &Message{Header: Header{Op: OpDEC, ClientType: ct}, Handle: h}
	if solicited {
		m.Flags = FlagSolicited
	}
	if d.Error.Code != 0 {
		m.Error = d.Error
		return m
	}
	data, err := d.Session.AppendTo(nil)
	if err != nil {
		m.Error = Error{Code: ErrUnableToProcess}
		return m
	}
	m.Decisions = []Decision{{Context: ctx, Command: d.Command, ClientData: data}}
	return m
}

// Decide sends an unsolicited DEC to the PEP pepID on handle h (a
// PDP-initiated change, e.g. a Remove when the clearinghouse revokes).
func (s *PDP) Decide(pepID string, h Handle, ctx Context, d SessionDecision) error {
	s.mu.Lock()
	pc := s.peps[pepID]
	s.mu.Unlock()
	if pc == nil {
		return fmt.Errorf("cops pdp: PEP %q is not connected", pepID)
	}
	return pc.c.send(decisionMessage(pc.ct, h, ctx, d, false))
}

// Synchronize sends SSQ to the PEP pepID, which re-sends its open requests
// (they reach the handler again) and then SSC.
func (s *PDP) Synchronize(pepID string) error {
	s.mu.Lock()
	pc := s.peps[pepID]
	s.mu.Unlock()
	if pc == nil {
		return fmt.Errorf("cops pdp: PEP %q is not connected", pepID)
	}
	return pc.c.send(&Message{Header: Header{Op: OpSSQ, ClientType: pc.ct}})
}

// acceptLoop serves each connection accepted on ln on a goroutine of its
// own until ctx ends; then it closes ln, cancels the connections (they send
// CC and close) and returns once every one of them has ended. It returns
// nil after ctx ends, or the accept error (prefixed with who).
func acceptLoop(ctx context.Context, ln net.Listener, who string, serve func(context.Context, net.Conn)) error {
	// Deferred in this order so that cancel runs first: connections are
	// told to stop, then waited for (also when Accept fails).
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%s: accept: %w", who, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(ctx, nc)
		}()
	}
}
