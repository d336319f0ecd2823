package pdp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/cops"
)

// proxyServer is the COPS PDP of the proxy leg (TCP 3288, client-type
// 0x5153): it accepts the proxy's connections, answers OPN with CAT, turns
// REQs and DRQs into machine events and sends the machine's DECs back on
// the connection the call came in on.
type proxyServer struct {
	ln      net.Listener
	kaTimer uint16 // seconds announced in CAT; 0 = no keep-alives
	post    func(input)
	log     *slog.Logger
	nameOf  func(netip.Addr) string
	now     func() time.Time

	mu    sync.Mutex
	conns map[uint64]*proxyConn
	next  uint64
	wg    sync.WaitGroup
}

// proxyConn is one accepted proxy connection.
type proxyConn struct {
	id   uint64
	c    net.Conn
	peer string
	wmu  sync.Mutex
}

// writeTimeout bounds one COPS write: a peer that stops reading must not
// stall the loop.
const writeTimeout = 2 * time.Second

// serve accepts connections until ctx ends; it returns once every
// connection goroutine has finished.
func (s *proxyServer) serve(ctx context.Context) error {
	defer s.wg.Wait()
	stop := context.AfterFunc(ctx, func() { s.ln.Close() })
	defer stop()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("pdp: accept on %s: %w", s.ln.Addr(), err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(ctx, c)
		}()
	}
}

// lookup returns the connection with id and its peer's name.
func (s *proxyServer) lookup(id uint64) (decisionSender, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pc := s.conns[id]
	if pc == nil {
		return nil, ""
	}
	return pc, pc.peer
}

func (s *proxyServer) handle(ctx context.Context, c net.Conn) {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()
	peer := c.RemoteAddr().String()
	if ap, err := netip.ParseAddrPort(peer); err == nil {
		if n := s.nameOf(ap.Addr().Unmap()); n != "" {
			peer = n
		}
	}
	pc := &proxyConn{c: c, peer: peer}
	log := s.log.With("peer", peer)
	r := bufio.NewReader(c)
	var buf []byte
	var m cops.Message

	// Handshake: the PEP opens with OPN for our client type.
	b, err := s.read(c, r, buf, 10*time.Second)
	if err != nil {
		log.Warn("proxy connection closed before OPN", "err", err)
		return
	}
	if err := m.Decode(b); err != nil {
		log.Warn("bad OPN from proxy", "err", err)
		pc.send(&cops.Message{Header: cops.Header{Op: cops.OpCC, ClientType: cops.ClientTypeSession}, Error: cops.Error{Code: cops.CodeOf(err)}})
		return
	}
	if m.Op != cops.OpOPN || m.ClientType != cops.ClientTypeSession {
		log.Warn("proxy did not open the session client-type", "op", m.Op.String(), "client_type", m.ClientType.String())
		pc.send(&cops.Message{Header: cops.Header{Op: cops.OpCC, ClientType: m.ClientType}, Error: cops.Error{Code: cops.ErrUnsupportedClient}})
		return
	}
	pepID := m.PEPID
	if err := pc.send(&cops.Message{Header: cops.Header{Op: cops.OpCAT, ClientType: cops.ClientTypeSession}, KATimer: s.kaTimer}); err != nil {
		log.Warn("sending CAT failed", "err", err)
		return
	}
	s.mu.Lock()
	s.next++
	pc.id = s.next
	s.conns[pc.id] = pc
	s.mu.Unlock()
	log.Info("proxy connected", "pep_id", pepID, "conn", pc.id)
	defer func() {
		s.mu.Lock()
		delete(s.conns, pc.id)
		s.mu.Unlock()
		// Every handle of this connection is gone (RFC 2748 2.5).
		s.post(input{ev: ProxyLost{Conn: pc.id, At: s.now()}})
	}()

	idle := time.Duration(s.kaTimer) * time.Second
	for {
		b, err := s.read(c, r, buf, idle)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, io.EOF) {
				log.Warn("proxy connection lost", "err", err)
			}
			if errors.As(err, new(*cops.ProtocolError)) {
				pc.send(&cops.Message{Header: cops.Header{Op: cops.OpCC, ClientType: cops.ClientTypeSession}, Error: cops.Error{Code: cops.CodeOf(err)}})
			}
			return
		}
		buf = b[:0]
		if err := m.Decode(b); err != nil {
			log.Warn("bad message from proxy", "err", err)
			pc.send(&cops.Message{Header: cops.Header{Op: cops.OpCC, ClientType: cops.ClientTypeSession}, Error: cops.Error{Code: cops.CodeOf(err)}})
			return
		}
		if !s.dispatch(pc, &m, log) {
			return
		}
	}
}

// read reads one message, with a deadline of idle when it is not zero.
func (s *proxyServer) read(c net.Conn, r *bufio.Reader, buf []byte, idle time.Duration) ([]byte, error) {
	if idle > 0 {
		c.SetReadDeadline(time.Now().Add(idle))
	} else {
		c.SetReadDeadline(time.Time{})
	}
	return cops.ReadMessage(r, buf, 0)
}

// dispatch handles one decoded message; false closes the connection.
func (s *proxyServer) dispatch(pc *proxyConn, m *cops.Message, log *slog.Logger) bool {
	key := CallKey{Conn: pc.id, Handle: uint32(m.Handle)}
	switch m.Op {
	case cops.OpREQ:
		ev, what, err := requestEvent(key, m, s.now())
		if err != nil {
			log.Warn("bad REQ from proxy", "handle", m.Handle, "err", err)
			pc.send(&cops.Message{Header: cops.Header{Op: cops.OpDEC, Flags: cops.FlagSolicited, ClientType: cops.ClientTypeSession},
				Handle: m.Handle, Error: cops.Error{Code: cops.CodeOf(err)}})
			return true
		}
		s.post(input{ev: ev, msg: &rxMessage{proto: "cops", what: what, peer: pc.peer}})
	case cops.OpDRQ:
		s.post(input{ev: Deleted{Key: key, At: s.now(), Reason: m.Reason.Code.String()},
			msg: &rxMessage{proto: "cops", what: "DRQ", peer: pc.peer}})
	case cops.OpKA:
		// The PEP's keep-alive: the PDP echoes it (RFC 2748 3.7).
		if err := pc.send(&cops.Message{Header: cops.Header{Op: cops.OpKA}}); err != nil {
			log.Warn("keep-alive echo failed", "err", err)
			return false
		}
	case cops.OpRPT:
		log.Debug("report from proxy", "handle", m.Handle, "type", m.ReportType)
	case cops.OpCC:
		log.Info("proxy closed the connection", "error", m.Error.Code.String())
		return false
	default:
		log.Warn("unexpected message from proxy", "op", m.Op.String())
	}
	return true
}

// requestEvent turns a REQ into a machine event and its log name.
func requestEvent(key CallKey, m *cops.Message, at time.Time) (Event, string, error) {
	kind := cops.KindOf(m.Context)
	var cs cops.Session
	if len(m.ClientSI) > 0 {
		if err := cs.Decode(m.ClientSI[0].Data); err != nil {
			return nil, "", err
		}
	}
	s := sessionFromCOPS(&cs)
	switch kind {
	case cops.KindAAA:
		return ReqAAA{Key: key, At: at, Session: s}, whatOf(flow.COPSReqAAA), nil
	case cops.KindLDP:
		return ReqLDP{Key: key, At: at, Media: s.Media, Alerting: cs.Alerting}, whatOf(flow.COPSReqLDP), nil
	case cops.KindNoLDP:
		return ReqNoLDP{Key: key, At: at}, whatOf(flow.COPSReqNoLDP), nil
	}
	return nil, "", fmt.Errorf("pdp: REQ with context %v is not AAA, LDP or noLDP", m.Context)
}

// sessionFromCOPS copies the wire session into the machine's type (the
// token is copied: the decoder's slices point into the read buffer).
func sessionFromCOPS(cs *cops.Session) Session {
	s := Session{
		CallID:    cs.CallID,
		Caller:    cs.Caller,
		Callee:    cs.Callee,
		Class:     cs.Class,
		Bandwidth: cs.Bandwidth,
	}
	switch cs.Side {
	case cops.SideOriginating:
		s.Side = Originating
	case cops.SideTerminating:
		s.Side = Terminating
	}
	if len(cs.Token) > 0 {
		s.Token = append([]byte(nil), cs.Token...)
	}
	for _, f := range cs.Media {
		s.Media = append(s.Media, MediaFlow{FromCaller: f.Dir == cops.Forward, Flow: Flow{Proto: f.Proto, Src: f.Src, Dst: f.Dst}})
	}
	return s
}

func copsKind(k ReqKind) cops.Kind {
	switch k {
	case KindAAA:
		return cops.KindAAA
	case KindLDP:
		return cops.KindLDP
	case KindNoLDP:
		return cops.KindNoLDP
	}
	return cops.KindUnknown
}

// sendDecision sends a solicited DEC on the call's handle. The session
// data carries the call id, the token (Install after AAA) and the result:
// 200 for Install, the refusal's status and reason for Remove.
func (pc *proxyConn) sendDecision(d SendDecision) error {
	cs := cops.Session{CallID: d.CallID, Token: d.Token, Reason: d.Reason, Result: uint16(d.Status)}
	cmd := cops.CommandRemove
	if d.Install {
		cmd = cops.CommandInstall
	}
	if cs.Result == 0 {
		cs.Result = 200
	}
	data, err := cs.AppendTo(nil)
	if err != nil {
		return fmt.Errorf("pdp: encode decision for %s: %w", d.CallID, err)
	}
	return pc.send(&cops.Message{
		Header:    cops.Header{Op: cops.OpDEC, Flags: cops.FlagSolicited, ClientType: cops.ClientTypeSession},
		Handle:    cops.Handle(d.Key.Handle),
		Decisions: []cops.Decision{{Context: copsKind(d.For).Context(), Command: cmd, ClientData: data}},
	})
}

// send encodes and writes one message.
func (pc *proxyConn) send(m *cops.Message) error {
	return writeMessage(&pc.wmu, pc.c, m)
}

// writeMessage encodes m and writes it under mu with a deadline.
func writeMessage(mu *sync.Mutex, c net.Conn, m *cops.Message) error {
	b, err := m.AppendTo(nil)
	if err != nil {
		return fmt.Errorf("pdp: encode %s: %w", m.Op, err)
	}
	mu.Lock()
	defer mu.Unlock()
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := c.Write(b); err != nil {
		return fmt.Errorf("pdp: write %s: %w", m.Op, err)
	}
	return nil
}
