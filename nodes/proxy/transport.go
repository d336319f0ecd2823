package proxy

import (
	"fmt"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/qoslab/qoslab/nodes/sipstack"
)

// Transports (RFC 3261 18.1.1, 16.6; RFC 5658). The proxy listens on UDP
// and TCP. A request it sends takes its next hop's transport (the top
// Route's transport parameter, else the Request-URI's, else UDP), and TCP
// when as a datagram it would exceed sipstack.MaxUDP: the ~2.5 kB INVITE
// that carries the OSP token from SIP1 to SIP2 crosses on TCP, never as IP
// fragments. The Via names the transport taken. When an INVITE leaves on
// another transport than it came on, the proxy record-routes twice, one
// entry per side (RFC 5658 double record-routing), so that each UA's
// in-dialog requests reach it over the transport that side used; popping
// its own Route entries takes both. Responses go back on the transport
// (and, over TCP, the connection) the request came on: sipgo's server
// transaction answers on the request's connection.

// prebuilt tells sipgo that a request is complete: nothing is added.
func prebuilt(*sipgo.Client, *sip.Request) error { return nil }

// recordRoute is this proxy's Record-Route entry for one transport.
func (p *Proxy) recordRoute(tp string) *sip.RecordRouteHeader {
	u := sip.Uri{Scheme: "sip", Host: p.cfg.Self.Addr().String(), Port: int(p.cfg.Self.Port()), UriParams: sip.NewParams()}
	u.UriParams.Add("transport", strings.ToLower(tp))
	u.UriParams.Add("lr", "")
	return &sip.RecordRouteHeader{Address: u}
}

// hop says how a request leaves the proxy.
type hop struct {
	in          string // transport the request (or its dialog's INVITE) came on; "" when the proxy originates it
	recordRoute bool   // an initial INVITE: put us in the route set
	addVia      bool   // a forwarded request; false for one the proxy builds itself (sipgo adds its Via) and a CANCEL (it reuses the INVITE's Via)
	transport   string // a CANCEL: the INVITE's transport (RFC 3261 9.1), whatever its size
}

// finish completes req for sending and returns its transport: Via and
// Record-Route for that transport, the local address (sipstack.Pin).
func (p *Proxy) finish(req *sip.Request, h hop) (string, error) {
	if err := clientRequestBuild(p.cli, req); err != nil {
		return "", fmt.Errorf("proxy: build %s: %w", req.Method, err)
	}
	if h.transport != "" {
		p.st.Pin(req, h.transport)
		return h.transport, nil
	}
	tp := sipstack.NextHopTransport(req)
	n := p.addHop(req, h, tp)
	if tp == sipstack.UDP && len(req.String()) > sipstack.MaxUDP {
		for range n.vias {
			req.RemoveHeader("Via")
		}
		for range n.rrs {
			req.RemoveHeader("Record-Route")
		}
		tp = sipstack.TCP
		p.addHop(req, h, tp)
	}
	p.st.Pin(req, tp)
	return tp, nil
}

type added struct{ vias, rrs int }

func (p *Proxy) addHop(req *sip.Request, h hop, tp string) added {
	var n added
	req.SetTransport(tp)
	if h.recordRoute {
		if h.in != "" && !strings.EqualFold(h.in, tp) {
			req.PrependHeader(p.recordRoute(h.in))
			n.rrs++
		}
		req.PrependHeader(p.recordRoute(tp))
		n.rrs++
	}
	if h.addVia {
		_ = clientRequestAddVia(p.cli, req)
		n.vias++
	}
	return n
}

// send starts a client transaction for a request finish completed.
func (p *Proxy) send(req *sip.Request, h hop) (sip.ClientTransaction, error) {
	if _, err := p.finish(req, h); err != nil {
		return nil, err
	}
	return p.cli.TransactionRequest(p.ctx, req, prebuilt)
}

// write sends an ACK (no transaction) that finish completed.
func (p *Proxy) write(req *sip.Request, h hop) error {
	if _, err := p.finish(req, h); err != nil {
		return err
	}
	return p.cli.WriteRequest(req, prebuilt)
}
