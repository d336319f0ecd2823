package cops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"time"
)

// GateServerConfig configures the router side of the PacketCable
// Multimedia leg. The router listens (TCP 3918); the policy server
// connects; the router sends OPN, the policy server CAT, the router the
// synchronising REQ; then the policy server sends gate commands in DECs and
// the router answers each with an RPT.
type GateServerConfig struct {
	// PEPID is sent in OPN (e.g. the router's node name).
	PEPID string
	// Handler executes one gate command (Gate-Set, Gate-Info, Gate-Delete)
	// and returns the reply (…-Ack with Gate ID and usage, or …-Err with a
	// PacketCable Error). TransactionID and Command are filled in when the
	// reply leaves them zero (Command 0 means Ack). Commands of one
	// connection are handled one at a time, in order.
	Handler func(ctx context.Context, cmd *PCMM) PCMM
	// OpenTimeout bounds the wait for CAT; default 5s.
	OpenTimeout time.Duration
	// Integrity, when set, signs and checks every message.
	Integrity *IntegrityKey
	// Log receives connection events; nil discards them.
	Log *slog.Logger
	// Rand returns numbers in [0,1) for keep-alive jitter; nil: math/rand/v2.
	Rand func() float64
}

// The PCMM version the router announces in its OPN (Version Info object).
const (
	PCMMVersionMajor = 5
	PCMMVersionMinor = 0
)

// GateServer is the router side of the PCMM leg.
type GateServer struct {
	cfg GateServerConfig
}

// NewGateServer returns a GateServer; call Serve with a listener.
func NewGateServer(cfg GateServerConfig) *GateServer {
	if cfg.OpenTimeout == 0 {
		cfg.OpenTimeout = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	return &GateServer{cfg: cfg}
}

// Serve accepts policy server connections on ln until ctx ends, then sends
// CC (Shutting down), closes them and returns nil once all have ended.
func (s *GateServer) Serve(ctx context.Context, ln net.Listener) error {
	return acceptLoop(ctx, ln, "cops gate server", func(ctx context.Context, nc net.Conn) {
		err := s.serveConn(ctx, nc)
		s.cfg.Log.Info("cops gate server: policy server gone", "peer", nc.RemoteAddr().String(), "err", err)
	})
}

func (s *GateServer) serveConn(ctx context.Context, nc net.Conn) error {
	c := newConn(nc, s.cfg.Integrity, uint32(s.cfg.Rand()*(1<<31)))
	in, stop := c.startReader()
	defer stop()
	ver, _ := (&PCMM{HasVersion: true, Version: VersionInfo{PCMMVersionMajor, PCMMVersionMinor}}).AppendTo(nil)
	if err := c.send(&Message{Header: Header{Op: OpOPN, ClientType: ClientTypePCMM}, PEPID: s.cfg.PEPID,
		ClientSI: []ClientSI{{Data: ver}}}); err != nil {
		return err
	}
	t := time.NewTimer(s.cfg.OpenTimeout)
	var ka keepAlive
	select {
	case <-ctx.Done():
		t.Stop()
		c.closeWith(ClientTypePCMM, ErrShuttingDown)
		return nil
	case <-t.C:
		c.closeWith(ClientTypePCMM, ErrCommunication)
		return errors.New("cops gate server: no CAT within the open timeout")
	case r := <-in:
		t.Stop()
		switch {
		case r.err != nil:
			if isProtocol(r.err) {
				c.closeWith(ClientTypePCMM, CodeOf(r.err))
			}
			return r.err
		case r.m.Op == OpCC:
			return fmt.Errorf("cops gate server: policy server refused: %s", errString(r.m.Error))
		case r.m.Op != OpCAT:
			c.closeWith(ClientTypePCMM, ErrBadMessageFormat)
			return fmt.Errorf("cops gate server: %s instead of CAT", r.m.Op)
		}
		ka = newKeepAlive(time.Duration(r.m.KATimer)*time.Second, true, time.Now(), s.cfg.Rand())
	}
	handle := Handle(s.cfg.Rand()*(1<<31)) + 1
	if err := c.send(&Message{Header: Header{Op: OpREQ, ClientType: ClientTypePCMM}, Handle: handle,
		Context: Context{RType: RTypeConfigure}}); err != nil {
		return err
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var sent time.Time
	for {
		if ts := c.sentAt(); !ts.Equal(sent) {
			sent = ts
			ka.Sent(ts, s.cfg.Rand())
		}
		switch ka.Tick(time.Now()) {
		case kaDead:
			c.closeWith(ClientTypePCMM, ErrCommunication)
			return errors.New("cops gate server: policy server silent for a whole KA timer")
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
			c.closeWith(ClientTypePCMM, ErrShuttingDown)
			return nil
		case <-timer.C:
		case r := <-in:
			if err := c.admit(r, &ka, ClientTypePCMM, "cops gate server"); err != nil {
				return err
			}
			switch r.m.Op {
			case OpKA, OpSSQ:
				// KA needs no answer from the PEP side; a PCMM router has no
				// request state to re-send, so SSQ is answered by SSC.
				if r.m.Op == OpSSQ {
					if err := c.send(&Message{Header: Header{Op: OpSSC, ClientType: ClientTypePCMM}}); err != nil {
						return err
					}
				}
			case OpDEC:
				if err := s.decision(ctx, c, r.m); err != nil {
					return err
				}
			case OpCC:
				return fmt.Errorf("cops gate server: policy server closed: %s", errString(r.m.Error))
			default:
				c.closeWith(ClientTypePCMM, ErrBadMessageFormat)
				return fmt.Errorf("cops gate server: unexpected %s", r.m.Op)
			}
		}
	}
}

// decision runs one gate command and sends its RPT.
func (s *GateServer) decision(ctx context.Context, c *conn, m *Message) error {
	var cmd PCMM
	var reply PCMM
	switch {
	case m.Error.Code != 0 || len(m.Decisions) == 0 || m.Decisions[0].ClientData == nil:
		reply = PCMM{Command: GateCmdErr, Error: PCMMError{Code: PCErrMissingObject}}
	default:
		if err := cmd.Decode(m.Decisions[0].ClientData); err != nil {
			reply = PCMM{Command: GateCmdErr, Error: PCMMError{Code: PCErrInvalidObject}}
		} else if !cmd.Command.IsRequest() {
			reply = PCMM{TransactionID: cmd.TransactionID, Command: GateCmdErr, Error: PCMMError{Code: PCErrUnknownGateCommand}}
		} else {
			reply = s.cfg.Handler(ctx, &cmd)
			if reply.TransactionID == 0 {
				reply.TransactionID = cmd.TransactionID
			}
			if reply.Command == 0 {
				reply.Command = cmd.Command.Ack()
			}
		}
	}
	data, err := reply.AppendTo(nil)
	if err != nil {
		s.cfg.Log.Error("cops gate server: bad reply from handler", "err", err)
		reply = PCMM{TransactionID: cmd.TransactionID, Command: cmd.Command.Err(), Error: PCMMError{Code: PCErrOther}}
		data, _ = reply.AppendTo(nil)
	}
	rt := ReportSuccess
	if reply.Error.Code != 0 || reply.Command.IsErr() {
		rt = ReportFailure
	}
	return c.send(&Message{Header: Header{Op: OpRPT, Flags: FlagSolicited, ClientType: ClientTypePCMM},
		Handle: m.Handle, ReportType: rt, ClientSI: []ClientSI{{Data: data}}})
}
