// Package ladder draws what the trace verifier rebuilt: message sequence
// ("ladder") diagrams of a call like the patent's FIG. 5 and FIG. 6, one
// lane per docs/FLOW.md role and one arrow per message labelled with its step
// number, as hand-written SVG, as an HTML page, or as Mermaid text for
// docs; and a Graphviz DOT picture of a lab's topology.
package ladder

import (
	"fmt"
	"sort"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/traffic/trace"
)

// Lanes is the order of the lanes, the patent's layout: the caller's side
// on the left, the clearinghouse in the middle, the callee's side on the
// right.
var Lanes = []string{flow.UAC, flow.SIP1, flow.POL1, flow.R1, flow.CH, flow.R2, flow.POL2, flow.SIP2, flow.UAS}

// Arrow is one message of a diagram.
type Arrow struct {
	From, To string // lanes
	Label    string // "6 INVITE"
	Proto    string // "sip", "cops", "osp", "rtp"
	Phase    flow.Phase
	Step     int
	Packet   int // packet number in the capture (0 for summaries)
	Link     string
	Failed   bool // a check failed at this step
	Both     bool // a two-way arrow (media)
}

// Diagram is a ladder: lanes and arrows in time order.
type Diagram struct {
	Title  string
	Lanes  []string
	Arrows []Arrow
}

// FromCall builds the ladder of one call of a report. Nodes are mapped to
// their docs/FLOW.md roles by the topology; a node without a role gets a lane
// of its own at the right. Steps with a failure are drawn in red.
func FromCall(r *trace.Report, callID string, topo *trace.Topology) (Diagram, error) {
	c, ok := r.Call(callID)
	if !ok {
		return Diagram{}, fmt.Errorf("ladder: no call %q in the capture", callID)
	}
	if topo == nil {
		topo = trace.DefaultTopology()
	}
	failed := map[[2]any]bool{}
	for _, f := range r.Failures {
		if f.CallID == callID && f.Step != 0 {
			failed[[2]any{f.Phase, f.Step}] = true
		}
	}
	d := Diagram{Title: "call " + callID, Lanes: append([]string(nil), Lanes...)}
	lane := func(node string) string {
		role := topo.Roles[node]
		if role == "" {
			role = node
		}
		for _, l := range d.Lanes {
			if l == role {
				return role
			}
		}
		d.Lanes = append(d.Lanes, role)
		return role
	}
	lastSetup := -1
	for _, m := range c.Messages {
		a := Arrow{
			From: lane(m.From), To: lane(m.To), Label: m.Label(), Proto: m.Proto, Phase: m.Phase, Step: m.Step,
			Packet: m.First.No, Link: m.First.Link, Failed: failed[[2]any{m.Phase, m.Step}] && m.Step != 0,
		}
		d.Arrows = append(d.Arrows, a)
		if m.Phase == flow.Setup && m.Step != 0 {
			lastSetup = len(d.Arrows) - 1
		}
	}
	if media := mediaSummary(c, topo.Core); media != "" && lastSetup >= 0 {
		a := Arrow{From: flow.UAC, To: flow.UAS, Label: "29 RTP " + media, Proto: "rtp", Phase: flow.Setup, Step: 29, Both: true,
			Failed: failed[[2]any{flow.Setup, 29}]}
		d.Arrows = append(d.Arrows[:lastSetup+1], append([]Arrow{a}, d.Arrows[lastSetup+1:]...)...)
	}
	return d, nil
}

// mediaSummary says how much media crossed the core and how it was marked.
func mediaSummary(c *trace.CallReport, core string) string {
	var ef, other int
	for _, m := range c.Media {
		if m.Link != core {
			continue
		}
		for dscp, n := range m.DSCP {
			if dscp == trace.DSCPEF {
				ef += n
			} else {
				other += n
			}
		}
	}
	if ef+other == 0 {
		return ""
	}
	return fmt.Sprintf("(%d packets on %s, %d EF)", ef+other, core, ef)
}

// CallIDs lists the calls of a report in capture order.
func CallIDs(r *trace.Report) []string {
	var out []string
	for _, c := range r.Calls {
		out = append(out, c.ID)
	}
	return out
}

// TopologyDOT draws a lab as a Graphviz graph: one node per lab node with
// its docs/FLOW.md role, one edge per link labelled with its name; the core link
// is bold.
func TopologyDOT(t *trace.Topology) string {
	seen := map[string]bool{}
	var names []string
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for name := range t.Roles {
		add(name)
	}
	for _, l := range t.Links {
		add(l.A)
		add(l.B)
	}
	sort.Strings(names)
	out := "graph qoslab {\n  layout=neato; overlap=false; node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
	for _, n := range names {
		label := n
		if r := t.Roles[n]; r != "" {
			label = n + `\n` + r // DOT's line break
		}
		out += fmt.Sprintf("  %q [label=\"%s\"];\n", n, label)
	}
	for _, l := range t.Links {
		style := ""
		if l.Name == t.Core {
			style = ", style=bold, penwidth=3"
		}
		out += fmt.Sprintf("  %q -- %q [label=%q%s];\n", l.A, l.B, l.Name, style)
	}
	return out + "}\n"
}
