package copsconn

import (
	"context"
	"fmt"
	"time"

	"github.com/qoslab/qoslab/protocol/cops"
)

// PacketCable Multimedia on a connection: a PDP sends gate commands
// (Gate-Set, Gate-Info, Gate-Delete) in DECs on the handle of the router's
// configuration REQ, and matches the router's RPTs to them by Transaction
// ID; a PEP with Config.Gates executes the commands and answers each with
// an RPT.

// GateError is the error of a gate command the router answered with a
// …-Err reply; the reply itself comes with it.
type GateError struct {
	Command cops.GateCommand
	Err     cops.PCMMError
}

// Error names the reply and its PacketCable error.
func (e *GateError) Error() string {
	return fmt.Sprintf("copsconn: router answered %s: %s/%d", e.Command, e.Err.Code, e.Err.Subcode)
}

// gateWaiter is one gate command waiting for its RPT.
type gateWaiter struct {
	done  func(cops.PCMM, error)
	timer *time.Timer
}

func (g *gateWaiter) stop() {
	if g.timer != nil {
		g.timer.Stop()
	}
}

// gateTable matches gate commands to their replies by Transaction ID; the
// Conn drives it under its lock.
type gateTable struct {
	next    uint16
	pending map[uint16]*gateWaiter
}

func newGateTable() gateTable { return gateTable{pending: map[uint16]*gateWaiter{}} }

// start registers a command. A zero tid is replaced by the next free
// non-zero one (wrapping around); a tid already waiting is refused.
func (t *gateTable) start(tid uint16, w *gateWaiter) (uint16, error) {
	if len(t.pending) >= 0xFFFF {
		return 0, fmt.Errorf("copsconn: all 65535 transaction ids are outstanding")
	}
	if tid == 0 {
		for {
			t.next++
			if _, busy := t.pending[t.next]; t.next != 0 && !busy {
				break
			}
		}
		tid = t.next
	}
	if _, busy := t.pending[tid]; busy {
		return 0, fmt.Errorf("copsconn: transaction %d already outstanding", tid)
	}
	t.pending[tid] = w
	return tid, nil
}

// take returns who waits for tid and forgets it; nil if nobody (or, with
// only set, somebody else).
func (t *gateTable) take(tid uint16, only *gateWaiter) *gateWaiter {
	w := t.pending[tid]
	if w == nil || (only != nil && w != only) {
		return nil
	}
	delete(t.pending, tid)
	return w
}

// takeAll returns every waiter and forgets them all.
func (t *gateTable) takeAll() []*gateWaiter {
	out := make([]*gateWaiter, 0, len(t.pending))
	for tid, w := range t.pending {
		out = append(out, w)
		delete(t.pending, tid)
	}
	return out
}

// StartGate sends a gate command in a DEC and returns once it is written;
// done gets the router's reply, matched by Transaction ID (with a
// *GateError for a …-Err reply), or ErrTimeout when none came within
// timeout (0: no limit; a late reply then goes to OnMessage), or a
// *ClosedError when the connection ends first. done is called exactly
// once, from the connection's goroutine or a timer's, and only if
// StartGate returned nil. A zero TransactionID is assigned and written
// back into cmd.
func (c *Conn) StartGate(cmd *cops.PCMM, timeout time.Duration, done func(cops.PCMM, error)) error {
	if c.cfg.Role != PDP || c.cfg.ClientType != cops.ClientTypePCMM {
		return fmt.Errorf("copsconn: gate commands go from a PCMM PDP")
	}
	if !cmd.Command.IsRequest() {
		return fmt.Errorf("copsconn: %s is not a gate command", cmd.Command)
	}
	w := &gateWaiter{done: done}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.err
	}
	tid, err := c.gates.start(cmd.TransactionID, w)
	h := c.handle
	if err == nil && timeout > 0 {
		w.timer = time.AfterFunc(timeout, func() {
			c.mu.Lock()
			mine := c.gates.take(tid, w)
			c.mu.Unlock()
			if mine != nil {
				done(cops.PCMM{}, fmt.Errorf("%s transaction %d: %w", cmd.Command, tid, ErrTimeout))
			}
		})
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	cmd.TransactionID = tid
	data, err := cmd.AppendTo(nil)
	if err == nil {
		command := cops.CommandInstall
		if cmd.Command == cops.GateDelete {
			command = cops.CommandRemove
		}
		err = c.Send(&cops.Message{Header: cops.Header{Op: cops.OpDEC}, Handle: h,
			Decisions: []cops.Decision{{Context: cops.Context{RType: cops.RTypeConfigure}, Command: command, ClientData: data}}})
	}
	if err != nil {
		c.mu.Lock()
		c.gates.take(tid, w)
		c.mu.Unlock()
		w.stop()
		return err
	}
	return nil
}

// Gate sends a gate command and waits for the router's reply, or ctx. It
// returns the reply, with a *GateError for a …-Err reply and a
// *ClosedError when there is no connection.
func (c *Conn) Gate(ctx context.Context, cmd *cops.PCMM) (cops.PCMM, error) {
	type result struct {
		p   cops.PCMM
		err error
	}
	ch := make(chan result, 1)
	if err := c.StartGate(cmd, 0, func(p cops.PCMM, err error) { ch <- result{p, err} }); err != nil {
		return cops.PCMM{}, err
	}
	select {
	case r := <-ch:
		return r.p, r.err
	case <-ctx.Done():
		c.mu.Lock()
		c.gates.take(cmd.TransactionID, nil)
		c.mu.Unlock()
		return cops.PCMM{}, fmt.Errorf("copsconn: %s transaction %d: %w", cmd.Command, cmd.TransactionID, ctx.Err())
	}
}

// gateReply hands an RPT to the gate command it answers and reports
// whether it was consumed: matched, or unreadable (logged and dropped).
func (c *Conn) gateReply(m *cops.Message) bool {
	var p cops.PCMM
	if len(m.ClientSI) == 0 || p.Decode(m.ClientSI[0].Data) != nil {
		c.log.Warn("RPT without readable PCMM objects", "rpt", m.String())
		return true
	}
	c.mu.Lock()
	w := c.gates.take(p.TransactionID, nil)
	c.mu.Unlock()
	if w == nil {
		return false
	}
	w.stop()
	var err error
	if p.Error.Code != 0 || p.Command.IsErr() {
		err = &GateError{Command: p.Command, Err: p.Error}
	}
	w.done(p, err)
	return true
}

// serveGate executes the gate command of a DEC with Config.Gates and
// answers it with an RPT: the reply, or a Gate-Cmd-Err when the DEC
// carries no readable command.
func (c *Conn) serveGate(m *cops.Message) error {
	var cmd, reply cops.PCMM
	switch {
	case m.Error.Code != 0 || len(m.Decisions) == 0 || m.Decisions[0].ClientData == nil:
		reply = cops.PCMM{Command: cops.GateCmdErr, Error: cops.PCMMError{Code: cops.PCErrMissingObject}}
	case cmd.Decode(m.Decisions[0].ClientData) != nil:
		reply = cops.PCMM{Command: cops.GateCmdErr, Error: cops.PCMMError{Code: cops.PCErrInvalidObject}}
	case !cmd.Command.IsRequest():
		reply = cops.PCMM{TransactionID: cmd.TransactionID, Command: cops.GateCmdErr, Error: cops.PCMMError{Code: cops.PCErrUnknownGateCommand}}
	default:
		reply = c.cfg.Gates(c.ctx, &cmd)
		if reply.TransactionID == 0 {
			reply.TransactionID = cmd.TransactionID
		}
		if reply.Command == 0 {
			reply.Command = cmd.Command.Ack()
		}
	}
	data, err := reply.AppendTo(nil)
	if err != nil {
		c.log.Error("bad gate reply", "err", err)
		reply = cops.PCMM{TransactionID: cmd.TransactionID, Command: cmd.Command.Err(), Error: cops.PCMMError{Code: cops.PCErrOther}}
		data, _ = reply.AppendTo(nil)
	}
	rt := cops.ReportSuccess
	if reply.Error.Code != 0 || reply.Command.IsErr() {
		rt = cops.ReportFailure
	}
	return c.Send(&cops.Message{Header: cops.Header{Op: cops.OpRPT, Flags: cops.FlagSolicited},
		Handle: m.Handle, ReportType: rt, ClientSI: []cops.ClientSI{{Data: data}}})
}
