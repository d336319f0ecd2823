package topology

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/qoslab/qoslab/nodes"
	"github.com/vishvananda/netns"
	"golang.org/x/sync/errgroup"
)

// Options tune Up and Down.
type Options struct {
	// Binary is the qoslab executable that runs nodes and the capture
	// (`qoslab node ...`, `qoslab capture ...`). Default: this executable.
	Binary string
	// Roles are the roles a spec may use.
	Roles []string
	// RunRoot holds the labs' run directories. Default RunRoot.
	RunRoot string
	// ReadyTimeout bounds the wait for each node's readiness signal.
	ReadyTimeout time.Duration
	// NoCapture skips the link captures.
	NoCapture bool
	// Prepare runs after the namespaces and links exist and before any
	// process starts, with the lab's run directory and its nodes (role,
	// address, parameters) by name (nodes.PrepareLab writes the lab PKI
	// there).
	Prepare func(labDir string, lab map[string]nodes.NodeInfo) error
	// Log receives one line per phase with its duration (nil: silent).
	Log *slog.Logger
	// AfterPhase, if set, is called after each phase (progress display;
	// the crash tests use it to stop `up` half-way).
	AfterPhase func(name string)
}

func (o *Options) defaults() error {
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("topology: find qoslab binary: %w", err)
		}
		o.Binary = exe
	}
	if o.RunRoot == "" {
		o.RunRoot = RunRoot
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 10 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Lab is a lab this process brought up.
type Lab struct {
	Plan   *Plan
	Dir    string
	Phases []Phase // how long each bring-up phase took
	procs  []*process
}

// Phase is one named step of bring-up with its duration.
type Phase struct {
	Name string
	Took time.Duration
}

// ErrLabExists is returned by Up when the lab is already up.
var ErrLabExists = errors.New("lab already exists")

// Up builds the lab in phases: plan -> namespaces -> links -> addresses and
// routes -> prepare -> capture -> nodes -> ready. Any failure rolls back
// everything done so far, so a failed Up leaves nothing behind.
func Up(ctx context.Context, spec *Spec, lab string, opts Options) (_ *Lab, err error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	plan, err := NewPlan(spec, lab, opts.Roles)
	if err != nil {
		return nil, err
	}
	if existing, _ := labNamespaces(lab); len(existing) > 0 {
		return nil, fmt.Errorf("topology: lab %q: %w (namespaces %v); run `qoslab down --name %s` first", lab, ErrLabExists, existing, lab)
	}
	dir := filepath.Join(opts.RunRoot, lab)
	// What `down --keep` kept is somebody's data: never wipe it. Any other
	// run directory without namespaces is the remains of a crashed `up`.
	if old, err := ReadState(dir); err == nil && old.Phase == PhaseKept {
		return nil, fmt.Errorf("topology: lab %q: %s holds what the lab left when `down --keep` took it down at %s (captures, logs, usage records); copy what you need, then `qoslab down --name %s` removes it, or choose another --name",
			lab, dir, old.Downed.Format(time.RFC3339), lab)
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("topology: clear %s: %w", dir, err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "nodes"), filepath.Join(dir, "capture")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("topology: %w", err)
		}
	}
	l := &Lab{Plan: plan, Dir: dir}
	st := &State{Lab: lab, Spec: spec.File(), Phase: PhaseBuilding, Created: time.Now().UTC(), Plan: plan, NodePIDs: map[string]int{}}
	if err := writeState(dir, st); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			opts.Log.Warn("bring-up failed, rolling back", "lab", lab, "err", err)
			if derr := Down(context.WithoutCancel(ctx), lab, DownOptions{RunRoot: opts.RunRoot}); derr != nil {
				err = errors.Join(err, fmt.Errorf("rollback: %w", derr))
			}
		}
	}()
	phase := func(name string, fn func() error) error {
		start := time.Now()
		if err := fn(); err != nil {
			return err
		}
		took := time.Since(start)
		l.Phases = append(l.Phases, Phase{name, took})
		opts.Log.Info("phase", "lab", lab, "phase", name, "took", took)
		if opts.AfterPhase != nil {
			opts.AfterPhase(name)
		}
		return ctx.Err()
	}

	handles := make(map[string]netns.NsHandle, len(plan.Nodes))
	defer func() {
		for _, h := range handles {
			h.Close()
		}
	}()
	if err := phase("namespaces", func() error { return createNamespaces(ctx, plan, handles) }); err != nil {
		return nil, err
	}
	if err := phase("links", func() error { return createLinks(ctx, plan, handles) }); err != nil {
		return nil, err
	}
	if err := phase("addresses+routes", func() error { return configureNodes(ctx, plan, handles) }); err != nil {
		return nil, err
	}
	if opts.Prepare != nil {
		if err := phase("prepare", func() error { return opts.Prepare(dir, plan.NodeInfos()) }); err != nil {
			return nil, err
		}
	}
	if !opts.NoCapture {
		if err := phase("capture", func() error { return l.startCapture(ctx, opts, st) }); err != nil {
			return nil, err
		}
	}
	if err := phase("nodes", func() error { return l.startNodes(ctx, opts, handles, st) }); err != nil {
		return nil, err
	}
	st.Phase = PhaseUp
	if err := writeState(dir, st); err != nil {
		return nil, err
	}
	return l, nil
}

func createNamespaces(ctx context.Context, plan *Plan, handles map[string]netns.NsHandle) error {
	if err := ensureNetnsDir(); err != nil {
		return err
	}
	var mu sync.Mutex
	g, _ := errgroup.WithContext(ctx)
	for _, n := range plan.Nodes {
		g.Go(func() error {
			h, err := createNamespace(n.Namespace, n.Role == RoleRouter)
			if err != nil {
				return err
			}
			mu.Lock()
			handles[n.Name] = h
			mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

func createLinks(ctx context.Context, plan *Plan, handles map[string]netns.NsHandle) error {
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, link := range plan.Links {
		g.Go(func() error { return createLink(link, handles[link.A.Node], handles[link.B.Node]) })
	}
	return g.Wait()
}

func configureNodes(ctx context.Context, plan *Plan, handles map[string]netns.NsHandle) error {
	g, _ := errgroup.WithContext(ctx)
	for i := range plan.Nodes {
		n := &plan.Nodes[i]
		g.Go(func() error {
			if err := inNamespace(handles[n.Name], func() error { return configureNode(n) }); err != nil {
				return fmt.Errorf("topology: configure %s: %w", n.Name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// startNodes starts every node process in its namespace, all at once, and
// waits until each has reported ready.
func (l *Lab) startNodes(ctx context.Context, opts Options, handles map[string]netns.NsHandle, st *State) error {
	type started struct {
		p     *process
		ready *os.File
	}
	all := make([]started, 0, len(l.Plan.Nodes))
	for i := range l.Plan.Nodes {
		n := &l.Plan.Nodes[i]
		cfg, err := writeNodeConfig(l.Plan, n, l.Dir)
		if err != nil {
			return err
		}
		argv := []string{opts.Binary, "node", n.Role, "--config", cfg}
		p, ready, err := startProcess("node "+n.Name, argv, NodeDir(l.Dir, n.Name), filepath.Join(NodeDir(l.Dir, n.Name), "node.log"), handles[n.Name])
		if err != nil {
			for _, s := range all {
				s.ready.Close()
			}
			return err
		}
		l.procs = append(l.procs, p)
		st.NodePIDs[n.Name] = p.cmd.Process.Pid
		all = append(all, started{p, ready})
	}
	if err := writeState(l.Dir, st); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range all {
		g.Go(func() error { return s.p.awaitReady(gctx, s.ready, opts.ReadyTimeout) })
	}
	return g.Wait()
}

// startCapture starts `qoslab capture` for this lab and waits until every
// link's socket is open, so no packet of any node is missed.
func (l *Lab) startCapture(ctx context.Context, opts Options, st *State) error {
	argv := []string{opts.Binary, "capture", "--lab", l.Plan.Lab, "--dir", l.Dir}
	p, ready, err := startProcess("capture", argv, l.Dir, filepath.Join(l.Dir, "capture", "capture.log"), netns.None())
	if err != nil {
		return err
	}
	l.procs = append(l.procs, p)
	st.CapturePID = p.cmd.Process.Pid
	if err := writeState(l.Dir, st); err != nil {
		ready.Close()
		return err
	}
	return p.awaitReady(ctx, ready, opts.ReadyTimeout)
}
