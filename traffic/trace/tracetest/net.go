package tracetest

import (
	"fmt"
	"net/netip"
	"sort"

	"github.com/qoslab/qoslab/traffic/trace"
)

// network knows, for a topology, each node's primary address and the
// links a packet crosses from one node to another.
type network struct {
	topo  *trace.Topology
	addr  map[string]netip.Addr
	adj   map[string][]trace.Link
	paths map[[2]string][]hop
}

// hop is one link a packet crosses, in the direction it crosses it.
type hop struct {
	link     string
	from, to string
	index    int // link index, for MAC addresses
}

func newNetwork(t *trace.Topology) *network {
	n := &network{topo: t, addr: map[string]netip.Addr{}, adj: map[string][]trace.Link{}, paths: map[[2]string][]hop{}}
	for a, name := range t.Names {
		if old, ok := n.addr[name]; !ok || a.Less(old) {
			n.addr[name] = a
		}
	}
	for _, l := range t.Links {
		n.adj[l.A] = append(n.adj[l.A], l)
		n.adj[l.B] = append(n.adj[l.B], l)
	}
	return n
}

func (n *network) linkIndex(name string) int {
	for i, l := range n.topo.Links {
		if l.Name == name {
			return i
		}
	}
	return -1
}

// path is the shortest sequence of links from one node to another.
func (n *network) path(from, to string) ([]hop, error) {
	if p, ok := n.paths[[2]string{from, to}]; ok {
		return p, nil
	}
	prev := map[string]trace.Link{}
	seen := map[string]bool{from: true}
	queue := []string{from}
	for len(queue) > 0 && !seen[to] {
		cur := queue[0]
		queue = queue[1:]
		links := append([]trace.Link(nil), n.adj[cur]...)
		sort.Slice(links, func(i, j int) bool { return links[i].Name < links[j].Name })
		for _, l := range links {
			next := l.A
			if next == cur {
				next = l.B
			}
			if !seen[next] {
				seen[next] = true
				prev[next] = l
				queue = append(queue, next)
			}
		}
	}
	if !seen[to] {
		return nil, fmt.Errorf("tracetest: no path from %s to %s", from, to)
	}
	var rev []hop
	for cur := to; cur != from; {
		l := prev[cur]
		other := l.A
		if other == cur {
			other = l.B
		}
		rev = append(rev, hop{link: l.Name, from: other, to: cur, index: n.linkIndex(l.Name)})
		cur = other
	}
	out := make([]hop, len(rev))
	for i := range rev {
		out[i] = rev[len(rev)-1-i]
	}
	n.paths[[2]string{from, to}] = out
	return out, nil
}
