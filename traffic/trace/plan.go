package trace

import "github.com/qoslab/qoslab/topology"

// PlanTopology is the Topology of a lab plan (a topology file's, or the
// one lab.json keeps): every node's addresses, role and parameters, and
// the captured links.
func PlanTopology(p *topology.Plan) (*Topology, error) {
	var ns []Node
	for _, n := range p.Nodes {
		tn := Node{Name: n.Name, Role: n.Role, Params: n.Params}
		for _, ifc := range n.Ifaces {
			if a := ifc.Prefix.Addr(); a.IsValid() {
				tn.Addrs = append(tn.Addrs, a)
			}
		}
		ns = append(ns, tn)
	}
	var ls []Link
	for _, l := range p.Links {
		ls = append(ls, Link{Name: l.Name, A: l.A.Node, B: l.B.Node})
	}
	return NewTopology(ns, ls)
}
