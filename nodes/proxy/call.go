package proxy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/nodes/sipstack"
	"github.com/qoslab/qoslab/protocol/cops"
)

// call is the I/O side of one call on this proxy: the SIP transactions and
// COPS handle around the pure state machine sm. Events go in through step,
// which runs the machine and carries out its actions under mu, so the
// actions of one call never interleave (held responses leave in order).
type call struct {
	p      *Proxy
	id     string // Call-ID
	side   flow.Side
	handle uint32   // COPS handle of this call and side
	dest   string   // next hop of the INVITE
	target *sip.Uri // new Request-URI (a registered contact), nil to keep it

	invite   *sip.Request          // as received
	inviteTx sip.ServerTransaction // upstream
	final    chan struct{}         // closed once upstream has a final response
	once     sync.Once             //
	fromTag  string                // caller's From tag: tells who sends a BYE

	mu     sync.Mutex
	sm     Call
	asked  bool // a REQ went out on the handle
	offer  media
	answer media
	// answerStatus is the status of the first response that carried the
	// SDP answer: a 18x means the callee is being alerted when LDP is asked.
	answerStatus int
	token        string                // OSP token granted for this call
	fwd          *sip.Request          // the INVITE as forwarded
	fwdTx        sip.ClientTransaction // downstream
	fwdTransport string                // the transport fwd took
	wire         *sipstack.Responses   // fwd's responses in wire order
	stopWire     func()                // stop queueing them
	resps        map[int]*sip.Response // responses not yet forwarded, by id
	nextResp     int
	answered     *sip.Response // the 2xx the caller got (for a teardown)
	byCallee     bool          // the callee sent the BYE
	releasedBy   flow.Side     // whose BYE came first (flow.Originating: the caller's)
	bye          *byeLeg       // BYE being stepped (set only inside step)
}

// byeLeg is one BYE crossing the proxy.
type byeLeg struct {
	req      *sip.Request
	clientTx sip.ClientTransaction // set when forwarded
	dest     string
	err      error // forwarding failed
}

func (p *Proxy) newCall(callID string, side flow.Side, req *sip.Request, tx sip.ServerTransaction, offer media, next nextHop) *call {
	c := &call{
		p: p, id: callID, side: side, dest: next.dest, target: next.target,
		invite: req, inviteTx: tx, final: make(chan struct{}),
		offer: offer, resps: map[int]*sip.Response{},
		handle: p.nextHandle.Add(1),
	}
	if f := req.From(); f != nil {
		c.fromTag, _ = f.Params.Get("tag")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.calls[callID]; dup {
		return nil
	}
	p.calls[callID] = c
	p.byHandle[c.handle] = c
	return c
}

// markFinal records that upstream has its final response.
func (c *call) markFinal() { c.once.Do(func() { close(c.final) }) }

// step feeds one event to the state machine and carries out the actions.
// Actions that fail to send turn into further events, fed in the same way.
func (c *call) step(ev Event, bye *byeLeg) {
	if c.p.ctx.Err() != nil {
		return // shutting down: send nothing more
	}
	c.mu.Lock()
	c.bye = bye
	queue := []Event{ev}
	for len(queue) > 0 {
		ev := queue[0]
		queue = queue[1:]
		for _, a := range c.sm.Step(ev) {
			if next := c.exec(a); next != nil {
				queue = append(queue, *next)
			}
		}
	}
	c.bye = nil
	done := c.sm.Done()
	c.mu.Unlock()
	if done {
		c.p.forget(c)
	}
}

// exec carries out one action; c.mu is held.
func (c *call) exec(a Action) *Event {
	p := c.p
	switch a.Kind {
	case ActSendREQ:
		c.sendREQ(a.Req, a.Token)
	case ActForwardInvite:
		c.token = a.Token
		return c.forwardInvite(a.Token)
	case ActHoldResponse:
		// Kept in c.resps until the LDP decision.
		p.log.Debug("response held for policy", "call", c.id, "resp", a.Resp)
	case ActForwardResponse:
		c.forwardResponse(a.Resp)
	case ActRespond:
		c.respond(a.Status, a.Reason, a.RetryAfter)
	case ActForwardCancel:
		c.cancelDownstream()
	case ActAbortDownstream:
		if res := c.resps[a.Resp]; a.Resp != 0 && res != nil {
			c.byeDownstream(res, true)
		} else {
			c.cancelDownstream()
		}
		clear(c.resps)
	case ActForwardBye:
		c.forwardBye()
	case ActTearDown:
		c.tearDown(a.Reason)
	case ActSendDRQ:
		c.sendDRQ()
	}
	return nil
}

// session is what the PDP learns with a REQ of the given kind: the
// ClientSI of the REQ (protocol/cops/session.go). token is the
// P-OSP-Auth-Token that came with the INVITE, if any.
func (c *call) session(kind cops.Kind, token string) cops.Session {
	s := cops.Session{CallID: c.id, Side: c.side}
	if token != "" {
		s.Token = tokenBytes(token)
	}
	if f := c.invite.From(); f != nil {
		s.Caller = f.Address.String()
	}
	if t := c.invite.To(); t != nil {
		s.Callee = t.Address.String()
	}
	if kind != cops.KindAAA {
		s.Media = flows(c.offer, c.answer)
		s.Bandwidth = g711Kbps * 1000
		s.Alerting = kind == cops.KindLDP && c.answerStatus >= 180 && c.answerStatus < 200
		if kind == cops.KindNoLDP {
			s.ReleasedBy = c.releasedBy
		}
		if len(s.Media) > 0 {
			s.Class = "EF" // G.711 voice: expedited forwarding (DSCP 46)
		}
	}
	return s
}

// sendREQ asks the PDP on a goroutine; its answer comes back as an event.
func (c *call) sendREQ(kind cops.Kind, token string) {
	p := c.p
	sess := c.session(kind, token)
	c.asked = true
	p.logCOPS(nodes.Sent, c.id, c.side, "REQ "+kind.String(), reqRef(kind))
	p.goOwned(func() {
		ctx, cancel := context.WithTimeout(p.ctx, p.cfg.PolicyTimeout)
		defer cancel()
		dec, err := p.policy.Request(ctx, c.handle, kind, sess)
		switch {
		case p.ctx.Err() != nil:
			return // shutting down
		case errors.Is(err, context.DeadlineExceeded) && errors.Is(err, errNoPDP):
			p.log.Warn("no policy server", "call", c.id, "req", kind.String(), "after", p.cfg.PolicyTimeout)
			c.step(Event{Kind: EvPDPLost, Reason: ReasonPDPUnreachable}, nil)
		case errors.Is(err, context.DeadlineExceeded):
			p.log.Warn("policy decision timed out", "call", c.id, "req", kind.String(), "after", p.cfg.PolicyTimeout)
			c.step(Event{Kind: EvPolicyTimeout, Req: kind}, nil)
		case err != nil:
			p.log.Warn("policy request failed", "call", c.id, "req", kind.String(), "err", err)
			c.step(Event{Kind: EvPDPLost, Reason: ReasonPDPLost}, nil)
		default:
			what := "DEC Remove"
			ev := Event{Kind: EvDecRemove, Req: kind, Reason: dec.Reason, Status: dec.Status}
			if dec.Install {
				what = "DEC Install"
				ev = Event{Kind: EvDecInstall, Req: kind, Token: dec.Token}
			}
			p.logCOPS(nodes.Received, c.id, c.side, what, decRef(kind))
			c.step(ev, nil)
		}
	})
}

// sendDRQ deletes the call's handle.
func (c *call) sendDRQ() {
	p := c.p
	if !c.asked {
		return // no REQ ever went out
	}
	p.logCOPS(nodes.Sent, c.id, c.side, "DRQ", noStep)
	p.goOwned(func() {
		if err := p.policy.Delete(c.handle); err != nil {
			p.log.Warn("DRQ not sent", "call", c.id, "err", err)
		}
	})
}

// forwardResponse passes a downstream response upstream without our Via.
func (c *call) forwardResponse(id int) {
	res := c.resps[id]
	if res == nil {
		return
	}
	delete(c.resps, id)
	out := res.Clone()
	out.RemoveHeader("Via")
	// A parsed response remembers where it arrived (us): send it back to
	// where the request came from instead (RFC 3261 18.2.2, RFC 3581).
	out.SetDestination(c.invite.Source())
	// Logged before sending: the next hop's answer can be logged before
	// Respond returns.
	c.p.logSIP(nodes.Sent, c.id, c.side, fmt.Sprintf("%d %s", res.StatusCode, res.Reason),
		responseRef(sip.INVITE, res.StatusCode), false, c.invite.Source())
	if err := c.inviteTx.Respond(out); err != nil {
		// The caller's transaction is gone (it cancelled): nothing to tell it.
		c.p.log.Warn("forward response failed", "call", c.id, "status", res.StatusCode, "err", err)
		return
	}
	if res.StatusCode >= 200 {
		if res.IsSuccess() {
			c.answered = res
		}
		c.markFinal()
	}
}

// respond answers the INVITE from the proxy itself: a refusal (403 with a
// Reason, RFC 3326), PDP trouble (503 with Retry-After), 487, 408, 5xx.
func (c *call) respond(status int, reason string, retryAfter int) {
	res := sip.NewResponseFromRequest(c.invite, status, reasonPhrase(status), nil)
	if reason = publicReason(status, reason); reason != "" {
		res.AppendHeader(sip.NewHeader("Reason", fmt.Sprintf("SIP ;cause=%d ;text=%q", status, reason)))
	}
	if retryAfter > 0 {
		res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(retryAfter)))
	}
	err := c.inviteTx.Respond(res)
	c.markFinal()
	if err != nil {
		c.p.log.Debug("respond failed", "call", c.id, "status", status, "err", err)
		return
	}
	c.p.logSIP(nodes.Sent, c.id, c.side, fmt.Sprintf("%d %s", status, reasonPhrase(status)), noStep, false, c.invite.Source())
}

// cancelDownstream sends CANCEL for the forwarded INVITE (RFC 3261 9.1:
// same Request-URI, Call-ID, From, To, CSeq number and top Via).
func (c *call) cancelDownstream() {
	if c.fwd == nil {
		return
	}
	p := c.p
	cancel := sip.NewRequest(sip.CANCEL, c.fwd.Recipient)
	cancel.AppendHeader(sip.HeaderClone(c.fwd.Via()))
	for _, name := range []string{"Route"} {
		for _, h := range c.fwd.GetHeaders(name) {
			cancel.AppendHeader(sip.HeaderClone(h))
		}
	}
	cancel.AppendHeader(sip.HeaderClone(c.fwd.From()))
	cancel.AppendHeader(sip.HeaderClone(c.fwd.To()))
	cancel.AppendHeader(sip.HeaderClone(c.fwd.CallID()))
	cancel.AppendHeader(&sip.CSeqHeader{SeqNo: c.fwd.CSeq().SeqNo, MethodName: sip.CANCEL})
	mf := sip.MaxForwardsHeader(70)
	cancel.AppendHeader(&mf)
	cancel.SetDestination(c.dest)
	// The CANCEL carries the INVITE's Via as is, and takes its transport.
	tx, err := p.send(cancel, hop{transport: c.fwdTransport})
	if err != nil {
		p.log.Warn("CANCEL failed", "call", c.id, "err", err)
		return
	}
	p.logSIP(nodes.Sent, c.id, c.side, "CANCEL", noStep, false, c.dest)
	p.goOwned(func() { drain(tx) })
}

// drain waits for a transaction the proxy started and does not relay.
func drain(tx sip.ClientTransaction) {
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.StatusCode >= 200 {
				return
			}
		case <-tx.Done():
			return
		}
	}
}

// maxReasonText bounds the text of a Reason header the proxy sends.
const maxReasonText = 100

// publicReason is what the caller is told of why: a refusal's reason as
// policy gave it, but for a 5xx (the policy server could not decide) only
// its summary, the text before the first ": " of an error chain. URLs,
// addresses and library errors stay in the node logs. Control characters
// go, and the text is cut at maxReasonText.
func publicReason(status int, reason string) string {
	if status >= 500 {
		reason, _, _ = strings.Cut(reason, ": ")
	}
	reason = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.TrimSpace(reason))
	if len(reason) > maxReasonText {
		reason = strings.ToValidUTF8(reason[:maxReasonText], "")
	}
	return reason
}
