package proxy

import (
	"fmt"

	"github.com/emiago/sipgo/sip"

	"github.com/qoslab/qoslab/nodes"
)

// When policy ends a call the UAs think is up (PDP lost mid-call, LDP
// refused after the callee answered) the proxy itself sends BYE, built from
// the dialog it saw: the 2xx's Contact and tags and the Record-Route set
// split at our own entry (entries above us lead to the callee, entries
// below to the caller).

// routeSplit returns the route sets from this proxy towards the callee and
// towards the caller, from the Record-Route of a 2xx.
func (p *Proxy) routeSplit(res *sip.Response) (toCallee, toCaller []sip.Uri) {
	var rr []sip.Uri
	for _, h := range res.GetHeaders("Record-Route") {
		if r, ok := h.(*sip.RecordRouteHeader); ok {
			rr = append(rr, r.Address)
		}
	}
	self := -1
	for i, u := range rr {
		if p.isSelf(u) {
			self = i
			break
		}
	}
	if self < 0 {
		return nil, nil
	}
	for i := self - 1; i >= 0; i-- {
		toCallee = append(toCallee, rr[i])
	}
	return toCallee, rr[self+1:]
}

// inDialogRequest builds a request of the dialog the proxy saw, sent to
// target through route.
func inDialogRequest(method sip.RequestMethod, target sip.Uri, route []sip.Uri, from *sip.FromHeader, to *sip.ToHeader, callID *sip.CallIDHeader, seq uint32) (*sip.Request, string, error) {
	req := sip.NewRequest(method, target)
	for _, u := range route {
		req.AppendHeader(&sip.RouteHeader{Address: u})
	}
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	dest, err := inDialogDest(req)
	if err != nil {
		return nil, "", err
	}
	req.SetDestination(dest)
	return req, dest, nil
}

// byeDownstream ends the callee's side of a call whose 2xx (res) the
// caller never got or will no longer use; ack first when the proxy holds
// that 2xx (the callee waits for an ACK).
func (c *call) byeDownstream(res *sip.Response, ack bool) {
	p := c.p
	contact := res.Contact()
	if contact == nil || c.fwd == nil {
		p.log.Warn("cannot end callee leg: no Contact in 2xx", "call", c.id)
		return
	}
	toCallee, _ := p.routeSplit(res)
	from := sip.HeaderClone(c.fwd.From()).(*sip.FromHeader)
	to := sip.HeaderClone(res.To()).(*sip.ToHeader)
	callID := sip.HeaderClone(c.fwd.CallID()).(*sip.CallIDHeader)
	seq := c.fwd.CSeq().SeqNo
	if ack {
		req, dest, err := inDialogRequest(sip.ACK, contact.Address, toCallee, from, to, callID, seq)
		if err == nil {
			err = p.write(req, hop{})
		}
		if err != nil {
			p.log.Warn("ACK to callee failed", "call", c.id, "err", err)
		} else {
			p.logSIP(nodes.Sent, c.id, c.side, "ACK", noStep, false, dest)
		}
	}
	req, dest, err := inDialogRequest(sip.BYE, contact.Address, toCallee,
		sip.HeaderClone(from).(*sip.FromHeader), sip.HeaderClone(to).(*sip.ToHeader), sip.HeaderClone(callID).(*sip.CallIDHeader), seq+1)
	c.sendOwn(req, dest, err)
}

// tearDown ends an established call on both sides.
func (c *call) tearDown(reason string) {
	p := c.p
	p.log.Warn("ending call without policy", "call", c.id, "reason", reason)
	if c.answered == nil {
		return
	}
	c.byeDownstream(c.answered, false)
	contact := c.invite.Contact()
	if contact == nil {
		p.log.Warn("cannot end caller leg: no Contact in INVITE", "call", c.id)
		return
	}
	_, toCaller := p.routeSplit(c.answered)
	from := c.answered.To().AsFrom()
	to := c.invite.From().AsTo()
	req, dest, err := inDialogRequest(sip.BYE, contact.Address, toCaller, &from, &to,
		sip.HeaderClone(c.invite.CallID()).(*sip.CallIDHeader), c.invite.CSeq().SeqNo+1)
	if err == nil {
		req.AppendHeader(sip.NewHeader("Reason", fmt.Sprintf("SIP ;cause=503 ;text=%q", publicReason(503, reason))))
	}
	c.sendOwn(req, dest, err)
}

// sendOwn sends a request the proxy originates and drains its answer.
func (c *call) sendOwn(req *sip.Request, dest string, err error) {
	p := c.p
	if err == nil {
		var tx sip.ClientTransaction
		if tx, err = p.send(req, hop{}); err == nil {
			p.logSIP(nodes.Sent, c.id, c.side, string(req.Method), noStep, false, dest)
			p.goOwned(func() { drain(tx) })
			return
		}
	}
	p.log.Warn("proxy-originated request failed", "call", c.id, "method", req.Method, "err", err)
}
