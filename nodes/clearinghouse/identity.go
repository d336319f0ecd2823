package clearinghouse

import (
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/protocol/osp"
)

// peers knows the lab's nodes: who may talk OSP to the clearinghouse.
type peers struct {
	nodes map[string]nodes.NodeInfo
}

// addrOf returns the address a peer ("addr:port") connected from.
func addrOf(peer string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(peer)
	if err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// nameOf maps an address to the lab node that has it as its address ("" if
// none).
func (p peers) nameOf(a netip.Addr) string {
	for name, n := range p.nodes {
		if n.Addr == a {
			return name
		}
	}
	return ""
}

// name returns the node a peer connected from, or its address when it is
// not a lab node: what logs and records call it.
func (p peers) name(peer osp.Peer) string {
	a, ok := addrOf(peer.Addr)
	if !ok {
		return peer.Addr
	}
	if n := p.nameOf(a); n != "" {
		return n
	}
	return a.String()
}

// authenticate says which policy server sent a request, or why the sender
// may not use the clearinghouse. Only policy servers may (issue 16: a
// subscriber, or any host, must not obtain tokens or write bills).
//
// Over mutual TLS the TLS layer has verified the certificate against the
// lab CA; here its subject OU must be the policy-server role the lab PKI
// writes, its CN a node of this lab with that role, and the connection
// must come from that node's address (a certificate copied to another host
// is not enough). Over plain HTTP the proof is weaker, the source address
// alone: it must be a policy server's.
//
// A refusal is OSP status 401 (Unauthorised), which the OSP Toolkit
// reports as OSPC_ERR_TRAN_UNAUTHORIZED.
func (p peers) authenticate(peer osp.Peer) (string, *osp.Status) {
	refuse := func(format string, args ...any) (string, *osp.Status) {
		return "", &osp.Status{Code: osp.StatusUnauthorized, Description: fmt.Sprintf(format, args...)}
	}
	a, ok := addrOf(peer.Addr)
	if !ok {
		return refuse("peer %q has no address", peer.Addr)
	}
	from := p.nameOf(a)
	if peer.Cert == nil {
		if from == "" {
			return refuse("%s is not a node of this lab", a)
		}
		if p.nodes[from].Role != osp.RolePolicyServer {
			return refuse("%s (%s, role %s) is not a policy server", a, from, p.nodes[from].Role)
		}
		return from, nil
	}
	cn, ou := peer.Cert.Subject.CommonName, peer.Cert.Subject.OrganizationalUnit
	if !slices.Contains(ou, osp.RolePolicyServer) {
		return refuse("certificate of %q (OU %v) was not issued to a policy server", cn, ou)
	}
	n, ok := p.nodes[cn]
	if !ok || n.Role != osp.RolePolicyServer {
		return refuse("certificate of %q names no policy server of this lab", cn)
	}
	if n.Addr != a {
		return refuse("certificate of %s used from %s, not from %s's address %s", cn, a, cn, n.Addr)
	}
	return cn, nil
}
