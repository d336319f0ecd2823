package topology

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// process is one started child: a node or the capture.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when Wait returned (we reap our children)
}

// startProcess starts argv with its stdout/stderr appended to logPath and
// a readiness pipe on fd 3, inside ns when ns is valid (the child inherits
// the namespace of the thread that forks it). The child gets a session of
// its own so that it outlives this command and a Ctrl-C of it.
func startProcess(name string, argv []string, dir, logPath string, ns netns.NsHandle) (*process, *os.File, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("topology: %s: log: %w", name, err)
	}
	defer logf.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("topology: %s: pipe: %w", name, err)
	}
	defer readyW.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.ExtraFiles = []*os.File{readyW} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	start := cmd.Start
	if ns.IsOpen() {
		start = func() error { return inNamespace(ns, cmd.Start) }
	}
	if err := start(); err != nil {
		readyR.Close()
		return nil, nil, fmt.Errorf("topology: %s: start: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, readyR, nil
}

// awaitReady waits for the child's "ready" line. If the child exits or the
// timeout passes first, the error quotes the end of its log.
func (p *process) awaitReady(ctx context.Context, ready *os.File, timeout time.Duration) error {
	defer ready.Close()
	_ = ready.SetReadDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { _ = ready.SetReadDeadline(time.Now()) })
	defer stop()
	line, err := bufio.NewReader(ready).ReadString('\n')
	if err == nil && strings.TrimSpace(line) == "ready" {
		return nil
	}
	why := "exited before it was ready"
	switch {
	case ctx.Err() != nil:
		why = "interrupted: " + ctx.Err().Error()
	case os.IsTimeout(err):
		why = fmt.Sprintf("not ready after %v", timeout)
	}
	return fmt.Errorf("topology: %s %s; last log lines (%s):\n%s", p.name, why, p.log, tail(p.log, 8))
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "  (no log)"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + string(bytes.Join(lines, []byte("\n  ")))
}

// writeNodeConfig writes a node's config file and returns its path.
func writeNodeConfig(p *Plan, n *PlannedNode, labDir string) (string, error) {
	cfg := p.NodeConfig(n, labDir)
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return "", fmt.Errorf("topology: %s: %w", n.Name, err)
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return "", fmt.Errorf("topology: %s: config: %w", n.Name, err)
	}
	path := filepath.Join(cfg.Dir, "config.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return "", fmt.Errorf("topology: %s: config: %w", n.Name, err)
	}
	return path, nil
}
