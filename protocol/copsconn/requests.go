package copsconn

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/qoslab/qoslab/protocol/cops"
)

// The PEP's request tables: the Requests waiting for their solicited DEC
// (on the Conn, they fail when it ends), and the last REQ of every open
// handle (in an openTable, which a Client hands from one connection to the
// next), re-sent on SSQ and after a reconnect (RFC 2748 2.4, 3.9).

// waiter is one Request waiting for its DEC.
type waiter struct {
	ctx cops.Context
	ch  chan reqResult
}

type reqResult struct {
	m   *cops.Message
	err error
}

// openRequest is the last REQ sent on a handle.
type openRequest struct {
	ctx      cops.Context
	clientSI []byte
}

// openTable is a PEP's open handles.
type openTable struct {
	mu sync.Mutex
	m  map[cops.Handle]openRequest
}

func newOpenTable() *openTable { return &openTable{m: map[cops.Handle]openRequest{}} }

func (t *openTable) put(h cops.Handle, r openRequest) {
	t.mu.Lock()
	t.m[h] = r
	t.mu.Unlock()
}

func (t *openTable) remove(h cops.Handle) {
	t.mu.Lock()
	delete(t.m, h)
	t.mu.Unlock()
}

// requests returns the REQs to re-send, in handle order: all of them, or
// only h's when one is set.
func (t *openTable) requests(h cops.Handle, one bool) []*cops.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	var hs []cops.Handle
	for k := range t.m {
		if !one || k == h {
			hs = append(hs, k)
		}
	}
	slices.Sort(hs)
	out := make([]*cops.Message, len(hs))
	for i, k := range hs {
		out[i] = reqMessage(k, t.m[k])
	}
	return out
}

func reqMessage(h cops.Handle, r openRequest) *cops.Message {
	m := &cops.Message{Header: cops.Header{Op: cops.OpREQ}, Handle: h, Context: r.ctx}
	if r.clientSI != nil {
		m.ClientSI = []cops.ClientSI{{Data: r.clientSI}}
	}
	return m
}

// DecisionError is returned by Request when the PDP answered with an Error
// object instead of a decision.
type DecisionError struct{ Err cops.Error }

// Error says which error the PDP answered.
func (e *DecisionError) Error() string { return "copsconn: PDP answered with error " + e.Err.String() }

// Request sends a REQ on handle h with the Context and (if not nil) one
// signaled ClientSI, and waits for the PDP's solicited DEC, or ctx. Only
// one Request per handle may be outstanding. The REQ stays open (re-sent on
// SSQ and by a Client after a reconnect) until Delete. It fails with a
// *ClosedError when the connection is or gets lost, and returns the DEC
// together with a *DecisionError when the PDP answers with an Error object.
func (c *Conn) Request(ctx context.Context, h cops.Handle, rctx cops.Context, clientSI []byte) (*cops.Message, error) {
	if c.cfg.Role != PEP {
		return nil, fmt.Errorf("copsconn: only a PEP sends requests")
	}
	ch := make(chan reqResult, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, c.err
	}
	if _, busy := c.reqs[h]; busy {
		c.mu.Unlock()
		return nil, fmt.Errorf("copsconn: handle %d already has a request outstanding", h)
	}
	c.reqs[h] = waiter{rctx, ch}
	c.mu.Unlock()
	r := openRequest{ctx: rctx, clientSI: clientSI}
	c.open.put(h, r)
	if err := c.Send(reqMessage(h, r)); err != nil {
		c.forget(h, ch)
		return nil, err
	}
	select {
	case res := <-ch:
		if res.err == nil && res.m.Error.Code != 0 {
			res.err = &DecisionError{res.m.Error}
		}
		return res.m, res.err
	case <-ctx.Done():
		c.forget(h, ch)
		return nil, fmt.Errorf("copsconn: REQ on handle %d: %w", h, ctx.Err())
	}
}

// forget stops waiting for h if ch still waits there.
func (c *Conn) forget(h cops.Handle, ch chan reqResult) {
	c.mu.Lock()
	if w, ok := c.reqs[h]; ok && w.ch == ch {
		delete(c.reqs, h)
	}
	c.mu.Unlock()
}

// Delete removes the state of handle h: it forgets the open request and
// sends DRQ with the reason. The local state is gone even if the DRQ
// cannot be sent.
func (c *Conn) Delete(h cops.Handle, reason cops.ReasonCode) error {
	c.open.remove(h)
	return c.Send(&cops.Message{Header: cops.Header{Op: cops.OpDRQ}, Handle: h, Reason: cops.Reason{Code: reason}})
}

// decision hands a DEC to the Request waiting for it and reports whether
// one did: a solicited DEC on its handle that names no other context. A
// DEC for a request that timed out, arriving while a newer request of
// another kind waits on the same handle, is thereby not mistaken for the
// newer one's answer.
func (c *Conn) decision(m *cops.Message) bool {
	if m.Flags&cops.FlagSolicited == 0 {
		return false
	}
	c.mu.Lock()
	w, ok := c.reqs[m.Handle]
	if ok && len(m.Decisions) > 0 && m.Decisions[0].Context.RType != 0 && m.Decisions[0].Context != w.ctx {
		ok = false
	}
	if ok {
		delete(c.reqs, m.Handle)
	}
	c.mu.Unlock()
	if ok {
		w.ch <- reqResult{m: m}
	}
	return ok
}

// failRequest fails the Request waiting on h, if any.
func (c *Conn) failRequest(h cops.Handle, err error) {
	c.mu.Lock()
	w, ok := c.reqs[h]
	delete(c.reqs, h)
	c.mu.Unlock()
	if ok {
		w.ch <- reqResult{err: err}
	}
}

// synchronize answers the PDP's SSQ: the open requests (all, or the one
// it names) again, then SSC (RFC 2748 3.9-3.10).
func (c *Conn) synchronize(m *cops.Message) error {
	if err := c.resend(m.Handle, m.HasHandle); err != nil {
		return err
	}
	return c.Send(&cops.Message{Header: cops.Header{Op: cops.OpSSC}, Handle: m.Handle, HasHandle: m.HasHandle})
}

// resend sends the open requests again; their DECs arrive as unsolicited
// (OnMessage).
func (c *Conn) resend(h cops.Handle, one bool) error {
	for _, m := range c.open.requests(h, one) {
		if err := c.Send(m); err != nil {
			return err
		}
	}
	return nil
}

// Synchronize sends SSQ (a PDP's request to re-send the open requests of
// handle h, or of all handles when all is set); the PEP's REQs arrive as
// usual and its SSC ends the synchronisation.
func (c *Conn) Synchronize(h cops.Handle, all bool) error {
	if c.cfg.Role != PDP {
		return fmt.Errorf("copsconn: only a PDP asks to synchronise")
	}
	return c.Send(&cops.Message{Header: cops.Header{Op: cops.OpSSQ}, Handle: h, HasHandle: !all})
}
