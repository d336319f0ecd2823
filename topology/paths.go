package topology

import "path/filepath"

// RunRoot is where labs keep their run directories. It is on tmpfs, like
// the namespaces themselves: a reboot removes both together.
const RunRoot = "/run/qoslab"

// DefaultLab is the lab name used when none is given.
const DefaultLab = "default"

// RunDir is the run directory of a lab.
func RunDir(lab string) string { return filepath.Join(RunRoot, lab) }

// NodeDir is a node's private directory inside a lab's run directory.
func NodeDir(labDir, node string) string { return filepath.Join(labDir, "nodes", node) }

// ControlSocket is the unix socket a node that takes commands listens on.
func ControlSocket(labDir, node string) string {
	return filepath.Join(NodeDir(labDir, node), "control.sock")
}
