package rtp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"golang.org/x/sys/unix"
)

// Config describes one side of a call's media.
type Config struct {
	// Local is the address and port the socket binds; the same socket
	// sends and receives (symmetric RTP, the port the SDP advertises).
	Local netip.AddrPort
	// Codec is the G.711 variant the receiver expects (its clock rate
	// drives the jitter estimate); Send may pick the negotiated one later.
	Codec Codec
	// DSCP, when non-zero, is set on the socket (IP_TOS) so that every
	// packet leaves already marked.
	DSCP uint8
}

// SenderStats counts what a session sent.
type SenderStats struct {
	SSRC    uint32 `json:"ssrc"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"` // UDP payload bytes (RTP header + G.711)
	Errors  uint64 `json:"errors,omitempty"`
	DSCP    uint8  `json:"dscp"` // marking set on the socket
}

// Report is a session's media report: both directions as seen from here.
type Report struct {
	Codec    string      `json:"codec"`
	Local    string      `json:"local"`
	Remote   string      `json:"remote,omitempty"`
	Sent     SenderStats `json:"sent"`
	Received Stats       `json:"received"`
}

// Session is one side of a call's media: a UDP socket, a receive loop
// feeding a Tracker, and (once the remote address is known) a send loop
// at 50 packets/s. Every goroutine belongs to the session and Close waits
// for them.
type Session struct {
	cfg  Config
	conn *net.UDPConn

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	tracker *Tracker
	stream  *Stream
	sent    SenderStats
	remote  netip.AddrPort
	sending bool
	closed  bool
	// sendCancel stops the send loop alone; sendDone closes when it ended.
	sendCancel context.CancelFunc
	sendDone   chan struct{}

	// Close drains what the kernel still holds for the socket before it
	// closes it (see drain); recvDone closes when the receive loop ends.
	draining atomic.Bool
	recvDone chan struct{}
}

// Listen binds the session's socket and starts receiving. The session
// lives until Close or until ctx ends.
func Listen(ctx context.Context, cfg Config) (*Session, error) {
	if cfg.Codec.ClockRate == 0 {
		cfg.Codec = PCMU
	}
	if cfg.DSCP > 63 {
		return nil, fmt.Errorf("rtp: DSCP %d out of range 0-63", cfg.DSCP)
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(cfg.Local))
	if err != nil {
		return nil, fmt.Errorf("rtp: listen %s: %w", cfg.Local, err)
	}
	v6 := cfg.Local.Addr().Is6() && !cfg.Local.Addr().Is4In6()
	if err := setSocketDSCP(conn, v6, cfg.DSCP); err != nil {
		conn.Close()
		return nil, err
	}
	s := &Session{
		cfg:      cfg,
		conn:     conn,
		tracker:  NewTracker(cfg.Codec.ClockRate),
		sent:     SenderStats{DSCP: cfg.DSCP},
		recvDone: make(chan struct{}),
	}
	s.cfg.Local = conn.LocalAddr().(*net.UDPAddr).AddrPort()
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(2)
	go s.receiveLoop()
	go func() {
		// Closing the socket is what unblocks the receive loop.
		defer s.wg.Done()
		<-s.ctx.Done()
		s.conn.Close()
	}()
	return s, nil
}

// LocalAddr is the bound address (with the real port if Local had 0).
func (s *Session) LocalAddr() netip.AddrPort { return s.cfg.Local }

// Send starts sending codec c to remote at 50 packets/s until Close.
// Calling it again changes the destination (a re-answer) but keeps the
// stream and its codec. A UAC opens its session before it knows the
// answer's codec, hence the codec here.
func (s *Session) Send(remote netip.AddrPort, c Codec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("rtp: session closed")
	}
	if !remote.IsValid() || remote.Port() == 0 {
		return fmt.Errorf("rtp: invalid remote address %s", remote)
	}
	s.remote = remote
	if s.sending {
		return nil
	}
	if c.ClockRate != 0 {
		s.cfg.Codec = c
	}
	s.sending = true
	var sendCtx context.Context
	sendCtx, s.sendCancel = context.WithCancel(s.ctx)
	s.sendDone = make(chan struct{})
	// RFC 3550 5.1: random initial sequence number, timestamp and SSRC.
	s.stream = NewStream(s.cfg.Codec, rand.Uint32(), uint16(rand.Uint32()), rand.Uint32())
	s.sent.SSRC = s.stream.SSRC()
	s.wg.Add(1)
	go s.sendLoop(sendCtx)
	return nil
}

// StopSending ends the send loop and waits for it, keeping the socket
// open and receiving. A UA stops its media this way before it sends BYE:
// the peer's figures then cover everything sent, and the peer's last
// packets still find an open port instead of drawing ICMP unreachables.
func (s *Session) StopSending() {
	s.mu.Lock()
	cancel, done := s.sendCancel, s.sendDone
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// maxBurst bounds how many overdue packets one wake-up sends after a
// stall; beyond that the stream skips (timestamps jump, as after
// silence) instead of flooding the link.
const maxBurst = 10

// sendLoop paces packets on an absolute 20 ms schedule: packet n leaves
// at start + n*20ms. A loaded machine that wakes late sends the overdue
// packets at once, so the rate over a call stays 50 packets/s (a Ticker
// would silently drop ticks instead).
func (s *Session) sendLoop(ctx context.Context) {
	defer s.wg.Done()
	defer close(s.sendDone)
	s.mu.Lock()
	payload := toneFrame(s.cfg.Codec)
	s.mu.Unlock()
	buf := make([]byte, 0, 12+PayloadSize)
	const period = PTimeMillis * time.Millisecond
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var n int64 // packets scheduled so far
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		due := int64(time.Since(start)/period) + 1
		if due-n > maxBurst {
			s.mu.Lock()
			s.stream.Skip(int(due - n - maxBurst))
			s.stream.StartTalkspurt()
			s.mu.Unlock()
			n = due - maxBurst
		}
		for ; n < due; n++ {
			s.sendOne(buf, payload)
		}
		timer.Reset(time.Until(start.Add(time.Duration(n) * period)))
	}
}

func (s *Session) sendOne(buf, payload []byte) {
	s.mu.Lock()
	pkt := s.stream.AppendPacket(buf[:0], payload)
	dst := s.remote
	s.mu.Unlock()
	// Unconnected socket: an ICMP port unreachable must not make the
	// next write fail (connected UDP sockets report it there).
	_, err := s.conn.WriteToUDPAddrPort(pkt, dst)
	s.mu.Lock()
	if err != nil {
		s.sent.Errors++
	} else {
		s.sent.Packets++
		s.sent.Bytes += uint64(len(pkt))
	}
	s.mu.Unlock()
}

func (s *Session) receiveLoop() {
	defer s.wg.Done()
	defer close(s.recvDone)
	buf := make([]byte, 1500)
	oob := make([]byte, oobSize)
	var h rtp.Header
	for {
		n, oobn, _, _, err := s.conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			if s.draining.Load() {
				s.readQueued(buf, oob, &h)
				return
			}
			continue // e.g. ECONNREFUSED from an earlier ICMP: keep reading
		}
		s.observe(&h, buf[:n], oob[:oobn], time.Now())
	}
}

func (s *Session) observe(h *rtp.Header, pkt, oob []byte, now time.Time) {
	dscp := dscpFromOOB(oob)
	_, err := h.Unmarshal(pkt)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || h.Version != 2 {
		s.tracker.ObserveDSCPOnly(dscp)
		return
	}
	s.tracker.Observe(h.SSRC, h.SequenceNumber, h.Timestamp, now, dscp, len(pkt))
}

// Report returns the figures so far; the session keeps running.
func (s *Session) Report() Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := Report{
		Codec:    s.cfg.Codec.Name,
		Local:    s.cfg.Local.String(),
		Sent:     s.sent,
		Received: s.tracker.Stats(),
	}
	if s.remote.IsValid() {
		r.Remote = s.remote.String()
	}
	return r
}

// drain makes the receive loop read everything that already arrived and
// end. A loaded machine's receive loop can lag the network by several
// packets; closing the socket at once would discard them, and the
// report would miss packets that did arrive. The peer has stopped
// sending by now (BYE), so nothing more is worth waiting for.
func (s *Session) drain() {
	s.draining.Store(true)
	if err := s.conn.SetReadDeadline(time.Now()); err != nil {
		return // already closed
	}
	<-s.recvDone
}

// readQueued reads, without blocking, every datagram the kernel still
// queues for the socket. The drain's read deadline alone is not enough:
// a goroutine scheduled after the deadline gets a timeout without the
// queued data ever being read.
func (s *Session) readQueued(buf, oob []byte, h *rtp.Header) {
	rc, err := s.conn.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		for {
			n, oobn, _, _, err := unix.Recvmsg(int(fd), buf, oob, unix.MSG_DONTWAIT)
			if err != nil {
				return // EAGAIN: nothing left
			}
			s.observe(h, buf[:n], oob[:oobn], time.Now())
		}
	})
}

// Close stops sending, drains and stops receiving, releases the socket
// and returns the final report. It is safe to call more than once.
func (s *Session) Close() Report {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	if !already {
		s.StopSending()
		s.drain()
	}
	s.cancel()
	s.wg.Wait()
	return s.Report()
}
