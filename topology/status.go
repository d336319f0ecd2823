package topology

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/vishvananda/netns"
)

// Status is what `qoslab status` shows of one lab.
type Status struct {
	Lab     string       `json:"lab"`
	Dir     string       `json:"dir"`
	Phase   string       `json:"phase"` // from lab.json; "" when the run directory is gone
	Health  string       `json:"health"`
	Nodes   []NodeStatus `json:"nodes"`
	Capture string       `json:"capture,omitempty"` // "running (pid N) -> dir", "stopped", or "" when not captured
}

// NodeStatus is one node of a lab.
type NodeStatus struct {
	Name      string `json:"name"`
	Role      string `json:"role,omitempty"`
	Addr      string `json:"addr,omitempty"`
	Namespace string `json:"namespace"`
	PID       int    `json:"pid,omitempty"`
	State     string `json:"state"` // "running", "exited (see <log>)", "not started", "no namespace", "orphaned", "down"
}

// health sums a lab up in a word or three.
func (s *Status) health() string {
	switch s.Phase {
	case "":
		return "stale (no run directory; `qoslab down --all` removes it)"
	case PhaseKept:
		return fmt.Sprintf("down, run directory kept (`qoslab down --name %s` removes it)", s.Lab)
	}
	for _, n := range s.Nodes {
		if n.State != "running" {
			return s.Phase + ", degraded"
		}
	}
	return s.Phase
}

// LabStatus inspects a lab without changing it.
func LabStatus(lab, runRoot string) (*Status, error) {
	if runRoot == "" {
		runRoot = RunRoot
	}
	dir := filepath.Join(runRoot, lab)
	st := &Status{Lab: lab, Dir: dir}
	state, err := ReadState(dir)
	if err != nil {
		nss, lerr := labNamespaces(lab)
		if lerr != nil {
			return nil, lerr
		}
		for _, ns := range nss {
			_, node, _ := parseNamespaceName(ns)
			st.Nodes = append(st.Nodes, NodeStatus{Name: node, Namespace: ns, State: "orphaned"})
		}
		st.Health = st.health()
		return st, nil
	}
	st.Phase = state.Phase
	for _, n := range state.Plan.Nodes {
		ns := NodeStatus{Name: n.Name, Role: n.Role, Addr: n.Addr().String(), Namespace: n.Namespace, PID: state.NodePIDs[n.Name]}
		switch {
		case state.Phase == PhaseKept:
			ns.State, ns.PID = "down", 0
		case !exists(filepath.Join(netnsDir, n.Namespace)):
			ns.State = "no namespace"
		case ns.PID > 0 && alive(ns.PID):
			ns.State = "running"
		case ns.PID > 0:
			ns.State = "exited (see " + filepath.Join(NodeDir(dir, n.Name), "node.log") + ")"
		default:
			ns.State = "not started"
		}
		st.Nodes = append(st.Nodes, ns)
	}
	switch {
	case state.Phase == PhaseKept:
		st.Capture = "stopped, files in " + filepath.Join(dir, "capture")
	case state.CapturePID > 0 && alive(state.CapturePID):
		st.Capture = fmt.Sprintf("running (pid %d) -> %s", state.CapturePID, filepath.Join(dir, "capture"))
	case state.CapturePID > 0:
		st.Capture = "stopped"
	}
	st.Health = st.health()
	return st, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Exec runs argv inside a node's namespace with the given stdio and
// returns its exit status.
func Exec(ctx context.Context, lab, node string, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	ns, err := nodeNamespace(lab, node)
	if err != nil {
		return 0, fmt.Errorf("topology: exec: %w", err)
	}
	defer ns.Close()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if err := inNamespace(ns, cmd.Start); err != nil {
		return 0, fmt.Errorf("topology: exec %s in %s: %w", argv[0], node, err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("topology: exec %s in %s: %w", argv[0], node, err)
	}
	return 0, nil
}

// RunIn runs fn on a thread inside a lab node's namespace. Sockets fn
// opens belong to that namespace and may be used from anywhere afterwards.
func RunIn(lab, node string, fn func() error) error {
	ns, err := nodeNamespace(lab, node)
	if err != nil {
		return fmt.Errorf("topology: %w", err)
	}
	defer ns.Close()
	return inNamespace(ns, fn)
}

// nodeNamespace opens a lab node's namespace. A missing one is explained:
// no such lab, no such node, or a lab that is down.
func nodeNamespace(lab, node string) (netns.NsHandle, error) {
	name := NamespaceName(lab, node)
	ns, err := netns.GetFromName(name)
	if err == nil {
		return ns, nil
	}
	st, serr := OpenLab(lab, "")
	if serr != nil {
		return ns, serr
	}
	if _, nerr := st.Plan.RoleNode(node); nerr != nil {
		return ns, nerr
	}
	return ns, fmt.Errorf("lab %s: node %s has no namespace %s: %v", lab, node, name, err)
}
