package trace

import (
	"fmt"
	"net/netip"
	"sort"

	"github.com/qoslab/qoslab/flow"
)

// Node is one lab node as the verifier needs it: its name, its lab role
// (uac, uas, proxy, pdp, router, clearinghouse), its role parameters (the
// verifier follows proxy/pdp/router parameters to tell side 1 from side 2)
// and every address it owns.
type Node struct {
	Name   string
	Role   string
	Params map[string]string
	Addrs  []netip.Addr
}

// Link is one captured link: its name ("<a>-<b>", the pcapng interface
// name) and its two endpoint node names.
type Link struct {
	Name string
	A, B string
}

// Topology maps what is on the wire to docs/FLOW.md: addresses to node names,
// node names to docs/FLOW.md roles (flow.UAC, flow.SIP1, ...), and which link is
// the core between the two edge routers (where the DSCP rules apply).
type Topology struct {
	// Names maps every address of every node to the node's name.
	Names map[netip.Addr]string
	// Roles maps node names to docs/FLOW.md roles.
	Roles map[string]string
	// Links lists the captured links.
	Links []Link
	// Core is the name of the link between R1 and R2.
	Core string
}

// NewTopology derives a Topology from the lab's nodes and links. docs/FLOW.md
// roles follow the role parameters the way the nodes use them: the UAC's
// "proxy" is SIP1, the UAS's "proxy" is SIP2, each proxy's "pdp" is its POL,
// each POL's "router" is its R; the clearinghouse role is CH.
func NewTopology(nodes []Node, links []Link) (*Topology, error) {
	t := &Topology{Names: map[netip.Addr]string{}, Roles: map[string]string{}, Links: links}
	byName := map[string]Node{}
	for _, n := range nodes {
		byName[n.Name] = n
		for _, a := range n.Addrs {
			t.Names[a] = n.Name
		}
	}
	set := func(name, role string) error {
		if _, ok := byName[name]; !ok {
			return fmt.Errorf("trace: topology: %s refers to unknown node %q", role, name)
		}
		if old, ok := t.Roles[name]; ok && old != role {
			return fmt.Errorf("trace: topology: node %s is both %s and %s", name, old, role)
		}
		t.Roles[name] = role
		return nil
	}
	side := func(ua Node, sip, pol, r string) error {
		if err := set(ua.Name, map[string]string{flow.SIP1: flow.UAC, flow.SIP2: flow.UAS}[sip]); err != nil {
			return err
		}
		proxy := ua.Params["proxy"]
		if err := set(proxy, sip); err != nil {
			return err
		}
		pdp := byName[proxy].Params["pdp"]
		if err := set(pdp, pol); err != nil {
			return err
		}
		return set(byName[pdp].Params["router"], r)
	}
	for _, n := range sortedNodes(nodes) {
		var err error
		switch n.Role {
		case "uac":
			err = side(n, flow.SIP1, flow.POL1, flow.R1)
		case "uas":
			err = side(n, flow.SIP2, flow.POL2, flow.R2)
		case "clearinghouse":
			err = set(n.Name, flow.CH)
		}
		if err != nil {
			return nil, err
		}
	}
	r1, r2 := t.NodeOf(flow.R1), t.NodeOf(flow.R2)
	for _, l := range links {
		if (l.A == r1 && l.B == r2) || (l.A == r2 && l.B == r1) {
			t.Core = l.Name
		}
	}
	return t, nil
}

func sortedNodes(nodes []Node) []Node {
	out := append([]Node(nil), nodes...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// NodeOf returns the name of the node playing a docs/FLOW.md role ("" if none).
func (t *Topology) NodeOf(role string) string {
	for name, r := range t.Roles {
		if r == role {
			return name
		}
	}
	return ""
}

// Name returns the node name of an address, or the address itself when it
// belongs to no node (so reports still say something useful).
func (t *Topology) Name(a netip.Addr) string {
	if n, ok := t.Names[a]; ok {
		return n
	}
	return a.String()
}

// Role returns the docs/FLOW.md role of an address ("" when it has none).
func (t *Topology) Role(a netip.Addr) string {
	return t.Roles[t.Names[a]]
}

// DefaultTopology is the built-in FIG. 5 lab (topology/default.yaml): link n
// in file order is 198.18.n.0/24, its first endpoint .1 and its second .2.
func DefaultTopology() *Topology {
	links := [][2]string{
		{"r1", "uac"}, {"r1", "sip1"}, {"r1", "pol1"}, {"r2", "uas"},
		{"r2", "sip2"}, {"r2", "pol2"}, {"r1", "r2"}, {"r1", "ch"},
	}
	nodes := []Node{
		{Name: "uac", Role: "uac", Params: map[string]string{"proxy": "sip1"}},
		{Name: "sip1", Role: "proxy", Params: map[string]string{"pdp": "pol1"}},
		{Name: "pol1", Role: "pdp", Params: map[string]string{"router": "r1"}},
		{Name: "r1", Role: "router"},
		{Name: "uas", Role: "uas", Params: map[string]string{"proxy": "sip2"}},
		{Name: "sip2", Role: "proxy", Params: map[string]string{"pdp": "pol2"}},
		{Name: "pol2", Role: "pdp", Params: map[string]string{"router": "r2"}},
		{Name: "r2", Role: "router"},
		{Name: "ch", Role: "clearinghouse"},
	}
	idx := map[string]int{}
	for i, n := range nodes {
		idx[n.Name] = i
	}
	var ls []Link
	for i, l := range links {
		for j, name := range l {
			a := netip.AddrFrom4([4]byte{198, 18, byte(i + 1), byte(j + 1)})
			nodes[idx[name]].Addrs = append(nodes[idx[name]].Addrs, a)
		}
		ls = append(ls, Link{Name: l[0] + "-" + l[1], A: l[0], B: l[1]})
	}
	t, err := NewTopology(nodes, ls)
	if err != nil {
		panic(err) // the built-in table is a constant; a test covers it
	}
	return t
}
