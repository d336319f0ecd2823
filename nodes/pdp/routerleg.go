package pdp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/cops"
)

// routerLink is the policy server's side of the router leg (PacketCable
// Multimedia, client-type 0x800A, TCP 3918): it dials the router, answers
// the router's OPN with CAT, takes the handle of the router's configuration
// REQ, then sends gates as DECs on that handle and turns the router's RPTs
// into machine events. When the connection drops it reports RouterDown and
// dials again with backoff; the machine re-installs the gates of calls in
// progress on the RouterUp that follows.
type routerLink struct {
	addr    string // host:port of the router
	peer    string // router node name, for logs
	kaTimer uint16 // seconds announced in CAT
	post    func(input)
	log     *slog.Logger
	now     func() time.Time

	mu     sync.Mutex
	conn   net.Conn    // nil while disconnected
	handle cops.Handle // the router's REQ handle on conn
	wmu    sync.Mutex
}

// amid is the Application Manager ID qoslab's policy servers use.
var amid = cops.AMID{AppType: 0x5153, Tag: 1}

// run keeps the link up until ctx ends.
func (r *routerLink) run(ctx context.Context) {
	const minBackoff, maxBackoff = 50 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	for ctx.Err() == nil {
		err := r.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			r.log.Warn("router connection", "router", r.peer, "err", err, "retry_in", backoff)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		backoff = min(2*backoff, maxBackoff)
		if err == nil {
			backoff = minBackoff // a session that worked: retry quickly
		}
	}
}

// session dials once and serves the connection until it fails. It returns
// nil when an established session ended (the router went away).
func (r *routerLink) session(ctx context.Context) error {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", r.addr)
	if err != nil {
		return fmt.Errorf("pdp: dial router %s: %w", r.addr, err)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()
	br := bufio.NewReader(c)
	var m cops.Message
	var buf []byte

	// The router opens: OPN (PCMM), we accept with CAT, the router sends
	// its configuration REQ whose handle our DECs use.
	if buf, err = readWithin(c, br, buf, 5*time.Second); err != nil {
		return fmt.Errorf("pdp: router %s: waiting for OPN: %w", r.addr, err)
	}
	if err := m.Decode(buf); err != nil {
		return fmt.Errorf("pdp: router %s: OPN: %w", r.addr, err)
	}
	if m.Op != cops.OpOPN || m.ClientType != cops.ClientTypePCMM {
		writeMessage(&r.wmu, c, &cops.Message{Header: cops.Header{Op: cops.OpCC, ClientType: m.ClientType}, Error: cops.Error{Code: cops.ErrUnsupportedClient}})
		return fmt.Errorf("pdp: router %s opened with %s client-type %s, want OPN PCMM", r.addr, m.Op, m.ClientType)
	}
	pepID := m.PEPID
	if err := writeMessage(&r.wmu, c, &cops.Message{Header: cops.Header{Op: cops.OpCAT, ClientType: cops.ClientTypePCMM}, KATimer: r.kaTimer}); err != nil {
		return err
	}
	for {
		if buf, err = readWithin(c, br, buf[:0], 5*time.Second); err != nil {
			return fmt.Errorf("pdp: router %s: waiting for its REQ: %w", r.addr, err)
		}
		if err := m.Decode(buf); err != nil {
			return fmt.Errorf("pdp: router %s: %w", r.addr, err)
		}
		if m.Op == cops.OpREQ {
			break
		}
		if m.Op == cops.OpKA {
			writeMessage(&r.wmu, c, &cops.Message{Header: cops.Header{Op: cops.OpKA}})
		}
	}
	r.mu.Lock()
	r.conn, r.handle = c, m.Handle
	r.mu.Unlock()
	r.log.Info("router connected", "router", r.peer, "pep_id", pepID, "handle", m.Handle)
	r.post(input{ev: RouterUp{At: r.now()}})
	defer func() {
		r.mu.Lock()
		r.conn = nil
		r.mu.Unlock()
		r.post(input{ev: RouterDown{At: r.now()}})
	}()

	idle := time.Duration(r.kaTimer) * time.Second
	for {
		if buf, err = readWithin(c, br, buf[:0], idle); err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				r.log.Warn("router closed the connection", "router", r.peer)
				return nil
			}
			return fmt.Errorf("pdp: router %s: %w", r.addr, err)
		}
		if err := m.Decode(buf); err != nil {
			writeMessage(&r.wmu, c, &cops.Message{Header: cops.Header{Op: cops.OpCC, ClientType: cops.ClientTypePCMM}, Error: cops.Error{Code: cops.CodeOf(err)}})
			return fmt.Errorf("pdp: router %s: %w", r.addr, err)
		}
		switch m.Op {
		case cops.OpRPT:
			r.report(&m)
		case cops.OpKA:
			if err := writeMessage(&r.wmu, c, &cops.Message{Header: cops.Header{Op: cops.OpKA}}); err != nil {
				return err
			}
		case cops.OpCC:
			r.log.Warn("router closed the connection", "router", r.peer, "error", m.Error.Code.String())
			return nil
		case cops.OpDRQ:
			r.log.Warn("router deleted its handle", "router", r.peer, "reason", m.Reason.Code.String())
			return nil
		default:
			r.log.Debug("ignored message from router", "op", m.Op.String())
		}
	}
}

// report turns the router's RPT (a PCMM gate answer) into an event.
func (r *routerLink) report(m *cops.Message) {
	if len(m.ClientSI) == 0 {
		r.log.Warn("RPT from router without PCMM objects", "router", r.peer)
		return
	}
	var p cops.PCMM
	if err := p.Decode(m.ClientSI[0].Data); err != nil {
		r.log.Warn("bad PCMM objects from router", "router", r.peer, "err", err)
		return
	}
	at := r.now()
	var ev Event
	var what string
	switch p.Command {
	case cops.GateSetAck:
		ev, what = GateSetAcked{TransID: p.TransactionID, At: at, GateID: p.GateID}, whatOf(flow.GateSetAck)
	case cops.GateSetErr:
		ev, what = GateSetFailed{TransID: p.TransactionID, At: at, Reason: pcmmReason(&p)}, "RPT Gate-Set-Err"
	case cops.GateDeleteAck:
		ev, what = GateDeleteAcked{TransID: p.TransactionID, At: at,
			Counters: Counters{Packets: p.UsagePackets, Bytes: p.GateUsageInfo}}, whatOf(flow.GateDeleteAck)
	case cops.GateDeleteErr:
		ev, what = GateDeleteFailed{TransID: p.TransactionID, At: at, Reason: pcmmReason(&p)}, "RPT Gate-Delete-Err"
	case cops.GateInfoAck:
		ev, what = GateInfoAcked{TransID: p.TransactionID, At: at,
			Counters: Counters{Packets: p.UsagePackets, Bytes: p.GateUsageInfo}}, "RPT Gate-Info-Ack"
	case cops.GateInfoErr:
		ev, what = GateInfoFailed{TransID: p.TransactionID, At: at, Reason: pcmmReason(&p)}, "RPT Gate-Info-Err"
	case cops.GateCmdErr:
		ev, what = GateSetFailed{TransID: p.TransactionID, At: at, Reason: pcmmReason(&p)}, "RPT Gate-Cmd-Err"
	default:
		r.log.Debug("ignored PCMM report", "router", r.peer, "command", p.Command.String())
		return
	}
	r.post(input{ev: ev, msg: &rxMessage{proto: "cops", what: what, peer: r.peer}})
}

func pcmmReason(p *cops.PCMM) string {
	if p.Error.Code == 0 {
		return p.Command.String()
	}
	return fmt.Sprintf("%s (%d/%d)", p.Error.Code, uint16(p.Error.Code), p.Error.Subcode)
}

// sendGateSet sends a Gate-Set DEC: classifier for the media flow, Gate
// Spec marking its DSCP, and the granted rate as a flow-spec profile.
func (r *routerLink) sendGateSet(a SendGateSet) error {
	g := a.Gate
	p := cops.PCMM{
		TransactionID: a.TransID, Command: cops.GateSet,
		HasAMID: true, AMID: amid,
		SubscriberID: g.Classifier.Src.Addr(),
		HasGateSpec:  true,
		Classifiers: []cops.Classifier{{
			Proto: uint16(g.Classifier.Proto),
			Src:   g.Classifier.Src.Addr(), SrcPort: g.Classifier.Src.Port(),
			Dst: g.Classifier.Dst.Addr(), DstPort: g.Classifier.Dst.Port(),
			Priority: 64,
		}},
	}
	p.GateSpec.SetDSCP(g.DSCP)
	p.Opaque = callIDOpaque(a.CallID)
	if a.GateID != 0 {
		p.HasGateID, p.GateID = true, a.GateID
	}
	if g.Bandwidth > 0 {
		rate := float32(g.Bandwidth) / 8 // octets per second
		fs := cops.FlowSpecParams{TokenRate: rate, BucketSize: 3000, PeakRate: rate, MinPoliced: 64, MaxPacket: 1500, Rate: rate}
		p.TrafficProfile = cops.TrafficProfile{Kind: cops.ProfileFlowSpec, Envelope: 7, ServiceNumber: 2,
			FlowSpec: [3]cops.FlowSpecParams{fs, fs, fs}}
	}
	return r.sendDEC(cops.CommandInstall, &p)
}

// sendGateDelete sends a Gate-Delete DEC for a gate id.
func (r *routerLink) sendGateDelete(a SendGateDelete) error {
	p := cops.PCMM{
		TransactionID: a.TransID, Command: cops.GateDelete,
		HasAMID: true, AMID: amid,
		SubscriberID: a.Gate.Classifier.Src.Addr(),
		HasGateID:    true, GateID: a.GateID,
	}
	return r.sendDEC(cops.CommandRemove, &p)
}

// sendGateInfo asks for a gate's counters.
func (r *routerLink) sendGateInfo(a SendGateInfo) error {
	p := cops.PCMM{TransactionID: a.TransID, Command: cops.GateInfo, HasAMID: true, AMID: amid,
		HasGateID: true, GateID: a.GateID}
	return r.sendDEC(cops.CommandInstall, &p)
}

func (r *routerLink) sendDEC(cmd cops.Command, p *cops.PCMM) error {
	data, err := p.AppendTo(nil)
	if err != nil {
		return fmt.Errorf("pdp: encode %s: %w", p.Command, err)
	}
	r.mu.Lock()
	c, h := r.conn, r.handle
	r.mu.Unlock()
	if c == nil {
		return fmt.Errorf("pdp: %s to router %s: %w", p.Command, r.peer, errNotConnected)
	}
	return writeMessage(&r.wmu, c, &cops.Message{
		Header:    cops.Header{Op: cops.OpDEC, ClientType: cops.ClientTypePCMM},
		Handle:    h,
		Decisions: []cops.Decision{{Context: cops.Context{RType: cops.RTypeConfigure}, Command: cmd, ClientData: data}},
	})
}

// readWithin reads one COPS message with a deadline (none if d is 0).
func readWithin(c net.Conn, r *bufio.Reader, buf []byte, d time.Duration) ([]byte, error) {
	if d > 0 {
		c.SetReadDeadline(time.Now().Add(d))
	} else {
		c.SetReadDeadline(time.Time{})
	}
	return cops.ReadMessage(r, buf, 0)
}

// callIDOpaque is the Opaque Data body that tells the router which SIP call
// a gate belongs to (for its logs): the Call-ID as text, NUL-padded to a
// multiple of 4 octets. nil when the Call-ID cannot travel that way (empty,
// longer than 256 octets, or not printable ASCII without spaces).
func callIDOpaque(id string) []byte {
	if id == "" || len(id) > 256 {
		return nil
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return nil
		}
	}
	b := make([]byte, (len(id)+3)/4*4)
	copy(b, id)
	return b
}
