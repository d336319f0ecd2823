package cops

import (
	"fmt"
	"slices"
)

// pepState is the PEP's request bookkeeping, without I/O: the requests
// waiting for their solicited DEC, and the last REQ of every open handle
// (re-sent on SSQ and after a reconnect). The PEP drives it under its lock.
type pepState struct {
	pending map[Handle]waiter
	open    map[Handle]openRequest
}

// waiter is one Request waiting for its DEC.
type waiter struct {
	ctx Context
	ch  chan decResult
}

// openRequest is the last REQ sent on a handle.
type openRequest struct {
	ctx  Context
	data []byte
}

func newPEPState() pepState {
	return pepState{pending: map[Handle]waiter{}, open: map[Handle]openRequest{}}
}

// start registers a request on h; it fails if h already has one waiting.
func (s *pepState) start(h Handle, r openRequest, ch chan decResult) error {
	if _, busy := s.pending[h]; busy {
		return fmt.Errorf("cops pep: handle %d already has a request outstanding", h)
	}
	s.pending[h] = waiter{r.ctx, ch}
	s.open[h] = r
	return nil
}

// decision tells who gets a DEC: the waiting request (ok true, and it is
// no longer waiting) if the DEC is solicited and names no other context;
// otherwise nobody waits for it and it is unsolicited. A DEC for a request
// that timed out, arriving while a newer request of another kind waits on
// the same handle, is thereby not mistaken for the newer one's answer.
func (s *pepState) decision(m *Message) (chan decResult, bool) {
	w, ok := s.pending[m.Handle]
	if !ok || m.Flags&FlagSolicited == 0 {
		return nil, false
	}
	if len(m.Decisions) > 0 && m.Decisions[0].Context.RType != 0 && m.Decisions[0].Context != w.ctx {
		return nil, false
	}
	delete(s.pending, m.Handle)
	return w.ch, true
}

// cancel stops waiting for h if ch still waits there.
func (s *pepState) cancel(h Handle, ch chan decResult) {
	if w, ok := s.pending[h]; ok && w.ch == ch {
		delete(s.pending, h)
	}
}

// lost returns every waiting request and forgets them all (the connection
// is gone); open requests are kept for re-sending.
func (s *pepState) lost() []chan decResult {
	out := make([]chan decResult, 0, len(s.pending))
	for h, w := range s.pending {
		out = append(out, w.ch)
		delete(s.pending, h)
	}
	return out
}

// remove forgets handle h (DRQ).
func (s *pepState) remove(h Handle) { delete(s.open, h) }

// resend lists the open requests to re-send, in handle order: all of them,
// or only h when one is true.
func (s *pepState) resend(h Handle, one bool) []Handle {
	var hs []Handle
	for k := range s.open {
		if !one || k == h {
			hs = append(hs, k)
		}
	}
	slices.Sort(hs)
	return hs
}
