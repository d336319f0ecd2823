package topology

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// StopNode stops one node of a running lab, with SIGTERM (the node shuts
// down cleanly) or, if kill is set, SIGKILL (a crash: no goodbye on any
// connection). Its namespace, links and captures stay. Fault tests use it
// to take a peer away.
func StopNode(lab, node string, kill bool, runRoot string) error {
	if runRoot == "" {
		runRoot = RunRoot
	}
	st, err := OpenLab(lab, runRoot)
	if err != nil {
		return fmt.Errorf("topology: %w", err)
	}
	if _, err := st.Plan.RoleNode(node); err != nil {
		return fmt.Errorf("topology: %w", err)
	}
	pid := st.NodePIDs[node]
	if pid <= 0 || !alive(pid) || !cmdlineHas(pid, "node", "--config") {
		return nil // already stopped
	}
	if kill {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return fmt.Errorf("topology: kill %s: %w", node, err)
		}
		if left := waitGone([]int{pid}, 5*time.Second); len(left) > 0 {
			return fmt.Errorf("topology: %s (pid %d) survived SIGKILL", node, pid)
		}
		return nil
	}
	return stopProcesses([]int{pid}, 3*time.Second)
}

// StartNode starts a stopped node again, with the config it had, in its
// namespace, and waits until it reports ready. A node that still runs is
// left alone.
func StartNode(ctx context.Context, lab, node string, opts Options) error {
	if err := opts.defaults(); err != nil {
		return err
	}
	dir := filepath.Join(opts.RunRoot, lab)
	st, err := OpenLab(lab, opts.RunRoot)
	if err != nil {
		return fmt.Errorf("topology: %w", err)
	}
	n, err := st.Plan.RoleNode(node)
	if err != nil {
		return fmt.Errorf("topology: %w", err)
	}
	if pid := st.NodePIDs[node]; pid > 0 && alive(pid) {
		return nil
	}
	ns, err := netns.GetFromName(n.Namespace)
	if err != nil {
		return fmt.Errorf("topology: %s: namespace %s: %w", node, n.Namespace, err)
	}
	defer ns.Close()
	nodeDir := NodeDir(dir, node)
	argv := []string{opts.Binary, "node", n.Role, "--config", filepath.Join(nodeDir, "config.json")}
	p, ready, err := startProcess("node "+node, argv, nodeDir, filepath.Join(nodeDir, "node.log"), ns)
	if err != nil {
		return err
	}
	if err := p.awaitReady(ctx, ready, opts.ReadyTimeout); err != nil {
		return err
	}
	// Re-read: another command may have changed the state meanwhile.
	if st, err = ReadState(dir); err != nil {
		return err
	}
	st.NodePIDs[node] = p.cmd.Process.Pid
	return writeState(dir, st)
}
