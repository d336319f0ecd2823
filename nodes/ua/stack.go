package ua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/qoslab/qoslab/nodes/sipstack"
)

// stack is one UA's SIP stack (nodes/sipstack: UDP and TCP on one
// address, requests and responses leaving from it) and its Contact.
type stack struct {
	*sipstack.Stack
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	cli     *sipgo.Client
	addr    netip.AddrPort
	contact sip.ContactHeader
}

// newStack binds addr. The caller registers its handlers and builds
// whatever they use, then calls serve: nothing is read from the socket
// before that, so no handler sees a half-built UA.
func newStack(name string, addr netip.AddrPort, log *slog.Logger) (*stack, error) {
	st, err := sipstack.New(sipstack.Config{Name: name, Addr: addr, Log: log})
	if err != nil {
		return nil, fmt.Errorf("ua: %w", err)
	}
	return &stack{
		Stack: st, ua: st.UA, srv: st.Server, cli: st.Client, addr: addr,
		contact: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: name, Host: addr.Addr().String(), Port: int(addr.Port())}},
	}, nil
}

// serve starts reading the sockets. It returns once sipgo can send.
func (s *stack) serve() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Serve(ctx); err != nil {
		return fmt.Errorf("ua: SIP on %s did not start serving: %w", s.addr, err)
	}
	return nil
}

// fromListener pins an in-dialog request to this node's SIP address.
// sipgo's dialog code leaves the local address of a BYE empty, and its
// transport then reuses a socket by the peer's address or, when it finds
// none, opens a new ephemeral one: the request would leave from a port
// that Via and Contact do not name. sipgo's dialog sends in-dialog
// requests over the INVITE's transport (tp); over TCP the request takes
// the pooled connection to the peer (sipstack.Pin).
func (s *stack) fromListener(req *sip.Request, tp string) {
	s.Pin(req, sip.NetworkToUpper(tp))
}

// close stops serving and releases the sockets and sipgo's goroutines.
// It is safe to call more than once.
func (s *stack) close() { s.Close() }

// sipURI is sip:user@addr (port omitted when it is the default).
func sipURI(user string, a netip.AddrPort) sip.Uri {
	u := sip.Uri{Scheme: "sip", User: user, Host: a.Addr().String()}
	if a.Port() != defaultSIPPort {
		u.Port = int(a.Port())
	}
	return u
}

// hostPortOf returns the address a sipgo source string names.
func hostPortOf(src string) netip.Addr {
	ap, err := netip.ParseAddrPort(src)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// waitCtx sleeps d or until one of the contexts ends; it reports whether
// the full time passed.
func waitCtx(d time.Duration, ctxs ...context.Context) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	if len(ctxs) == 1 {
		select {
		case <-t.C:
			return true
		case <-ctxs[0].Done():
			return false
		}
	}
	select {
	case <-t.C:
		return true
	case <-ctxs[0].Done():
		return false
	case <-ctxs[1].Done():
		return false
	}
}

var errClosed = errors.New("ua: shutting down")

func itoa(n int) string { return strconv.Itoa(n) }
