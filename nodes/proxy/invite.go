package proxy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/qoslab/qoslab/nodes"
)

// TokenHeader carries the OSP token from proxy to proxy (the header
// OSP-aware proxies use).
const TokenHeader = "P-OSP-Auth-Token"

// maxForwardSize is the largest request the proxy forwards over UDP: sipgo
// refuses datagrams above UDPMTUSize-200, and the proxy adds a Via and a
// Record-Route (about 150 bytes). Larger requests get 513.
// It is read at each request, not at init: the node's main may raise
// sip.UDPMTUSize (OSP tokens make INVITEs ~2.5 kB; IP fragments carry them).
func maxForwardSize() int { return sip.UDPMTUSize - 200 - 200 }

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
	side := Originating
	if p.fromPeerProxy(req) {
		side = Terminating
	}
	p.logSIP(nodes.Received, callID, side, "INVITE", "INVITE", false, req.Source())

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
	dest, err := p.initialDest(req, side == Terminating)
	if err != nil {
		p.reject(req, tx, side, 416, err.Error())
		return
	}

	c := p.newCall(callID, side, req, tx, offer, dest)
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
	case len(req.String()) > maxForwardSize():
		return 513, fmt.Sprintf("request larger than %d bytes", maxForwardSize())
	}
	ct := req.ContentType()
	if len(req.Body()) == 0 || ct == nil || !strings.EqualFold(strings.TrimSpace(strings.Split(ct.Value(), ";")[0]), "application/sdp") {
		return 488, "INVITE carries no SDP offer"
	}
	return 0, ""
}

// reject answers a request the proxy will not forward.
func (p *Proxy) reject(req *sip.Request, tx sip.ServerTransaction, side Side, status int, why string) {
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
	p.logSIP(nodes.Sent, callID, side, what, "", false, req.Source())
	p.log.Info("request rejected", "call", callID, "method", req.Method, "status", status, "why", why)
}

func reasonPhrase(status int) string {
	switch status {
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 408:
		return "Request Timeout"
	case 416:
		return "Unsupported URI Scheme"
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

// forwardInvite sends the held INVITE downstream with the granted token.
// It returns the event to feed back when it cannot be sent.
func (c *call) forwardInvite(token string) *Event {
	p := c.p
	fwd := c.invite.Clone()
	fwd.RemoveHeader(TokenHeader)
	if token != "" {
		fwd.AppendHeader(sip.NewHeader(TokenHeader, token))
	}
	p.popSelfRoute(fwd)
	if fwd.MaxForwards() == nil {
		mf := sip.MaxForwardsHeader(70)
		fwd.AppendHeader(&mf)
	}
	fwd.MaxForwards().Dec()
	fwd.SetDestination(c.dest)
	tx, err := p.cli.TransactionRequest(p.ctx, fwd, p.forwardOptions(true)...)
	if err != nil {
		status, reason := 502, "cannot forward INVITE"
		if errors.Is(err, sip.ErrUDPMTUCongestion) {
			status, reason = 513, "request too large for UDP"
		}
		p.log.Warn("forward INVITE failed", "call", c.id, "to", c.dest, "err", err)
		return &Event{Kind: EvTxGone, Status: status, Reason: reason}
	}
	c.fwd, c.fwdTx = fwd, tx
	p.logSIP(nodes.Sent, c.id, c.side, "INVITE", "INVITE", false, c.dest)
	p.goOwned(func() { c.readResponses(tx) })
	return nil
}

// forwardOptions builds a forwarded request: our Via on top, and for an
// INVITE our Record-Route so that the dialog's requests cross us.
// ClientRequestBuild goes first: with WithClientConnectionAddr it makes the
// request leave from the proxy's bound address.
func (p *Proxy) forwardOptions(recordRoute bool) []sipgoOption {
	opts := []sipgoOption{clientRequestBuild}
	if recordRoute {
		opts = append(opts, clientRequestAddRecordRoute)
	}
	return append(opts, clientRequestAddVia)
}

// readResponses feeds the downstream INVITE transaction's responses to the
// call until the transaction ends. 100 Trying is hop-by-hop: not passed on.
func (c *call) readResponses(tx sip.ClientTransaction) {
	p := c.p
	tx.OnRetransmission(func(res *sip.Response) {
		// A retransmitted 2xx: the caller may have lost it, pass it on.
		if res.IsSuccess() {
			c.response(res)
		}
	})
	gotFinal := false
	for {
		select {
		case res := <-tx.Responses():
			if res.StatusCode == 100 {
				p.logSIP(nodes.Received, c.id, c.side, "100 Trying", "", false, res.Source())
				continue
			}
			if res.StatusCode >= 200 {
				gotFinal = true
			}
			c.response(res)
		case <-tx.Done():
			if !gotFinal {
				c.step(Event{Kind: EvTxGone}, nil)
			}
			return
		}
	}
}

// response hands one downstream response to the call.
func (c *call) response(res *sip.Response) {
	what := fmt.Sprintf("%d", res.StatusCode)
	c.p.logSIP(nodes.Received, c.id, c.side, fmt.Sprintf("%d %s", res.StatusCode, res.Reason), what, false, res.Source())
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
