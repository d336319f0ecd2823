package sipstack

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// MTU is the MTU of every lab link (topology/links.go creates the veths
// with it).
const MTU = 1500

// MaxUDP is the largest request sent as a datagram: RFC 3261 section
// 18.1.1 wants a congestion-controlled transport within 200 bytes of the
// path MTU.
const MaxUDP = MTU - 200

// MaxMessage is the largest SIP message a node reads, over either
// transport: sipgo's parser limit (sip.ParseMaxMessageLength) and the read
// buffer's size; the largest UDP payload is below it.
const MaxMessage = 65535

var limitsOnce sync.Once

// setLimits gives sipgo the lab's limits: datagrams up to MTU-200 (sipgo
// refuses larger ones with ErrUDPMTUCongestion, and Pin sends those over
// TCP instead), and a read buffer that holds any datagram whole.
func setLimits() {
	limitsOnce.Do(func() {
		sip.UDPMTUSize = MTU
		sip.TransportBufferReadSize = MaxMessage
	})
}

// Config describes one node's SIP stack.
type Config struct {
	Name string         // User-Agent / Server header and default From user
	Addr netip.AddrPort // listened on with UDP and TCP; requests leave from it
	Log  *slog.Logger
	// Unhandled sees responses that match no client transaction (2xx
	// retransmissions after a transaction ended, strays).
	Unhandled func(*sip.Response)
}

// Stack is one node's sipgo machinery bound to its SIP address.
type Stack struct {
	UA     *sipgo.UserAgent
	Server *sipgo.Server
	Client *sipgo.Client
	Addr   netip.AddrPort

	udp net.PacketConn
	tcp net.Listener

	watchMu sync.RWMutex
	watch   map[string]*watcher // by top Via branch

	listeners sync.WaitGroup // sipgo's readers of udp and tcp
	stopOnce  sync.Once
	stopped   chan struct{} // closed when the first reader ends
	stopErr   error         // why it ended
	closeOnce sync.Once
}

// New binds cfg.Addr on UDP and TCP. The caller registers its handlers on
// Server, then calls Serve: nothing is read before that.
func New(cfg Config) (*Stack, error) {
	setLimits()
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sipLog := slog.New(cappedHandler{log.Handler()}).With("caller", "sipgo")
	host := cfg.Addr.Addr().String()
	s := &Stack{Addr: cfg.Addr, watch: map[string]*watcher{}, stopped: make(chan struct{})}
	txOpts := []sip.TransactionLayerOption{sip.WithTransactionLayerLogger(sipLog)}
	if cfg.Unhandled != nil {
		txOpts = append(txOpts, sip.WithTransactionLayerUnhandledResponseHandler(cfg.Unhandled))
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(cfg.Name), sipgo.WithUserAgentHostname(host),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog)),
		sipgo.WithUserAgentTransactionLayerOptions(txOpts...))
	if err != nil {
		return nil, fmt.Errorf("sipstack: user agent: %w", err)
	}
	// The transport layer calls its handlers in the order it reads
	// messages, on the reading goroutine: the one place that order exists.
	ua.TransportLayer().OnMessage(s.onMessage)
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("sipstack: server: %w", err)
	}
	hostPort := cfg.Addr.String()
	cli, err := sipgo.NewClient(ua,
		sipgo.WithClientLogger(sipLog),
		sipgo.WithClientAddr(hostPort),
		sipgo.WithClientConnectionAddr(hostPort))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("sipstack: client: %w", err)
	}
	s.UA, s.Server, s.Client = ua, srv, cli
	if s.udp, err = net.ListenPacket("udp", hostPort); err != nil {
		ua.Close()
		return nil, fmt.Errorf("sipstack: listen udp %s: %w", hostPort, err)
	}
	if s.tcp, err = net.Listen("tcp", hostPort); err != nil {
		s.udp.Close()
		ua.Close()
		return nil, fmt.Errorf("sipstack: listen tcp %s: %w", hostPort, err)
	}
	return s, nil
}

// Serve starts reading both sockets and returns once sipgo can send from
// the UDP one (until then, a request sent from our address would make
// sipgo bind a second socket to it, and fail).
func (s *Stack) Serve(ctx context.Context) error {
	s.listeners.Add(2)
	go s.read(func() error { return s.Server.ServeUDP(s.udp) })
	go s.read(func() error { return s.Server.ServeTCP(s.tcp) })
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := s.UA.TransportLayer().GetConnection("udp", s.Addr.String()); err == nil && c != nil {
			return nil
		}
		select {
		case <-s.stopped:
			s.Close()
			return s.stopErr
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (s *Stack) read(serve func() error) {
	defer s.listeners.Done()
	err := serve()
	s.stopOnce.Do(func() {
		s.stopErr = fmt.Errorf("sipstack: serve %s: %w", s.Addr, err)
		close(s.stopped)
	})
}

// Stopped is closed when a listener stops (after CloseListeners, or on a
// socket error); Err then says why.
func (s *Stack) Stopped() <-chan struct{} { return s.stopped }

// Err is why the first listener stopped (valid once Stopped is closed).
func (s *Stack) Err() error { return s.stopErr }

// CloseListeners closes both sockets and waits until sipgo's readers of
// them have ended. Owners that must stop their own work before sipgo's
// transactions end call it first, then Close.
func (s *Stack) CloseListeners() {
	s.udp.Close()
	s.tcp.Close()
	s.listeners.Wait()
}

// Close stops serving and releases the sockets, every connection and
// sipgo's goroutines. It is safe to call more than once; calling it again
// after the owner's own goroutines stopped also closes a socket sipgo may
// have bound for a send racing with the shutdown.
func (s *Stack) Close() {
	s.closeOnce.Do(s.CloseListeners)
	s.UA.Close()
}
