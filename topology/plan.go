package topology

import (
	"fmt"
	"net/netip"

	"github.com/qoslab/qoslab/nodes"
)

// autoBase is where automatic link subnets come from: 198.18.0.0/15, the
// RFC 2544 benchmarking range, where no real host ever is.
var autoBase = netip.MustParsePrefix("198.18.0.0/15")

// Plan is a validated spec resolved into everything the builder makes:
// namespace names, interface addresses and routes. It is pure data and
// computed without touching the kernel, so it is unit-tested directly.
type Plan struct {
	Lab   string
	Nodes []PlannedNode
	Links []PlannedLink
}

// PlannedNode is one node with its namespace, interfaces and routes.
type PlannedNode struct {
	Name      string
	Role      string
	Params    map[string]string
	Namespace string
	Ifaces    []nodes.Iface
	Routes    []Route
}

// Addr is the node's primary address: that of its first interface.
func (n PlannedNode) Addr() netip.Addr {
	if len(n.Ifaces) == 0 {
		return netip.Addr{}
	}
	return n.Ifaces[0].Prefix.Addr()
}

// PlannedLink is one veth pair.
type PlannedLink struct {
	Name string // "<a>-<b>", the capture file and pcapng interface name
	A, B End
}

// End is one end of a link.
type End struct {
	Node   string
	Iface  string
	Prefix netip.Prefix
}

// Route is one static route in a node's namespace.
type Route struct {
	Dst netip.Prefix
	Via netip.Addr
	Dev string
}

// NamespaceName is the name of a node's network namespace.
func NamespaceName(lab, node string) string { return "qoslab-" + lab + "-" + node }

// NewPlan validates a spec and resolves it for the named lab.
func NewPlan(s *Spec, lab string, knownRoles []string) (*Plan, error) {
	if err := ValidateLabName(lab); err != nil {
		return nil, err
	}
	if err := s.Validate(knownRoles); err != nil {
		return nil, err
	}
	p := &Plan{Lab: lab}
	index := map[string]int{}
	for _, n := range s.Nodes {
		index[n.Name] = len(p.Nodes)
		p.Nodes = append(p.Nodes, PlannedNode{Name: n.Name, Role: n.Role, Params: n.Params, Namespace: NamespaceName(lab, n.Name)})
	}
	used := map[netip.Addr]string{}
	for i, l := range s.Links {
		a, err := linkPrefixes(i, l)
		if err != nil {
			return nil, &SpecError{File: s.file, Line: l.line, What: fmt.Sprintf("link %d", i+1), Msg: err.Error()}
		}
		var ends [2]End
		for j, ep := range l.Endpoints {
			node, ifc, _ := endpoint(ep)
			if other, clash := used[a[j].Addr()]; clash {
				return nil, &SpecError{File: s.file, Line: l.line, What: fmt.Sprintf("link %d", i+1), Msg: fmt.Sprintf("address %s of %s clashes with %s", a[j].Addr(), ep, other)}
			}
			used[a[j].Addr()] = ep
			ends[j] = End{Node: node, Iface: ifc, Prefix: a[j]}
		}
		p.Links = append(p.Links, PlannedLink{Name: ends[0].Node + "-" + ends[1].Node, A: ends[0], B: ends[1]})
		for j := range ends {
			me, peer := ends[j], ends[1-j]
			n := &p.Nodes[index[me.Node]]
			n.Ifaces = append(n.Ifaces, nodes.Iface{
				Name: me.Iface, Prefix: me.Prefix,
				Peer: peer.Node, PeerRole: p.Nodes[index[peer.Node]].Role, PeerAddr: peer.Prefix.Addr(),
			})
		}
	}
	if err := p.uniqueLinkNames(); err != nil {
		return nil, &SpecError{File: s.file, Msg: err.Error()}
	}
	p.planRoutes(index)
	if err := p.checkForwarding(); err != nil {
		return nil, &SpecError{File: s.file, What: err.what, Msg: err.msg}
	}
	return p, nil
}

// forwardError is a planned route that needs a node that does not forward.
type forwardError struct{ what, msg string }

// checkForwarding refuses a plan in which a route's next hop would have to
// forward packets it does not own. Only routers forward (ip_forward=1 on
// routers only), so a route through any other node to a subnet where
// another node lives would lose every packet to that node, silently.
func (p *Plan) checkForwarding() *forwardError {
	owner := map[netip.Addr]*PlannedNode{}
	for i := range p.Nodes {
		for _, ifc := range p.Nodes[i].Ifaces {
			owner[ifc.Prefix.Addr()] = &p.Nodes[i]
		}
	}
	for _, n := range p.Nodes {
		for _, r := range n.Routes {
			hop := owner[r.Via]
			if hop == nil || hop.Role == RoleRouter {
				continue
			}
			for _, l := range p.Links {
				if l.A.Prefix.Masked() != r.Dst {
					continue
				}
				for _, end := range []End{l.A, l.B} {
					if end.Node == hop.Name || end.Node == n.Name {
						continue
					}
					return &forwardError{
						what: fmt.Sprintf("node %q", hop.Name),
						msg: fmt.Sprintf("%s's route to %s via %s (%s) would carry traffic for %s (%s) through %s, a %s, which does not forward: only routers do; make %s a router or link %s to one",
							n.Name, r.Dst, r.Via, hop.Name, end.Node, end.Prefix.Addr(), hop.Name, hop.Role, hop.Name, end.Node),
					}
				}
			}
		}
	}
	return nil
}

// linkPrefixes gives the two interface addresses of link i: the spec's, or
// the i-th /24 of the automatic range with the first endpoint on .1.
func linkPrefixes(i int, l LinkSpec) ([2]netip.Prefix, error) {
	if len(l.Addresses) == 2 {
		a, _ := parseIfaceAddr(l.Addresses[0])
		b, _ := parseIfaceAddr(l.Addresses[1])
		return [2]netip.Prefix{a, b}, nil
	}
	n := i + 1
	if n >= 1<<(24-autoBase.Bits()) {
		return [2]netip.Prefix{}, fmt.Errorf("too many links for automatic addresses in %s: give this link addresses", autoBase)
	}
	b := autoBase.Addr().As4()
	b[1] += byte(n >> 8)
	b[2] = byte(n)
	b[3] = 1
	first := netip.AddrFrom4(b)
	return [2]netip.Prefix{netip.PrefixFrom(first, 24), netip.PrefixFrom(first.Next(), 24)}, nil
}

func (p *Plan) uniqueLinkNames() error {
	seen := map[string]bool{}
	for _, l := range p.Links {
		if seen[l.Name] {
			return fmt.Errorf("two links between %s and %s: parallel links are not supported", l.A.Node, l.B.Node)
		}
		seen[l.Name] = true
	}
	return nil
}

// planRoutes gives every node a route to every link subnet it is not on,
// via the neighbour that starts the shortest path to it. Only routers
// carry transit traffic, so paths never cross a host.
func (p *Plan) planRoutes(index map[string]int) {
	for i := range p.Nodes {
		src := &p.Nodes[i]
		// firstHop[node] = the interface of src by which node is reached.
		firstHop := map[string]nodes.Iface{}
		queue := []string{}
		for _, ifc := range src.Ifaces {
			if _, seen := firstHop[ifc.Peer]; !seen {
				firstHop[ifc.Peer] = ifc
				queue = append(queue, ifc.Peer)
			}
		}
		for len(queue) > 0 {
			cur := queue[0]
			queue = queue[1:]
			n := p.Nodes[index[cur]]
			if n.Role != RoleRouter {
				continue
			}
			for _, ifc := range n.Ifaces {
				if _, seen := firstHop[ifc.Peer]; seen || ifc.Peer == src.Name {
					continue
				}
				firstHop[ifc.Peer] = firstHop[cur]
				queue = append(queue, ifc.Peer)
			}
		}
		direct := map[netip.Prefix]bool{}
		for _, ifc := range src.Ifaces {
			direct[ifc.Prefix.Masked()] = true
		}
		for _, l := range p.Links {
			dst := l.A.Prefix.Masked()
			if direct[dst] {
				continue
			}
			// Reach the subnet through whichever of its ends is reachable
			// (a router end forwards into it; a host end owns it).
			for _, end := range []End{l.A, l.B} {
				if hop, ok := firstHop[end.Node]; ok {
					if hop.PeerRole != RoleRouter && hop.Peer != end.Node {
						continue
					}
					src.Routes = append(src.Routes, Route{Dst: dst, Via: hop.PeerAddr, Dev: hop.Name})
					break
				}
			}
		}
	}
}

// Node returns the planned node with the given name.
func (p *Plan) Node(name string) (*PlannedNode, bool) {
	for i := range p.Nodes {
		if p.Nodes[i].Name == name {
			return &p.Nodes[i], true
		}
	}
	return nil, false
}

// NodeInfos describes every node of the lab by name, as each node sees
// its peers (nodes.Config.Nodes).
func (p *Plan) NodeInfos() map[string]nodes.NodeInfo {
	all := make(map[string]nodes.NodeInfo, len(p.Nodes))
	for _, o := range p.Nodes {
		all[o.Name] = nodes.NodeInfo{Role: o.Role, Addr: o.Addr(), Params: o.Params}
	}
	return all
}

// NodeConfig is the config file the launcher writes for a node.
func (p *Plan) NodeConfig(n *PlannedNode, labDir string) nodes.Config {
	all := p.NodeInfos()
	return nodes.Config{
		Lab: p.Lab, Name: n.Name, Role: n.Role,
		Dir: NodeDir(labDir, n.Name), LabDir: labDir,
		Nodes: all, Ifaces: n.Ifaces, Params: n.Params,
	}
}
