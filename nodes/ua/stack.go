package ua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// stack is one UA's sipgo machinery bound to one UDP socket: requests and
// responses both leave from the listening address, so proxies and sipp
// see one SIP endpoint per node.
type stack struct {
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	cli     *sipgo.Client
	conn    net.PacketConn
	addr    netip.AddrPort
	contact sip.ContactHeader
	served  chan error
	once    sync.Once
	serving atomic.Bool
}

// newStack binds addr. The caller registers its handlers and builds
// whatever they use, then calls serve: nothing is read from the socket
// before that, so no handler sees a half-built UA.
func newStack(name string, addr netip.AddrPort, log *slog.Logger) (*stack, error) {
	host := addr.Addr().String()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(name), sipgo.WithUserAgentHostname(host))
	if err != nil {
		return nil, fmt.Errorf("ua: sipgo user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("ua: sipgo server: %w", err)
	}
	hostPort := addr.String()
	cli, err := sipgo.NewClient(ua,
		sipgo.WithClientLogger(log),
		sipgo.WithClientAddr(hostPort),
		sipgo.WithClientConnectionAddr(hostPort))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("ua: sipgo client: %w", err)
	}
	conn, err := net.ListenPacket("udp", hostPort)
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("ua: listen SIP %s: %w", hostPort, err)
	}
	return &stack{
		ua: ua, srv: srv, cli: cli, conn: conn, addr: addr,
		contact: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: name, Host: host, Port: int(addr.Port())}},
		served:  make(chan error, 1),
	}, nil
}

// serve starts reading the socket. It returns once sipgo can send from it.
func (s *stack) serve() error {
	hostPort := s.addr.String()
	s.serving.Store(true)
	go func() { s.served <- s.srv.ServeUDP(s.conn) }()
	// ServeUDP registers the socket in sipgo's pool from its goroutine;
	// a request sent before that would try to bind a second socket.
	deadline := time.Now().Add(2 * time.Second)
	for {
		if c, err := s.ua.TransportLayer().GetConnection("udp", hostPort); err == nil && c != nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.close()
			return fmt.Errorf("ua: SIP socket %s did not start serving", hostPort)
		}
		time.Sleep(time.Millisecond)
	}
}

// fromListener pins an in-dialog request to the listening socket.
// sipgo's dialog code leaves the local address of a BYE empty, and its
// transport then reuses a socket by the peer's address or, when it finds
// none, opens a new ephemeral one: the request would leave from a port
// that Via and Contact do not name.
func (s *stack) fromListener(req *sip.Request) {
	req.Laddr = sip.Addr{IP: net.IP(s.addr.Addr().AsSlice()), Port: int(s.addr.Port()), Hostname: s.addr.Addr().String()}
}

// close stops serving and releases the socket and sipgo's goroutines.
// It is safe to call more than once.
func (s *stack) close() {
	s.once.Do(func() {
		s.conn.Close()
		if s.serving.Load() {
			<-s.served
		}
		s.ua.Close()
	})
}

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
