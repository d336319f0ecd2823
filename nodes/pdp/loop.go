package pdp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/protocol/cops"
)

// The driver needs three things from the outside world. They are declared
// here, on the consumer's side, so that the loop does not depend on the
// shape of the COPS and OSP packages and so that tests can run it against
// any implementation.

// Clearinghouse authorises calls and takes their usage: the OSP client of
// the clearinghouse, or the local policy and usage store when the policy
// server runs without one.
type Clearinghouse interface {
	// Authorize returns the answer to an AuthorizationRequest for s. A
	// refusal is an answer with a non-2xx Status; an error means no answer
	// could be had (the call then fails closed).
	Authorize(ctx context.Context, s cops.Session) (AuthAnswered, error)
	// ReportUsage delivers r; nil means the receiver has it durably.
	ReportUsage(ctx context.Context, r UsageRecord) error
	// OnWire is false when no OSP message goes on the wire (no-clearinghouse
	// mode); the driver then does not log OSP messages.
	OnWire() bool
}

// decisionSender sends DECs on the proxy connection a call came in on.
type decisionSender interface {
	sendDecision(d SendDecision) error
}

// gateSender sends PCMM gate commands to the router. They fail at once
// when the router is not connected; the answer, or the lack of one in
// time, comes back as an input.
type gateSender interface {
	sendGateSet(a SendGateSet) error
	sendGateDelete(a SendGateDelete) error
	sendGateInfo(a SendGateInfo) error
}

// input is one event for the loop, with the protocol message that carried
// it (nil for events the driver makes up itself: timeouts, failures).
type input struct {
	ev  Event
	msg *rxMessage
}

// rxMessage says what arrived from whom, for the message log.
type rxMessage struct {
	proto, what, peer string
}

// loop owns the Machine: one goroutine takes inputs, steps the machine and
// performs its actions. Slow work (OSP exchanges, delayed usage deliveries)
// runs in goroutines the loop starts and waits for; they report back as
// inputs.
type loop struct {
	log     *slog.Logger
	m       *Machine
	ch      Clearinghouse
	chName  string
	spool   *Spool
	gates   *GateBook
	proxies func(conn uint64) (decisionSender, string) // sender and peer name of a proxy connection
	router  gateSender
	rtrName string
	now     func() time.Time

	in  chan input
	ctx context.Context
	wg  sync.WaitGroup
}

func newLoop(ctx context.Context, l *loop) *loop {
	l.ctx = ctx
	l.in = make(chan input, 64)
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// post hands an input to the loop; it gives up when the loop is stopping.
func (l *loop) post(in input) {
	select {
	case l.in <- in:
	case <-l.ctx.Done():
	}
}

// run steps the machine until ctx ends, then waits for the goroutines it
// started. It fails only when the spool cannot be written: then no DEC may
// be sent, and the node must stop rather than lose usage.
func (l *loop) run(resume []UsageRecord, leftGates []uint32) error {
	defer l.wg.Wait()
	if len(leftGates) > 0 {
		l.log.Info("deleting gates a previous run left on the router", "gates", len(leftGates))
		if err := l.step(input{ev: GatesLoaded{IDs: leftGates}}); err != nil {
			return err
		}
	}
	if len(resume) > 0 {
		l.log.Info("resuming usage spool", "records", len(resume))
		if err := l.step(input{ev: SpoolLoaded{Records: resume}}); err != nil {
			return err
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return nil
		case now := <-tick.C:
			if err := l.step(input{ev: Tick{At: now}}); err != nil {
				return err
			}
		case in := <-l.in:
			if err := l.step(in); err != nil {
				return err
			}
		}
	}
}

// step logs a received message, feeds its event to the machine and
// performs the actions.
func (l *loop) step(in input) error {
	if in.msg != nil {
		call, lbl := l.m.Describe(in.ev)
		l.logMsg(nodes.Received, in.msg.proto, in.msg.what, call, lbl, in.msg.peer)
	}
	for _, a := range l.m.Step(in.ev) {
		if err := l.do(a); err != nil {
			return err
		}
	}
	return nil
}

// do performs one action.
func (l *loop) do(a Action) error {
	switch a := a.(type) {
	case SendAuthRequest:
		l.authorize(a)
	case SendDecision:
		s, peer := l.proxies(a.Key.Conn)
		if s == nil {
			l.log.Warn("no proxy connection for a decision", "call", a.CallID, "handle", a.Key.String())
			return nil
		}
		what := whatOf(flow.COPSDecRemove)
		if a.Install {
			what = whatOf(flow.COPSDecInstall)
		}
		if err := s.sendDecision(a); err != nil {
			// The reader of that connection sees it die and reports
			// ProxyLost; nothing else to do here.
			l.log.Warn("sending decision failed", "call", a.CallID, "err", err)
			return nil
		}
		l.logMsg(nodes.Sent, "cops", what, a.CallID, a.Label, peer)
	case SendGateSet:
		if err := l.router.sendGateSet(a); err != nil {
			l.log.Warn("Gate-Set not sent", "call", a.CallID, "err", err)
			return l.step(input{ev: GateSetFailed{TransID: a.TransID, At: l.now(), Reason: err.Error(), NoAnswer: true}})
		}
		l.logMsg(nodes.Sent, "cops", whatOf(flow.GateSet), a.CallID, a.Label, l.rtrName)
	case SendGateDelete:
		if err := l.router.sendGateDelete(a); err != nil {
			l.log.Warn("Gate-Delete not sent", "call", a.CallID, "err", err)
			return l.step(input{ev: GateDeleteFailed{TransID: a.TransID, At: l.now(), Reason: err.Error(), NoAnswer: true}})
		}
		l.logMsg(nodes.Sent, "cops", whatOf(flow.GateDelete), a.CallID, a.Label, l.rtrName)
	case SendGateInfo:
		if err := l.router.sendGateInfo(a); err != nil {
			return l.step(input{ev: GateInfoFailed{TransID: a.TransID, At: l.now(), Reason: err.Error()}})
		}
		l.logMsg(nodes.Sent, "cops", "DEC Gate-Info", a.CallID, Label{}, l.rtrName)
	case SpoolUsage:
		// Durable before the DEC that follows: a failure here stops the
		// node rather than answer the proxy with a record at risk.
		if err := l.spool.Put(context.WithoutCancel(l.ctx), a.Record); err != nil {
			return err
		}
		r := a.Record
		l.log.Info("usage", "call", r.CallID, "record", r.ID, "transaction", r.TransactionID,
			"start", r.Start, "connect", r.Connect, "end", r.End, "duration", r.Duration.String(),
			"packets", r.Packets, "bytes", r.Bytes, "counters_lost", r.CountersLost, "reason", r.Reason)
	case SendUsage:
		l.deliver(a)
	case Unspool:
		// Off the loop: the delete's fsync must not delay the next
		// decision, and nothing waits for it.
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			if err := l.spool.Delete(context.WithoutCancel(l.ctx), a.RecordID); err != nil {
				// The record is confirmed; a leftover row is re-sent on
				// the next start and dropped as a duplicate by the
				// receiver.
				l.log.Error("unspool failed", "record", a.RecordID, "err", err)
			}
		}()
	case RecordGate:
		// A failure only risks a gate left behind after a restart: log it,
		// do not stop the call.
		if err := l.gates.Put(context.WithoutCancel(l.ctx), a.GateID, a.CallID); err != nil {
			l.log.Error("gate book", "err", err)
		}
	case ForgetGate:
		if err := l.gates.Delete(context.WithoutCancel(l.ctx), a.GateID); err != nil {
			l.log.Error("gate book", "err", err)
		}
	case Warn:
		l.log.Warn(a.Msg, "call", a.CallID)
	default:
		return fmt.Errorf("pdp: unknown action %T", a)
	}
	return nil
}

// authorize asks the clearinghouse in a goroutine; the answer comes back
// as an input.
func (l *loop) authorize(a SendAuthRequest) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		ans, err := l.ch.Authorize(l.ctx, a.Session)
		if l.ch.OnWire() && onWire(err) {
			l.logMsg(nodes.Sent, "osp", whatOf(flow.OSPAuthReq), a.Session.CallID, a.Label, l.chName)
		}
		if err != nil {
			if l.ctx.Err() != nil {
				return
			}
			l.post(input{ev: AuthFailed{Key: a.Key, At: l.now(), Err: err.Error()}})
			return
		}
		ans.Key, ans.At = a.Key, l.now()
		in := input{ev: ans}
		if l.ch.OnWire() {
			in.msg = &rxMessage{proto: "osp", what: whatOf(flow.OSPAuthResp), peer: l.chName}
		}
		l.post(in)
	}()
}

// deliver sends a usage record after its delay, in a goroutine.
func (l *loop) deliver(a SendUsage) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if a.Delay > 0 {
			t := time.NewTimer(a.Delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-l.ctx.Done():
				return // still in the spool: the next run sends it
			}
		}
		err := l.ch.ReportUsage(l.ctx, a.Record)
		if l.ch.OnWire() && onWire(err) {
			l.logMsg(nodes.Sent, "osp", whatOf(flow.OSPUsageInd), a.Record.CallID, a.Label, l.chName)
		}
		if err != nil {
			if l.ctx.Err() != nil {
				return
			}
			l.log.Warn("usage delivery failed", "record", a.Record.ID, "err", err)
			l.post(input{ev: UsageFailed{RecordID: a.Record.ID, At: l.now(), Err: err.Error()}})
			return
		}
		in := input{ev: UsageConfirmed{RecordID: a.Record.ID, At: l.now()}}
		if l.ch.OnWire() {
			in.msg = &rxMessage{proto: "osp", what: whatOf(flow.OSPUsageConf), peer: l.chName}
		}
		l.post(in)
	}()
}

func (l *loop) logMsg(dir, proto, what, call string, lbl Label, peer string) {
	m := nodes.Message{Dir: dir, Proto: proto, What: what, CallID: call, Peer: peer}
	if lbl.Step != 0 {
		m.Flow, m.Step = string(lbl.Phase), lbl.Step
	}
	nodes.LogMessage(l.log, m)
}

// whatOf names a flow step's message the way the logs do ("DEC Gate-Set"
// for flow.GateSet): the flow.Kind without its protocol prefix.
func whatOf(k flow.Kind) string {
	s := string(k)
	for _, p := range []string{"COPS ", "OSP ", "SIP "} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}

// errNotConnected is returned by a leg that has no connection.
var errNotConnected = errors.New("pdp: not connected")

// onWire tells whether a request that ended with err was sent at all: the
// message log must list only what a capture can show, and a clearinghouse
// that refuses the connection never saw the request.
func onWire(err error) bool {
	var op *net.OpError
	return !errors.As(err, &op) || op.Op != "dial"
}
