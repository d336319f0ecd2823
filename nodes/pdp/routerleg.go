package pdp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/cops"
	"github.com/qoslab/qoslab/protocol/copsconn"
)

// routerLink is the policy server's side of the router leg (PacketCable
// Multimedia, client-type 0x800A, TCP 3918), a PDP of the COPS connection
// layer that dials the router and dials again with backoff when the
// connection drops. It sends the machine's gate commands and turns the
// router's answers into events: the layer matches them to their command by
// Transaction ID and gives up on one after gateTimeout; a late answer still
// comes as an event (the machine deletes a gate nobody waits for). The
// connection's end is RouterDown (the commands waiting on it are the
// machine's to fail), a new connection RouterUp.
type routerLink struct {
	addr        string // host:port of the router
	peer        string // router node name, for logs
	kaTimer     uint16 // keep-alive timer in seconds
	gateTimeout time.Duration
	post        func(input)
	log         *slog.Logger
	now         func() time.Time
	client      *copsconn.Client
	up          chan struct{} // closed at the first connection
	once        sync.Once
}

// amid is the Application Manager ID qoslab's policy servers use.
var amid = cops.AMID{AppType: 0x5153, Tag: 1}

// connect prepares the link's connection; run then keeps it up.
func (r *routerLink) connect() {
	if r.gateTimeout <= 0 {
		r.gateTimeout = 3 * time.Second
	}
	r.up = make(chan struct{})
	r.client = copsconn.NewClient(r.addr, copsconn.Config{
		Role: copsconn.PDP, ClientType: cops.ClientTypePCMM, KATimer: r.kaTimer, Log: r.log,
		OnOpen: func(c *copsconn.Conn) {
			r.log.Info("router connected", "router", r.peer, "pep_id", c.Peer().PEPID)
			r.post(input{ev: RouterUp{At: r.now()}})
			r.once.Do(func() { close(r.up) })
		},
		OnClose: func(c *copsconn.Conn, err error) {
			r.log.Warn("router connection ended", "router", r.peer, "err", err)
			r.post(input{ev: RouterDown{At: r.now()}})
		},
		OnMessage: func(c *copsconn.Conn, m *cops.Message) {
			switch m.Op {
			case cops.OpRPT:
				r.answer(m)
			case cops.OpDRQ:
				// The router dropped its handle: a new connection brings
				// a new one.
				r.log.Warn("router deleted its handle", "router", r.peer, "reason", m.Reason.Code.String())
				c.Close()
			}
		},
	})
	// The router usually starts with the policy server: try again soon.
	r.client.MinBackoff = 10 * time.Millisecond
}

// run keeps the link up until ctx ends.
func (r *routerLink) run(ctx context.Context) error { return r.client.Run(ctx) }

// answer turns an RPT that no command waits for any more into an event.
func (r *routerLink) answer(m *cops.Message) {
	var p cops.PCMM
	if len(m.ClientSI) == 0 || p.Decode(m.ClientSI[0].Data) != nil {
		r.log.Warn("RPT from router without readable PCMM objects", "router", r.peer)
		return
	}
	r.reply(p)
}

// reply turns the router's answer to a gate command into an event.
func (r *routerLink) reply(p cops.PCMM) {
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

// send sends a gate command; its answer, or the lack of one within
// gateTimeout (noAnswer), comes back as an event.
func (r *routerLink) send(p *cops.PCMM, noAnswer func() Event) error {
	c := r.client.Conn()
	if c == nil {
		return fmt.Errorf("pdp: %s to router %s: %w", p.Command, r.peer, errNotConnected)
	}
	return c.StartGate(p, r.gateTimeout, func(reply cops.PCMM, err error) {
		switch {
		case err == nil, errors.As(err, new(*copsconn.GateError)):
			r.reply(reply)
		case errors.Is(err, copsconn.ErrTimeout):
			r.post(input{ev: noAnswer()})
		}
		// Lost with the connection: RouterDown tells the machine.
	})
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
	return r.send(&p, func() Event {
		return GateSetFailed{TransID: a.TransID, At: r.now(), Reason: "router did not answer the Gate-Set", NoAnswer: true}
	})
}

// sendGateDelete sends a Gate-Delete DEC for a gate id.
func (r *routerLink) sendGateDelete(a SendGateDelete) error {
	p := cops.PCMM{
		TransactionID: a.TransID, Command: cops.GateDelete,
		HasAMID: true, AMID: amid,
		SubscriberID: a.Gate.Classifier.Src.Addr(),
		HasGateID:    true, GateID: a.GateID,
	}
	return r.send(&p, func() Event {
		return GateDeleteFailed{TransID: a.TransID, At: r.now(), Reason: "router did not answer the Gate-Delete", NoAnswer: true}
	})
}

// sendGateInfo asks for a gate's counters.
func (r *routerLink) sendGateInfo(a SendGateInfo) error {
	p := cops.PCMM{TransactionID: a.TransID, Command: cops.GateInfo, HasAMID: true, AMID: amid,
		HasGateID: true, GateID: a.GateID}
	return r.send(&p, func() Event {
		return GateInfoFailed{TransID: a.TransID, At: r.now(), Reason: "router did not answer the Gate-Info"}
	})
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
