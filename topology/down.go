package topology

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// DownOptions tune Down.
type DownOptions struct {
	RunRoot string
	// Keep leaves the run directory (captures, logs) in place.
	Keep bool
	// Grace is how long nodes get to exit after SIGTERM before SIGKILL.
	Grace time.Duration
}

// Down stops a lab's processes and removes its namespaces (and with them
// every veth, address, route and nftables rule inside). It works from any
// process, on a lab in any state, and does nothing for a lab that is gone.
func Down(ctx context.Context, lab string, opts DownOptions) error {
	if err := ValidateLabName(lab); err != nil {
		return err
	}
	if opts.RunRoot == "" {
		opts.RunRoot = RunRoot
	}
	if opts.Grace == 0 {
		opts.Grace = 3 * time.Second
	}
	dir := filepath.Join(opts.RunRoot, lab)
	nss, err := labNamespaces(lab)
	if err != nil {
		return err
	}
	var errs []error
	// A mount of /run/netns stacked on it after the lab came up hides the
	// lab's namespaces: make them reachable before anything else, so that
	// their inodes below name the lab's processes and unmounting frees them.
	if _, err := uncoverNamespaces(nss); err != nil {
		errs = append(errs, err)
	}
	inodes := map[uint64]bool{}
	for _, ns := range nss {
		if ino, err := nsInode(filepath.Join(netnsDir, ns)); err == nil {
			inodes[ino] = true
		}
	}
	st, _ := ReadState(dir) // may be missing after a crash: the namespaces still tell

	// Nodes first, so their last words are still captured.
	pids := processesIn(inodes)
	if st != nil {
		for _, pid := range st.NodePIDs {
			if !slices.Contains(pids, pid) && alive(pid) && cmdlineHas(pid, "node", "--config") {
				pids = append(pids, pid)
			}
		}
	}
	if err := stopProcesses(pids, opts.Grace); err != nil {
		errs = append(errs, err)
	}
	if st != nil && st.CapturePID > 0 && alive(st.CapturePID) && cmdlineHas(st.CapturePID, "capture", lab) {
		if err := stopProcesses([]int{st.CapturePID}, opts.Grace); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, deleteNamespaces(nss))
	switch {
	case !opts.Keep:
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("topology: remove %s: %w", dir, err))
		}
	case st != nil && st.Phase != PhaseKept:
		// Say so in lab.json: status shows a kept lab as down, and `up`
		// refuses to wipe it.
		st.Phase, st.Downed = PhaseKept, time.Now().UTC()
		if err := writeState(dir, st); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// deleteNamespaces removes namespaces in parallel: each unmount waits for
// the kernel (an RCU grace period), so in sequence they add up.
func deleteNamespaces(nss []string) error {
	errs := make([]error, len(nss))
	var wg sync.WaitGroup
	for i, ns := range nss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = deleteNamespace(ns)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Labs lists every lab on this machine: those with namespaces and those
// with a run directory (a lab whose `up` crashed may have only one).
func Labs(runRoot string) ([]string, error) {
	if runRoot == "" {
		runRoot = RunRoot
	}
	nss, err := labNamespaces("")
	if err != nil {
		return nil, err
	}
	var labs []string
	for _, ns := range nss {
		if lab, _, ok := parseNamespaceName(ns); ok && !slices.Contains(labs, lab) {
			labs = append(labs, lab)
		}
	}
	entries, err := os.ReadDir(runRoot)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("topology: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() && ValidateLabName(e.Name()) == nil && !slices.Contains(labs, e.Name()) {
			labs = append(labs, e.Name())
		}
	}
	slices.Sort(labs)
	return labs, nil
}

// DownAll takes down every lab on the machine, including stale ones left
// by a crashed run.
func DownAll(ctx context.Context, opts DownOptions) error {
	labs, err := Labs(opts.RunRoot)
	if err != nil {
		return err
	}
	var errs []error
	for _, lab := range labs {
		if err := Down(ctx, lab, opts); err != nil {
			errs = append(errs, fmt.Errorf("lab %s: %w", lab, err))
		}
	}
	return errors.Join(errs...)
}

// Down takes this lab down and reaps the processes this process started.
func (l *Lab) Down(ctx context.Context, opts DownOptions) error {
	opts.RunRoot = filepath.Dir(l.Dir)
	err := Down(ctx, l.Plan.Lab, opts)
	for _, p := range l.procs {
		select {
		case <-p.done:
		case <-time.After(time.Second):
		}
	}
	return err
}

// StopCapture ends a lab's capture and waits until its files are complete,
// leaving the lab itself running. Stopping twice is fine.
func StopCapture(ctx context.Context, lab, runRoot string) error {
	if runRoot == "" {
		runRoot = RunRoot
	}
	st, err := ReadState(filepath.Join(runRoot, lab))
	if err != nil {
		return err
	}
	if st.CapturePID <= 0 || !alive(st.CapturePID) || !cmdlineHas(st.CapturePID, "capture", lab) {
		return nil
	}
	return stopProcesses([]int{st.CapturePID}, 5*time.Second)
}
