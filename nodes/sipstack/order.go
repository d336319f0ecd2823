package sipstack

import (
	"sync"

	"github.com/emiago/sipgo/sip"
)

// Responses is an unbounded queue of responses: a Watch callback that
// pushes into it never makes the transport's reader wait.
type Responses struct {
	mu    sync.Mutex
	items []*sip.Response
	ready chan struct{}
}

// Ready is signalled when responses are waiting in Take.
func (q *Responses) Ready() <-chan struct{} { return q.ready }

// Take returns the waiting responses, oldest first.
func (q *Responses) Take() []*sip.Response {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.items
	q.items = nil
	return out
}

// NewResponses returns an empty queue.
func NewResponses() *Responses { return &Responses{ready: make(chan struct{}, 1)} }

// Push appends res (usable as a Watch callback).
func (q *Responses) Push(res *sip.Response) {
	q.mu.Lock()
	q.items = append(q.items, res)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Watch calls f with every response whose top Via carries branch (the
// request's own branch), in the order the transport read them, until stop
// is called. Register before the request is sent. f runs on the reading
// goroutine: it must be quick and must not wait for anything (push into a
// Responses queue to hand over). sipgo's transaction still sees the
// responses too, and must still be drained; this is only their order.
func (s *Stack) Watch(branch string, f func(*sip.Response)) (stop func()) {
	w := &watcher{f: f}
	s.watchMu.Lock()
	s.watch[branch] = w
	s.watchMu.Unlock()
	return func() {
		s.watchMu.Lock()
		if s.watch[branch] == w {
			delete(s.watch, branch)
		}
		s.watchMu.Unlock()
	}
}

type watcher struct{ f func(*sip.Response) }

// onMessage runs on the transport's reading goroutine for every message,
// in the order read: it must not block.
func (s *Stack) onMessage(m sip.Message) {
	res, ok := m.(*sip.Response)
	if !ok {
		return
	}
	v := res.Via()
	if v == nil {
		return
	}
	branch, _ := v.Params.Get("branch")
	s.watchMu.RLock()
	w := s.watch[branch]
	s.watchMu.RUnlock()
	if w != nil {
		w.f(res)
	}
}

// Branch is the branch of req's top Via ("" without one).
func Branch(req *sip.Request) string {
	if v := req.Via(); v != nil {
		b, _ := v.Params.Get("branch")
		return b
	}
	return ""
}
