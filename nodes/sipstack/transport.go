package sipstack

import (
	"net"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Transport names as sipgo writes them in Via and MessageData.
const (
	UDP = "UDP"
	TCP = "TCP"
)

// NextHopTransport is the transport the next hop of req asks for: the
// transport parameter of the top Route, or of the Request-URI when there
// is no Route (RFC 3263 section 4.1 with the lab's static addresses), UDP
// when neither names one.
func NextHopTransport(req *sip.Request) string {
	u := req.Recipient
	if r := req.Route(); r != nil {
		u = r.Address
	}
	if t, ok := u.UriParams.Get("transport"); ok && strings.EqualFold(t, "tcp") {
		return TCP
	}
	return UDP
}

// Choose is the transport a fully built request goes over: its next hop's,
// and TCP when it would be a datagram larger than MaxUDP (RFC 3261
// section 18.1.1).
func Choose(req *sip.Request) string {
	t := NextHopTransport(req)
	if t == UDP && len(req.String()) > MaxUDP {
		return TCP
	}
	return t
}

// Pin sends req over transport t from this stack: the transport sipgo uses
// and the top Via's (section 18.1.1: a change of transport changes the
// Via), and the local address. A datagram leaves from the listening
// socket, so the next hop sees one SIP endpoint per node; a TCP request
// leaves on the connection sipgo keeps to the destination, dialling one
// from our address and an ephemeral port the first time and reusing it
// afterwards (sipgo pools connections by remote address; a local port
// would select a connection by our own address instead, whichever peer
// it leads to).
// The Via keeps naming our listening port: responses over TCP come back
// on the request's connection, and a peer that must open a new one opens
// it to where we listen.
func (s *Stack) Pin(req *sip.Request, t string) {
	req.SetTransport(t)
	if v := req.Via(); v != nil {
		v.Transport = t
	}
	req.Laddr = sip.Addr{IP: net.IP(s.Addr.Addr().AsSlice()), Port: int(s.Addr.Port()), Hostname: s.Addr.Addr().String()}
	if t == TCP {
		req.Laddr.Port = 0
	}
}
