package topology

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrNoLab is returned (wrapped) for a lab that is not on this machine.
var ErrNoLab = errors.New("no such lab")

// OpenLab reads the state of a lab that is up, for commands that act on
// it (call, exec, stop, start, gates). Its errors say what is wrong in the
// words of the CLI: no such lab (and which labs there are), or a lab that
// is down with its run directory kept.
func OpenLab(lab, runRoot string) (*State, error) {
	if err := ValidateLabName(lab); err != nil {
		return nil, err
	}
	if runRoot == "" {
		runRoot = RunRoot
	}
	st, err := ReadState(filepath.Join(runRoot, lab))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w %q on this machine%s", ErrNoLab, lab, labsHere(runRoot))
	}
	if err != nil {
		return nil, err
	}
	if st.Phase == PhaseKept {
		return nil, fmt.Errorf("lab %q is down (`down --keep` kept its run directory %s); `qoslab up --name %s` needs it removed first", lab, filepath.Join(runRoot, lab), lab)
	}
	return st, nil
}

// labsHere names the labs on the machine, for errors about a missing one.
func labsHere(runRoot string) string {
	labs, err := Labs(runRoot)
	if err != nil || len(labs) == 0 {
		return " (there is none; `qoslab up` starts one)"
	}
	return fmt.Sprintf(" (labs here: %s)", strings.Join(labs, ", "))
}

// RoleNode returns the node named node, which must have one of roles (any
// role when none is given). The error names the lab's nodes of those roles.
func (p *Plan) RoleNode(node string, roles ...string) (*PlannedNode, error) {
	n, ok := p.Node(node)
	want := p.NodesOfRole(roles...)
	what := "nodes"
	if len(roles) > 0 {
		what = strings.Join(roles, " or ") + " nodes"
	}
	if !ok {
		return nil, fmt.Errorf("lab %s has no node %q (%s: %s)", p.Lab, node, what, strings.Join(want, ", "))
	}
	if len(roles) > 0 && !slices.Contains(roles, n.Role) {
		return nil, fmt.Errorf("node %s of lab %s is a %s, not a %s (%s: %s)", node, p.Lab, n.Role, strings.Join(roles, " or "), what, strings.Join(want, ", "))
	}
	return n, nil
}

// NodesOfRole lists the names of the nodes with one of roles (every node
// when none is given), in topology order.
func (p *Plan) NodesOfRole(roles ...string) []string {
	var out []string
	for _, n := range p.Nodes {
		if len(roles) == 0 || slices.Contains(roles, n.Role) {
			out = append(out, n.Name)
		}
	}
	return out
}

// NodeNames lists every node's name, in topology order.
func (p *Plan) NodeNames() []string { return p.NodesOfRole() }
