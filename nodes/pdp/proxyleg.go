package pdp

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/cops"
	"github.com/qoslab/qoslab/protocol/copsconn"
)

// proxyServer is the policy server's side of the proxy leg (TCP 3288,
// client-type 0x5153), a PDP of the COPS connection layer: it turns REQs
// and DRQs into machine events and sends the machine's DECs back on the
// connection the call came in on. A lost connection ends its calls.
type proxyServer struct {
	ln      net.Listener
	kaTimer uint16 // keep-alive timer in seconds; 0 = no keep-alives
	post    func(input)
	log     *slog.Logger
	nameOf  func(netip.Addr) string
	now     func() time.Time

	mu    sync.Mutex
	conns map[uint64]*proxyConn
	ids   map[*copsconn.Conn]*proxyConn
	next  uint64
}

// proxyConn is one proxy connection; id names it in CallKeys.
type proxyConn struct {
	id   uint64
	c    *copsconn.Conn
	peer string
}

// serve accepts proxies until ctx ends; it returns once every connection
// has ended.
func (s *proxyServer) serve(ctx context.Context) error {
	return copsconn.Serve(ctx, s.ln, copsconn.Config{
		Role: copsconn.PDP, ClientType: cops.ClientTypeSession, KATimer: s.kaTimer, Log: s.log,
		OnOpen: s.opened, OnMessage: s.received, OnClose: s.closed,
	})
}

func (s *proxyServer) opened(c *copsconn.Conn) {
	peer := c.Peer().Addr.String()
	if n := s.nameOf(c.Peer().Addr.Addr()); n != "" {
		peer = n
	}
	s.mu.Lock()
	s.next++
	pc := &proxyConn{id: s.next, c: c, peer: peer}
	s.conns[pc.id], s.ids[c] = pc, pc
	s.mu.Unlock()
	s.log.Info("proxy connected", "peer", peer, "pep_id", c.Peer().PEPID, "conn", pc.id)
}

// closed drops every handle of the connection (RFC 2748 2.5).
func (s *proxyServer) closed(c *copsconn.Conn, err error) {
	s.mu.Lock()
	pc := s.ids[c]
	delete(s.ids, c)
	delete(s.conns, pc.id)
	s.mu.Unlock()
	s.post(input{ev: ProxyLost{Conn: pc.id, At: s.now()}})
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

// received turns a REQ or DRQ into an event. A REQ whose session data the
// machine cannot take is answered at once with a DEC carrying the Error
// object; the connection and its other calls go on.
func (s *proxyServer) received(c *copsconn.Conn, m *cops.Message) {
	s.mu.Lock()
	pc := s.ids[c]
	s.mu.Unlock()
	key := CallKey{Conn: pc.id, Handle: uint32(m.Handle)}
	switch m.Op {
	case cops.OpREQ:
		ev, what, err := requestEvent(key, m, s.now())
		if err != nil {
			s.log.Warn("bad REQ from proxy", "peer", pc.peer, "handle", m.Handle, "err", err)
			c.Send(&cops.Message{Header: cops.Header{Op: cops.OpDEC, Flags: cops.FlagSolicited},
				Handle: m.Handle, Error: cops.Error{Code: cops.CodeOf(err)}})
			return
		}
		s.post(input{ev: ev, msg: &rxMessage{proto: "cops", what: what, peer: pc.peer}})
	case cops.OpDRQ:
		s.post(input{ev: Deleted{Key: key, At: s.now(), Reason: m.Reason.Code.String()},
			msg: &rxMessage{proto: "cops", what: "DRQ", peer: pc.peer}})
	default:
		s.log.Debug("message from proxy", "peer", pc.peer, "msg", m.String())
	}
}

// requestEvent turns a REQ into a machine event and its log name.
func requestEvent(key CallKey, m *cops.Message, at time.Time) (Event, string, error) {
	kind := cops.KindOf(m.Context)
	var cs cops.Session
	if len(m.ClientSI) == 0 {
		return nil, "", cops.Errorf(cops.ErrMandatoryClientSI, "REQ without session information")
	}
	if err := cs.Decode(m.ClientSI[0].Data); err != nil {
		return nil, "", err
	}
	// The decoder's slices point into the read buffer: the token is copied.
	cs.Token = bytes.Clone(cs.Token)
	switch kind {
	case cops.KindAAA:
		return ReqAAA{Key: key, At: at, Session: cs}, whatOf(flow.COPSReqAAA), nil
	case cops.KindLDP:
		return ReqLDP{Key: key, At: at, Media: cs.Media, Alerting: cs.Alerting}, whatOf(flow.COPSReqLDP), nil
	case cops.KindNoLDP:
		return ReqNoLDP{Key: key, At: at, ReleasedBy: cs.ReleasedBy}, whatOf(flow.COPSReqNoLDP), nil
	}
	return nil, "", fmt.Errorf("pdp: REQ with context %v is not AAA, LDP or noLDP", m.Context)
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
	return pc.c.Send(&cops.Message{
		Header:    cops.Header{Op: cops.OpDEC, Flags: cops.FlagSolicited},
		Handle:    cops.Handle(d.Key.Handle),
		Decisions: []cops.Decision{{Context: d.For.Context(), Command: cmd, ClientData: data}},
	})
}
