package proxy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/nodes/sipstack"
)

// TokenHeader carries the OSP token from proxy to proxy (the header
// OSP-aware proxies use).
const TokenHeader = "P-OSP-Auth-Token"

// onInvite handles an initial INVITE: validate, then hand it to a new call
// whose state machine holds it until the PDP decides. sipgo requires the
// handler to stay until the transaction has its final response.
func (p *Proxy) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if !p.enter() {
		return
	}
	defer p.exit()
	callID := ""
	if h := req.CallID(); h != nil {
		callID = h.Value()
	}
	side := flow.Originating
	if p.fromPeerProxy(req) {
		side = flow.Terminating
	}
	p.logSIP(nodes.Received, callID, side, "INVITE", flow.InSetup(flow.SIPInvite), false, req.Source())

	if status, why := validateInvite(req); status != 0 {
		p.reject(req, tx, side, status, why)
		return
	}
	if to := req.To(); to != nil && to.Params.Has("tag") {
		// A re-INVITE would change media without a new policy decision.
		p.reject(req, tx, side, 501, "re-INVITE not supported by the policy proxy")
		return
	}
	offer, err := parseMedia(req.Body())
	if err != nil {
		if errors.Is(err, errNotAcceptable) {
			p.reject(req, tx, side, 488, err.Error())
		} else {
			p.reject(req, tx, side, 400, err.Error())
		}
		return
	}
	next, rerr := p.initialDest(req, side == flow.Terminating)
	if rerr != nil {
		p.reject(req, tx, side, rerr.status, rerr.why)
		return
	}

	c := p.newCall(callID, side, req, tx, offer, next)
	if c == nil {
		p.reject(req, tx, side, 482, "call already in progress (loop)")
		return
	}
	tx.OnCancel(func(*sip.Request) {
		// sipgo has answered 200 to the CANCEL and 487 to the INVITE; the
		// callback runs inside its FSM, so step on another goroutine.
		c.markFinal()
		p.goOwned(func() { c.step(Event{Kind: EvCancel}, nil) })
	})
	token := ""
	if h := req.GetHeader(TokenHeader); h != nil {
		token = h.Value()
	}
	c.step(Event{Kind: EvInvite, Token: token}, nil)

	select {
	case <-c.final:
	case <-tx.Done():
		c.step(Event{Kind: EvTxGone}, nil)
	case <-p.ctx.Done():
	}
}

// validateInvite checks what the proxy relies on; sipgo already refuses
// requests without Via or CSeq.
func validateInvite(req *sip.Request) (int, string) {
	switch {
	case req.CallID() == nil || req.CallID().Value() == "":
		return 400, "missing Call-ID"
	case req.From() == nil:
		return 400, "missing From"
	case req.To() == nil:
		return 400, "missing To"
	case req.Recipient.Host == "":
		return 400, "missing Request-URI host"
	case req.MaxForwards() != nil && req.MaxForwards().Val() == 0:
		return 483, "Max-Forwards exhausted"
	}
	ct := req.ContentType()
	if len(req.Body()) == 0 || ct == nil || !strings.EqualFold(strings.TrimSpace(strings.Split(ct.Value(), ";")[0]), "application/sdp") {
		return 488, "INVITE carries no SDP offer"
	}
	return 0, ""
}

// reject answers a request the proxy will not forward.
func (p *Proxy) reject(req *sip.Request, tx sip.ServerTransaction, side flow.Side, status int, why string) {
	res := sip.NewResponseFromRequest(req, status, reasonPhrase(status), nil)
	if why != "" {
		res.AppendHeader(sip.NewHeader("Warning", fmt.Sprintf("399 qoslab-proxy %q", why)))
	}
	callID := ""
	if h := req.CallID(); h != nil {
		callID = h.Value()
	}
	if err := tx.Respond(res); err != nil {
		p.log.Warn("respond failed", "call", callID, "status", status, "err", err)
	}
	what := fmt.Sprintf("%d %s", status, reasonPhrase(status))
	p.logSIP(nodes.Sent, callID, side, what, noStep, false, req.Source())
	p.log.Info("request rejected", "call", callID, "method", req.Method, "status", status, "why", why)
}

func reasonPhrase(status int) string {
	switch status {
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 407:
		return "Proxy Authentication Required"
	case 408:
		return "Request Timeout"
	case 416:
		return "Unsupported URI Scheme"
	case 423:
		return "Interval Too Brief"
	case 480:
		return "Temporarily Unavailable"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 482:
		return "Loop Detected"
	case 483:
		return "Too Many Hops"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 500:
		return "Server Internal Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 513:
		return "Message Too Large"
	}
	return "Error"
}

// forwardInvite sends the held INVITE downstream, with the granted token
// when the next hop is the peer proxy: the terminating proxy never passes
// P-OSP-Auth-Token on to the callee. It returns the event to feed back
// when the INVITE cannot be sent.
func (c *call) forwardInvite(token string) *Event {
	p := c.p
	fwd := c.invite.Clone()
	fwd.RemoveHeader(TokenHeader)
	if token != "" && c.side == flow.Originating {
		fwd.AppendHeader(sip.NewHeader(TokenHeader, token))
	}
	p.popSelfRoute(fwd)
	if c.target != nil {
		fwd.Recipient = *c.target // the contact the callee registered (RFC 3261 16.5)
	}
	if fwd.MaxForwards() == nil {
		mf := sip.MaxForwardsHeader(70)
		fwd.AppendHeader(&mf)
	}
	fwd.MaxForwards().Dec()
	fwd.SetDestination(c.dest)
	tp, err := p.finish(fwd, hop{in: c.invite.Transport(), recordRoute: true, addVia: true})
	var tx sip.ClientTransaction
	if err == nil {
		// Watch before sending: the first response can come back before
		// TransactionRequest returns.
		c.wire = sipstack.NewResponses()
		stop := p.st.Watch(sipstack.Branch(fwd), c.wire.Push)
		if tx, err = p.cli.TransactionRequest(p.ctx, fwd, prebuilt); err != nil {
			stop()
		} else {
			c.stopWire = stop
		}
	}
	if err != nil {
		p.log.Warn("forward INVITE failed", "call", c.id, "to", c.dest, "err", err)
		return &Event{Kind: EvTxGone, Status: 502, Reason: "cannot forward INVITE"}
	}
	c.fwd, c.fwdTx, c.fwdTransport = fwd, tx, tp
	p.logSIP(nodes.Sent, c.id, c.side, "INVITE", flow.InSetup(flow.SIPInvite), false, c.dest)
	wire := c.wire
	p.goOwned(func() { c.readResponses(tx, wire) })
	return nil
}

// readResponses feeds the downstream INVITE's responses to the call until
// its transaction ends, in the order they came off the wire: sipgo hands
// each message to a goroutine of its own, so its transaction may see a
// 200 before the 180 read just ahead of it, and then drops the 180 (the
// provisional-loss of issue 13). The transaction is still drained (it
// blocks until read) and still says when it is over; only its copy of a
// final response is used, and only if the wire order never showed one (a
// final over TCP can end the transaction before it is queued here).
// 100 Trying is hop-by-hop: not passed on; provisional retransmissions are
// absorbed, 2xx retransmissions passed on (the caller may have lost one).
func (c *call) readResponses(tx sip.ClientTransaction, wire *sipstack.Responses) {
	p := c.p
	defer c.stopWire()
	var seen respSeen
	var txFinal *sip.Response
	for {
		select {
		case <-wire.Ready():
			for _, res := range wire.Take() {
				seen.handle(c, res)
			}
		case res := <-tx.Responses():
			if res.StatusCode >= 200 && txFinal == nil {
				txFinal = res
			}
		case <-tx.Done():
			for _, res := range wire.Take() {
				seen.handle(c, res)
			}
			switch {
			case seen.final:
			case txFinal != nil:
				seen.handle(c, txFinal)
			default:
				c.step(Event{Kind: EvTxGone}, nil)
			}
			return
		case <-p.ctx.Done():
			return
		}
	}
}

// respSeen is what readResponses has passed on already.
type respSeen struct {
	final       bool            // a final response went to the call
	provisional map[string]bool // status and To tag of each 1xx
}

func (s *respSeen) handle(c *call, res *sip.Response) {
	switch {
	case res.StatusCode == 100:
		c.p.logSIP(nodes.Received, c.id, c.side, "100 Trying", noStep, false, res.Source())
	case res.IsProvisional():
		tag := ""
		if to := res.To(); to != nil {
			tag, _ = to.Params.Get("tag")
		}
		k := fmt.Sprintf("%d %s", res.StatusCode, tag)
		if s.provisional[k] || s.final {
			return // a retransmission, or late
		}
		if s.provisional == nil {
			s.provisional = map[string]bool{}
		}
		s.provisional[k] = true
		c.response(res)
	case res.IsSuccess():
		s.final = true
		c.response(res) // the first 2xx, or a retransmission of it
	default:
		if s.final {
			return // a retransmitted refusal: sipgo's transaction ACKs it
		}
		s.final = true
		c.response(res)
	}
}

// response hands one downstream response to the call.
func (c *call) response(res *sip.Response) {
	c.p.logSIP(nodes.Received, c.id, c.side, fmt.Sprintf("%d %s", res.StatusCode, res.Reason), responseRef(sip.INVITE, res.StatusCode), false, res.Source())
	ev := Event{Kind: EvResponse, Status: res.StatusCode}
	if len(res.Body()) > 0 && res.StatusCode >= 180 && res.StatusCode < 300 {
		if ans, err := parseMedia(res.Body()); err == nil {
			ev.SDP = true
			c.mu.Lock()
			c.answer = ans
			if c.answerStatus == 0 {
				c.answerStatus = res.StatusCode
			}
			c.mu.Unlock()
		} else {
			c.p.log.Warn("unusable SDP answer", "call", c.id, "status", res.StatusCode, "err", err)
			// A 2xx still triggers LDP (with the offer's side only); an
			// 18x without a usable answer is passed on as a plain 18x.
		}
	}
	c.mu.Lock()
	c.nextResp++
	ev.Resp = c.nextResp
	c.resps[ev.Resp] = res
	c.mu.Unlock()
	c.step(ev, nil)
}
