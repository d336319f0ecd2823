package proxy

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/emiago/sipgo/sip"
)

// Routing (RFC 3261 16.4-16.6, loose routing only): a request whose top
// Route names this proxy loses that entry; if Route entries remain the
// request goes to the first one, otherwise to the Request-URI. An initial
// INVITE on the caller's side goes to the peer proxy.

// isSelf says whether a URI names this proxy's SIP address.
func (p *Proxy) isSelf(u sip.Uri) bool {
	port := u.Port
	if port == 0 {
		port = 5060
	}
	a, err := netip.ParseAddr(u.Host)
	return err == nil && a == p.cfg.Self.Addr() && port == int(p.cfg.Self.Port())
}

// popSelfRoute removes this proxy's entries from the top of the Route
// set: one, or two when it record-routed twice (RFC 5658).
func (p *Proxy) popSelfRoute(req *sip.Request) {
	for r := req.Route(); r != nil && p.isSelf(r.Address); r = req.Route() {
		req.RemoveHeader("Route")
	}
}

// uriAddr is where a URI points (host must be an IP: the lab has no DNS).
func uriAddr(u sip.Uri) (string, error) {
	if _, err := netip.ParseAddr(u.Host); err != nil {
		return "", fmt.Errorf("proxy: %q is not an IP address", u.Host)
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	return u.Host + ":" + strconv.Itoa(port), nil
}

// inDialogDest is the next hop of a request that follows a route set
// (ACK for 2xx, BYE, anything with a To tag), after popSelfRoute.
func inDialogDest(req *sip.Request) (string, error) {
	if r := req.Route(); r != nil {
		return uriAddr(r.Address)
	}
	return uriAddr(req.Recipient)
}

// fromPeerProxy says whether a request arrived from the peer proxy, which
// makes this proxy the terminating side.
func (p *Proxy) fromPeerProxy(req *sip.Request) bool {
	if !p.cfg.Peer.IsValid() {
		return false
	}
	src, err := netip.ParseAddrPort(req.Source())
	return err == nil && src.Addr() == p.cfg.Peer.Addr()
}

// initialDest is the next hop of an initial INVITE. The originating side
// sends it to the peer proxy unless the callee is local; the terminating
// side sends it to the Request-URI.
func (p *Proxy) initialDest(req *sip.Request, terminating bool) (string, error) {
	if r := nextRoute(p, req); r != nil {
		return uriAddr(*r) // pre-loaded route beyond us: obey it
	}
	if !terminating && p.cfg.Peer.IsValid() {
		if a, err := netip.ParseAddr(req.Recipient.Host); err != nil || !p.cfg.Local[a] {
			return p.cfg.Peer.String(), nil
		}
	}
	return uriAddr(req.Recipient)
}

// nextRoute is the first Route entry below this proxy's own at the top (a
// UA with this proxy as outbound proxy pre-loads it as the top Route).
func nextRoute(p *Proxy, req *sip.Request) *sip.Uri {
	for _, h := range req.GetHeaders("Route") {
		if r, ok := h.(*sip.RouteHeader); ok && !p.isSelf(r.Address) {
			return &r.Address
		}
	}
	return nil
}
