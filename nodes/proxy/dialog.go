package proxy

import (
	"fmt"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
)

// Requests inside a dialog (ACK for 2xx, BYE, others) follow the route set
// that our Record-Route put us in.

// Short names for the sipgo request builders the proxy uses.
var (
	clientRequestBuild  = sipgo.ClientRequestBuild
	clientRequestAddVia = sipgo.ClientRequestAddVia
)

func callIDOf(m interface{ CallID() *sip.CallIDHeader }) string {
	if h := m.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// sideOf is the side this proxy plays for a request's call.
func (p *Proxy) sideOf(c *call, req *sip.Request) flow.Side {
	if c != nil {
		return c.side
	}
	if p.fromPeerProxy(req) {
		return flow.Terminating
	}
	return flow.Originating
}

// onAck forwards the end-to-end ACK of a 2xx along the route set. The ACK
// of a non-2xx is hop-by-hop: sipgo absorbs it in the INVITE transaction,
// and a late one (no Route naming us) is dropped here, never forwarded.
func (p *Proxy) onAck(req *sip.Request, _ sip.ServerTransaction) {
	if !p.enter() {
		return
	}
	defer p.exit()
	callID := callIDOf(req)
	c := p.lookup(callID)
	side := p.sideOf(c, req)
	p.logSIP(nodes.Received, callID, side, "ACK", flow.InSetup(flow.SIPAck), false, req.Source())
	dest := ""
	if r := req.Route(); r == nil || !p.isSelf(r.Address) {
		// No Route naming us: the hop-by-hop ACK of a non-2xx (dropped),
		// or the ACK of a 2xx from a UA that ignored Record-Route (sipp's
		// built-in UAC), which still goes along the call's path.
		if dest = c.hopFor(req, true); dest == "" {
			p.log.Debug("hop-by-hop ACK dropped", "call", callID)
			return
		}
	}
	fwd, dest, err := p.prepare(req, dest)
	if err != nil {
		p.log.Warn("ACK not forwarded", "call", callID, "err", err)
		return
	}
	if err := p.write(fwd, hop{in: req.Transport(), addVia: true}); err != nil {
		p.log.Warn("ACK not forwarded", "call", callID, "err", err)
		return
	}
	p.logSIP(nodes.Sent, callID, side, "ACK", flow.InSetup(flow.SIPAck), false, dest)
}

// prepareInDialog clones a request that follows a route set and points it
// at its next hop.
func (p *Proxy) prepareInDialog(req *sip.Request) (*sip.Request, string, error) {
	return p.prepare(req, "")
}

// prepare clones a request for forwarding to dest, or along its route set
// when dest is "".
func (p *Proxy) prepare(req *sip.Request, dest string) (*sip.Request, string, error) {
	if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 {
		return nil, "", fmt.Errorf("proxy: Max-Forwards exhausted")
	}
	fwd := req.Clone()
	p.popSelfRoute(fwd)
	if dest == "" {
		var err error
		if dest, err = inDialogDest(fwd); err != nil {
			return nil, "", err
		}
	}
	if fwd.MaxForwards() == nil {
		mf := sip.MaxForwardsHeader(70)
		fwd.AppendHeader(&mf)
	}
	fwd.MaxForwards().Dec()
	fwd.SetDestination(dest)
	return fwd, dest, nil
}

// onBye forwards a BYE at once and releases the call's resources: the
// state machine says REQ noLDP, and the DRQ once everything is answered.
func (p *Proxy) onBye(req *sip.Request, tx sip.ServerTransaction) {
	if !p.enter() {
		return
	}
	defer p.exit()
	callID := callIDOf(req)
	c := p.lookup(callID)
	side := p.sideOf(c, req)
	byCallee := false
	if c != nil {
		tag := ""
		if f := req.From(); f != nil {
			tag, _ = f.Params.Get("tag")
		}
		byCallee = tag != c.fromTag
	}
	p.logSIP(nodes.Received, callID, side, "BYE", flow.InTeardown(flow.SIPBye), byCallee, req.Source())

	leg := &byeLeg{req: req}
	if c != nil {
		c.step(Event{Kind: EvBye, FromCaller: !byCallee}, leg)
	}
	if leg.clientTx == nil && leg.err == nil {
		// No call state (it ended already, or never crossed us): still a
		// proxy, so the BYE goes on along its route set.
		leg.clientTx, leg.dest, leg.err = p.sendTo(req, c.hopFor(req, false))
		if leg.err == nil {
			p.logSIP(nodes.Sent, callID, side, "BYE", noStep, byCallee, leg.dest)
		}
	}
	if leg.err != nil {
		p.reject(req, tx, side, 502, leg.err.Error())
	} else {
		p.relayFinal(req, tx, leg.clientTx, side, byCallee)
	}
	if c != nil {
		c.step(Event{Kind: EvByeFinal}, nil)
	}
}

// forwardBye is the ForwardBye action: send the BYE being stepped.
func (c *call) forwardBye() {
	leg := c.bye
	if leg == nil || leg.clientTx != nil {
		return
	}
	c.byCallee = c.byCallee || !leg.fromCaller(c)
	if c.releasedBy == flow.SideUnknown {
		c.releasedBy = flow.Terminating
		if leg.fromCaller(c) {
			c.releasedBy = flow.Originating
		}
	}
	leg.clientTx, leg.dest, leg.err = c.p.sendTo(leg.req, c.hopFor(leg.req, false))
	if leg.err == nil {
		c.p.logSIP(nodes.Sent, c.id, c.side, "BYE", flow.InTeardown(flow.SIPBye), !leg.fromCaller(c), leg.dest)
	}
}

func (l *byeLeg) fromCaller(c *call) bool {
	tag := ""
	if f := l.req.From(); f != nil {
		tag, _ = f.Params.Get("tag")
	}
	return tag == c.fromTag
}

// sendInDialog forwards a non-INVITE request along its route set in its
// own client transaction.
func (p *Proxy) sendInDialog(req *sip.Request) (sip.ClientTransaction, string, error) {
	return p.sendTo(req, "")
}

// sendTo forwards a non-INVITE request to dest (or along its route set).
func (p *Proxy) sendTo(req *sip.Request, dest string) (sip.ClientTransaction, string, error) {
	fwd, dest, err := p.prepare(req, dest)
	if err != nil {
		return nil, "", err
	}
	tx, err := p.send(fwd, hop{in: req.Transport(), addVia: true})
	if err != nil {
		return nil, "", fmt.Errorf("proxy: forward %s to %s: %w", req.Method, dest, err)
	}
	return tx, dest, nil
}

// relayFinal passes the responses of a forwarded non-INVITE request back
// until the final one; no answer at all becomes 408.
func (p *Proxy) relayFinal(req *sip.Request, tx sip.ServerTransaction, ctx sip.ClientTransaction, side flow.Side, byCallee bool) {
	defer ctx.Terminate()
	callID := callIDOf(req)
	for {
		select {
		case res := <-ctx.Responses():
			p.logSIP(nodes.Received, callID, side, fmt.Sprintf("%d %s", res.StatusCode, res.Reason), responseRef(req.Method, res.StatusCode), byCallee, res.Source())
			if res.StatusCode == 100 {
				continue
			}
			out := res.Clone()
			out.RemoveHeader("Via")
			out.SetDestination(req.Source())
			if err := tx.Respond(out); err != nil {
				p.log.Debug("relay response failed", "call", callID, "err", err)
			} else {
				p.logSIP(nodes.Sent, callID, side, fmt.Sprintf("%d %s", res.StatusCode, res.Reason), responseRef(req.Method, res.StatusCode), byCallee, req.Source())
			}
			if res.StatusCode >= 200 {
				return
			}
		case <-ctx.Done():
			p.reject(req, tx, side, 408, "no response downstream")
			return
		case <-p.ctx.Done():
			return
		}
	}
}

// onStrayCancel answers a CANCEL that matches no INVITE transaction (sipgo
// handles the ones that match, see onInvite).
func (p *Proxy) onStrayCancel(req *sip.Request, tx sip.ServerTransaction) {
	if !p.enter() {
		return
	}
	defer p.exit()
	p.logSIP(nodes.Received, callIDOf(req), p.sideOf(nil, req), "CANCEL", noStep, false, req.Source())
	p.reject(req, tx, p.sideOf(nil, req), 481, "no such transaction")
}

// onOther forwards any other request (OPTIONS, INFO, MESSAGE, ...) without
// policy: in a dialog along its route set, otherwise like an INVITE.
func (p *Proxy) onOther(req *sip.Request, tx sip.ServerTransaction) {
	if !p.enter() {
		return
	}
	defer p.exit()
	callID := callIDOf(req)
	side := p.sideOf(p.lookup(callID), req)
	p.logSIP(nodes.Received, callID, side, string(req.Method), noStep, false, req.Source())
	if req.CallID() == nil || req.From() == nil || req.To() == nil {
		p.reject(req, tx, side, 400, "missing Call-ID, From or To")
		return
	}
	dest, out := "", req // in a dialog: along the route set
	if r := req.Route(); r == nil || !p.isSelf(r.Address) {
		next, rerr := p.initialDest(req, side == flow.Terminating)
		if rerr != nil {
			p.reject(req, tx, side, rerr.status, rerr.why)
			return
		}
		dest = next.dest
		if next.target != nil {
			out = req.Clone()
			out.Recipient = *next.target
		}
	}
	ctx, dest, err := p.sendTo(out, dest)
	if err != nil {
		p.reject(req, tx, side, 502, err.Error())
		return
	}
	p.logSIP(nodes.Sent, callID, side, string(req.Method), noStep, false, dest)
	p.relayFinal(req, tx, ctx, side, false)
}

// hopFor is where an in-dialog request of this call goes when it does not
// carry our Route (its UA ignored Record-Route): along the path the INVITE
// took, downstream from the caller, upstream from the callee. "" means
// follow the request's own route set. ackOf2xx asks only for an ACK of a
// 2xx this proxy passed on.
func (c *call) hopFor(req *sip.Request, ackOf2xx bool) string {
	if c == nil {
		return ""
	}
	if r := req.Route(); r != nil && c.p.isSelf(r.Address) {
		return ""
	}
	if ackOf2xx {
		c.mu.Lock()
		answered := c.answered
		c.mu.Unlock()
		if answered == nil || req.CSeq() == nil || req.CSeq().SeqNo != c.invite.CSeq().SeqNo {
			return ""
		}
	}
	tag := ""
	if f := req.From(); f != nil {
		tag, _ = f.Params.Get("tag")
	}
	if tag == c.fromTag {
		return c.dest
	}
	return c.invite.Source()
}
