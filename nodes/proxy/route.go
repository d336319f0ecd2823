package proxy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

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

// fromPeerProxy says whether a request arrived from a peer proxy (the
// default peer or one of the routing table's), which makes this proxy the
// terminating side.
func (p *Proxy) fromPeerProxy(req *sip.Request) bool {
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return false
	}
	if p.cfg.Peer.IsValid() && src.Addr() == p.cfg.Peer.Addr() {
		return true
	}
	for _, peer := range p.cfg.Routes {
		if src.Addr() == peer.Addr() {
			return true
		}
	}
	return false
}

// nextHop is where an initial request goes: dest (host:port), and target,
// the Request-URI it takes there when the location service retargets it.
type nextHop struct {
	dest   string
	target *sip.Uri
}

// routeError is a request the proxy cannot route: the status it answers.
type routeError struct {
	status int
	why    string
}

// initialDest is the next hop of an initial request (RFC 3261 16.5, with
// a static table instead of RFC 3263 lookups):
//   - a pre-loaded Route beyond this proxy is obeyed;
//   - a Request-URI in this proxy's domain goes to the contact its
//     address-of-record registered (the Request-URI becomes that
//     contact), 480 when none is registered;
//   - a Request-URI in another domain goes to that domain's proxy from
//     the routing table, 404 for a domain the table does not know;
//   - a Request-URI naming an address (the lab without domains) goes to
//     the default peer proxy on the originating side unless the address
//     is local, otherwise to the address itself.
func (p *Proxy) initialDest(req *sip.Request, terminating bool) (nextHop, *routeError) {
	if r := nextRoute(p, req); r != nil {
		dest, err := uriAddr(*r) // pre-loaded route beyond us: obey it
		if err != nil {
			return nextHop{}, &routeError{416, err.Error()}
		}
		return nextHop{dest: dest}, nil
	}
	host := req.Recipient.Host
	if a, err := netip.ParseAddr(host); err == nil {
		if !terminating && p.cfg.Peer.IsValid() && !p.cfg.Local[a] && a != p.cfg.Self.Addr() {
			return nextHop{dest: p.cfg.Peer.String()}, nil
		}
		dest, _ := uriAddr(req.Recipient)
		return nextHop{dest: dest}, nil
	}
	if p.ownDomain(host) {
		bs := p.reg.lookup(req.Recipient)
		if len(bs) == 0 {
			return nextHop{}, &routeError{480, req.Recipient.User + "@" + host + " is not registered"}
		}
		contact := bs[len(bs)-1].Contact // the newest registration
		dest, err := uriAddr(contact)
		if err != nil {
			return nextHop{}, &routeError{480, "registered contact: " + err.Error()}
		}
		return nextHop{dest: dest, target: &contact}, nil
	}
	if peer, ok := p.cfg.Routes[strings.ToLower(host)]; ok {
		return nextHop{dest: peer.String()}, nil
	}
	return nextHop{}, &routeError{404, "no route to domain " + host}
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
