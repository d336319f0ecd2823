package proxy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
)

// The proxy is the registrar of its own domain (RFC 3261 section 10.3):
// the user agents of its site REGISTER their address-of-record with it,
// and an INVITE for that domain goes to the contact they registered.

// ownDomain says whether host is this proxy's domain (or its own address,
// which a UA may use as its registrar's URI).
func (p *Proxy) ownDomain(host string) bool {
	if p.cfg.Domain != "" && strings.EqualFold(host, p.cfg.Domain) {
		return true
	}
	return host == p.cfg.Self.Addr().String()
}

// onRegister handles a REGISTER for this proxy's domain.
func (p *Proxy) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	if !p.enter() {
		return
	}
	defer p.exit()
	callID := callIDOf(req)
	p.logSIP(nodes.Received, callID, flow.Originating, "REGISTER", noStep, false, req.Source())
	status, why, contacts := p.register(req)
	res := sip.NewResponseFromRequest(req, status, reasonPhrase(status), nil)
	if status == 200 {
		for _, b := range contacts {
			c := &sip.ContactHeader{Address: b.Contact, Params: sip.NewParams()}
			c.Params.Add("expires", strconv.Itoa(int(b.Expires.Sub(p.reg.now()).Seconds()+0.5)))
			res.AppendHeader(c)
		}
	} else {
		res.AppendHeader(sip.NewHeader("Warning", fmt.Sprintf("399 qoslab-proxy %q", why)))
	}
	if status == 423 {
		res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(MinExpires)))
	}
	if err := tx.Respond(res); err != nil {
		p.log.Warn("respond to REGISTER failed", "call", callID, "err", err)
		return
	}
	p.logSIP(nodes.Sent, callID, flow.Originating, fmt.Sprintf("%d %s", status, reasonPhrase(status)), noStep, false, req.Source())
	if status == 200 {
		p.log.Info("registered", "aor", req.To().Address.Addr(), "contacts", len(contacts))
	} else {
		p.log.Info("registration refused", "call", callID, "status", status, "why", why)
	}
}

// register applies a REGISTER to the location service (10.3 steps 1-8).
func (p *Proxy) register(req *sip.Request) (int, string, []binding) {
	to := req.To()
	switch {
	case p.cfg.Domain == "":
		return 403, "no registrar here: the proxy has no domain", nil
	case !p.ownDomain(req.Recipient.Host):
		return 404, "not the registrar of " + req.Recipient.Host, nil
	case to == nil || to.Address.User == "" || !strings.EqualFold(to.Address.Host, p.cfg.Domain):
		return 404, "the address-of-record is not in " + p.cfg.Domain, nil
	case req.CallID() == nil || req.CSeq() == nil:
		return 400, "missing Call-ID or CSeq", nil
	}
	aor := to.Address
	def := DefaultExpires
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || n < 0 {
			return 400, "bad Expires", nil
		}
		def = n
	}
	callID, cseq := req.CallID().Value(), req.CSeq().SeqNo
	var updates []struct {
		uri     sip.Uri
		expires int
	}
	for _, h := range req.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			return 400, "bad Contact", nil
		}
		if c.Address.Wildcard {
			if def != 0 || len(req.GetHeaders("Contact")) != 1 {
				return 400, "Contact: * needs Expires: 0 and no other contact", nil
			}
			p.reg.clear(aor)
			return 200, "", nil
		}
		exp := def
		if v, ok := c.Params.Get("expires"); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return 400, "bad expires parameter", nil
			}
			exp = n
		}
		if exp > 0 && exp < MinExpires {
			return 423, "registration too brief", nil
		}
		updates = append(updates, struct {
			uri     sip.Uri
			expires int
		}{c.Address, min(exp, MaxExpires)})
	}
	for _, u := range updates {
		p.reg.update(aor, u.uri, u.expires, callID, cseq)
	}
	return 200, "", p.reg.lookup(aor)
}
