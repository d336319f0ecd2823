package clearinghouse

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/protocol/osp"
)

// defaultSIPPort is where proxies and user agents take SIP (docs/FLOW.md).
const defaultSIPPort = 5060

// routes finds where a call goes: the signalling address of the proxy
// that terminates it, "[address]:port", which is what an OSP
// DestinationSignalAddress carries and what a SIP client (Kamailio's osp
// module, the toolkit's test_app) sends the INVITE to.
type routes struct {
	nodes map[string]nodes.NodeInfo
	// explicit is the routes parameter: callee node -> proxy nodes in
	// order of preference. A callee not listed is routed through the
	// proxy its own "proxy" parameter names, else reached directly.
	explicit map[string][]string
}

// parseRoutes reads the routes parameter: "callee=proxy[,proxy...]" rules
// separated by ';', every name a node of the lab.
func parseRoutes(s string, all map[string]nodes.NodeInfo) (map[string][]string, error) {
	out := map[string][]string{}
	for _, rule := range strings.Split(s, ";") {
		rule = strings.TrimSpace(rule)
		if rule == "" {
			continue
		}
		callee, list, ok := strings.Cut(rule, "=")
		callee = strings.TrimSpace(callee)
		if !ok || callee == "" {
			return nil, fmt.Errorf("routes rule %q: want callee=proxy[,proxy...]", rule)
		}
		if _, known := all[callee]; !known {
			return nil, fmt.Errorf("routes rule %q: no node %q in the lab", rule, callee)
		}
		for _, p := range strings.Split(list, ",") {
			p = strings.TrimSpace(p)
			if _, known := all[p]; !known {
				return nil, fmt.Errorf("routes rule %q: no node %q in the lab", rule, p)
			}
			out[callee] = append(out[callee], p)
		}
	}
	return out, nil
}

// destinations returns the signalling addresses that reach the called
// party, best first; none when the lab has no way to it. In order: the
// routes parameter for the callee's node; the proxy whose "domain"
// parameter is the URI's host (the registrar of that domain); the proxy
// the callee node's own "proxy" parameter names; the callee node itself.
func (r routes) destinations(called string) []osp.Party {
	_, host := osp.SplitParty(called)
	callee := r.calleeNode(called)
	via := r.explicit[callee]
	if len(via) == 0 {
		if p := r.registrarOf(host); p != "" {
			via = []string{p}
		}
	}
	if len(via) == 0 && callee != "" {
		if p := param(r.nodes[callee], "proxy"); p != "" {
			if _, ok := r.nodes[p]; ok {
				via = []string{p}
			}
		}
	}
	if len(via) == 0 && callee != "" {
		via = []string{callee} // no proxy: the user agent itself
	}
	var out []osp.Party
	for _, name := range via {
		n := r.nodes[name]
		port := defaultSIPPort
		if v, err := strconv.Atoi(param(n, "sip_port")); err == nil && v > 0 && v < 65536 {
			port = v
		}
		// OSP writes an address in brackets whatever its family
		// ("[172.16.1.2]:112" in the toolkit's API documentation).
		out = append(out, osp.Party{Type: osp.PartyTransport, Value: "[" + n.Addr.String() + "]:" + strconv.Itoa(port)})
	}
	return out
}

// registrarOf returns the proxy node whose "domain" parameter is host.
func (r routes) registrarOf(host string) string {
	if host == "" {
		return ""
	}
	for name, n := range r.nodes {
		if n.Role == "proxy" && strings.EqualFold(param(n, "domain"), host) {
			return name
		}
	}
	return ""
}

// calleeNode finds the lab node a called party names: by the user part of
// a SIP or tel URI ("sip:uas@198.18.4.2", "uas"), else by the URI's host
// address.
func (r routes) calleeNode(called string) string {
	user, host := osp.SplitParty(called)
	if _, ok := r.nodes[user]; ok && user != "" {
		return user
	}
	if a, err := netip.ParseAddr(host); err == nil {
		for name, n := range r.nodes {
			if n.Addr == a.Unmap() {
				return name
			}
		}
	}
	return ""
}

// param reads a peer node's role parameter, '-' and '_' alike (as
// nodes.Config.Param does for a node's own parameters).
func param(n nodes.NodeInfo, key string) string {
	for _, k := range []string{key, strings.ReplaceAll(key, "_", "-"), strings.ReplaceAll(key, "-", "_")} {
		if v := n.Params[k]; v != "" {
			return v
		}
	}
	return ""
}
