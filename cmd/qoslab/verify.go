package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/qoslab/qoslab/topology"
	"github.com/qoslab/qoslab/traffic/trace"
)

// newVerifyCmd is `qoslab verify`: check a capture against docs/FLOW.md. Exit
// status 0 when every rule holds, 1 when a check failed, 2 when the
// capture or topology could not be read.
func newVerifyCmd() *cobra.Command {
	var (
		jsonOut      bool
		topoFile     string
		lab          string
		clearinghs   string
		requireMedia bool
		checkLogs    bool
		allowNoCalls bool
		keyLogs      []string
	)
	cmd := &cobra.Command{
		Use:   "verify [<pcapng or lab dir> | --name lab] [--json] [--logs] [--topology file]",
		Short: "Verify a capture: rebuild every call, check docs/FLOW.md order and DSCP marking",
		Long: `verify reads a pcapng capture (or a lab / run directory: capture/lab.pcapng,
else the per-link capture/*.pcapng merged by time), decodes SIP, COPS (0x5153 and
PCMM), OSP and RTP, rebuilds every call, labels each message with its docs/FLOW.md
step and checks every order constraint and DSCP rule. Each failure names the
call, the step, what was expected and seen, the packet number and the link.

Addresses are mapped to nodes with --topology, else the lab.json of a lab
directory, else the built-in topology.

OSP over TLS is read with the sessions' secrets, as Wireshark does with
tls.keylog_file: the tls-keylog.txt beside the capture or in a run
directory, a lab's nodes/*/tls-keylog.txt, and any --tls-keylog file. A
session it cannot read is a failure.

A capture with no call fails unless --allow-no-calls. A capture cut inside
a block (truncated, as after a crash) is verified up to the cut; calls still
going on at the cut are not failed for the steps they lack.

Exit status: 0 all checks hold, 1 a check failed (or no call), 2 the input
could not be read, 3 the capture is cut short and every check on what it
holds passed (verification incomplete).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := inputDir(cmd, args, lab)
			if err != nil {
				return &exitError{2, fmt.Errorf("verify: %w", err)}
			}
			opts := trace.Options{RequireMedia: requireMedia, AllowNoCalls: allowNoCalls}
			switch clearinghs {
			case "auto":
				opts.Clearinghouse = trace.CHAuto
			case "yes":
				opts.Clearinghouse = trace.CHPresent
			case "no":
				opts.Clearinghouse = trace.CHAbsent
			default:
				return &exitError{2, fmt.Errorf("verify: --clearinghouse %q: want auto, yes or no", clearinghs)}
			}
			topo, err := verifyTopology(in, topoFile)
			if err != nil {
				return &exitError{2, err}
			}
			if opts.KeyLog, err = trace.ReadKeyLogs(keyLogs); err != nil {
				return &exitError{2, err}
			}
			if checkLogs {
				if opts.Logs, err = trace.ReadNodeLogs(labDirOf(in)); err != nil {
					return &exitError{2, err}
				}
			}
			rep, err := trace.Verify(cmd.Context(), in, topo, opts)
			if err != nil {
				return &exitError{2, err}
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				err = writeJSON(out, rep)
			} else {
				err = rep.WriteText(out)
			}
			if err != nil {
				return &exitError{2, fmt.Errorf("verify: write report: %w", err)}
			}
			if !rep.OK() {
				return &exitError{1, fmt.Errorf("verify: %d checks failed", len(rep.Failures))}
			}
			if !rep.Complete() {
				return &exitError{exitIncomplete, fmt.Errorf("verify: incomplete: %s", rep.Cut)}
			}
			return nil
		},
	}
	addJSONFlag(cmd, &jsonOut, "the report")
	addNameFlag(cmd, &lab, topology.DefaultLab, "verify this lab's run directory (instead of a path)")
	cmd.Flags().StringVar(&topoFile, "topology", "", "topology file the capture was made with (default: the lab's lab.json, else the built-in topology)")
	cmd.Flags().StringVar(&clearinghs, "clearinghouse", "auto", "whether OSP must be on the wire: auto (decide from the capture), yes or no")
	cmd.Flags().BoolVar(&checkLogs, "logs", false, "also hold the node logs (<lab dir>/nodes/*/node.log) against the capture")
	cmd.Flags().BoolVar(&allowNoCalls, "allow-no-calls", false, "pass a capture that holds no call at all")
	cmd.Flags().StringArrayVar(&keyLogs, "tls-keylog", nil, "TLS key log (NSS format, as Wireshark's tls.keylog_file) to read OSP over TLS; the capture's own tls-keylog.txt and a lab's nodes/*/tls-keylog.txt are read anyway")
	cmd.Flags().BoolVar(&requireMedia, "require-media", true, "require RTP both ways across the core in every admitted call (step 29)")
	return cmd
}

// exitIncomplete is verify's exit status for a capture cut short whose
// readable part passed: not a pass, since checks were left undone.
const exitIncomplete = 3

// verifyTopology finds the topology a capture was made with: a topology
// file, else the lab.json next to the captures, else the built-in one.
func verifyTopology(path, topoFile string) (*trace.Topology, error) {
	if topoFile != "" {
		spec, err := topology.LoadSpec(topoFile)
		if err != nil {
			return nil, err
		}
		plan, err := topology.NewPlan(spec, "verify", roleNames())
		if err != nil {
			return nil, err
		}
		return trace.PlanTopology(plan)
	}
	dir := labDirOf(path)
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if _, err := os.Stat(filepath.Join(d, "lab.json")); err != nil {
			continue
		}
		st, err := topology.ReadState(d)
		if err != nil {
			return nil, err
		}
		if st.Plan == nil {
			return nil, errors.New("verify: lab.json has no plan")
		}
		return trace.PlanTopology(st.Plan)
	}
	return trace.DefaultTopology(), nil
}

// labDirOf is the lab or run directory a capture path belongs to: the
// directory itself, or for capture/<file>.pcapng the directory above.
func labDirOf(path string) string {
	st, err := os.Stat(path)
	if err == nil && st.IsDir() {
		return path
	}
	dir := filepath.Dir(path)
	if filepath.Base(dir) == "capture" {
		return filepath.Dir(dir)
	}
	return dir
}
