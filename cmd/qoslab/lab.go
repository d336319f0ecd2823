package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qoslab/qoslab/protocol/osp"
	"github.com/qoslab/qoslab/topology"
	"github.com/spf13/cobra"
)

// roleNames lists the registered roles, sorted, for topology validation.
func roleNames() []string {
	var out []string
	for r := range roles() {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// loadSpec reads -f or the built-in topology.
func loadSpec(file string) (*topology.Spec, error) {
	if file == "" {
		return topology.DefaultSpec()
	}
	return topology.LoadSpec(file)
}

// labName picks --name, then the spec's name, then "default".
func labName(flag string, spec *topology.Spec) string {
	switch {
	case flag != "":
		return flag
	case spec != nil && spec.Name != "":
		return spec.Name
	}
	return topology.DefaultLab
}

func upOptions(verbose bool) topology.Options {
	opts := topology.Options{Roles: roleNames(), Prepare: prepareLab}
	if verbose {
		opts.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return opts
}

// prepareLab generates what nodes need before they start: the lab PKI
// (a CA, and a certificate per node for OSP token signing and mutual TLS).
func prepareLab(ctx context.Context, labDir string, p *topology.Plan) error {
	names := make([]string, 0, len(p.Nodes))
	for _, n := range p.Nodes {
		names = append(names, n.Name)
	}
	return osp.WriteLabPKI(filepath.Join(labDir, "pki"), names)
}

func newUpCmd() *cobra.Command {
	var file, name string
	var verbose bool
	var hangAfter string
	var sets []string
	cmd := &cobra.Command{
		Use:   "up [-f topo.yaml] [--name lab]",
		Short: "Build a lab: namespaces, links, captures, one node process per namespace",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := loadSpec(file)
			if err != nil {
				return err
			}
			if err := spec.ApplySets(sets); err != nil {
				return err
			}
			lab := labName(name, spec)
			start := time.Now()
			opts := upOptions(verbose)
			if hangAfter != "" {
				// Test hook: stop half-way so that a test can kill -9 us
				// and check that `down --all` still removes everything.
				// A signal ends the hang, as it would end a slow phase.
				opts.AfterPhase = func(phase string) {
					if phase == hangAfter {
						fmt.Fprintf(os.Stderr, "hanging after phase %s\n", phase)
						<-cmd.Context().Done()
					}
				}
			}
			l, err := topology.Up(cmd.Context(), spec, lab, opts)
			if sig, ok := interrupted(cmd.Context()); ok {
				// A signal before up returned means no lab: Up rolled back
				// what it made, or it had just finished.
				if err == nil {
					err = l.Down(context.WithoutCancel(cmd.Context()), topology.DownOptions{})
				}
				if gone, _ := topology.Labs(""); err == nil || !slices.Contains(gone, lab) {
					return fmt.Errorf("up: %s during bring-up: lab %s rolled back", sig, lab)
				}
				return err
			}
			if err != nil {
				return err
			}
			fmt.Printf("lab %s up: %d nodes, %d links in %v (run directory %s)\n",
				lab, len(l.Plan.Nodes), len(l.Plan.Links), time.Since(start).Round(time.Millisecond), l.Dir)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "topology file (default: the built-in FIG. 5 network)")
	cmd.Flags().StringVar(&name, "name", "", "lab name (default: the topology's name, else \"default\")")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log each bring-up phase with its duration")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a role parameter: node.key=value (repeatable), e.g. --set pol1.mode=no-ch")
	cmd.Flags().StringVar(&hangAfter, "hang-after", "", "test hook: hang after the named bring-up phase")
	_ = cmd.Flags().MarkHidden("hang-after")
	return cmd
}

func newDownCmd() *cobra.Command {
	var name string
	var all, keep bool
	cmd := &cobra.Command{
		Use:   "down [--name lab | --all]",
		Short: "Stop a lab's processes and remove its namespaces; idempotent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := topology.DownOptions{Keep: keep}
			if all {
				if name != "" {
					return fmt.Errorf("down: --all and --name exclude each other")
				}
				return topology.DownAll(cmd.Context(), opts)
			}
			if name == "" {
				name = topology.DefaultLab
			}
			return topology.Down(cmd.Context(), name, opts)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "lab name (default \"default\")")
	cmd.Flags().BoolVar(&all, "all", false, "take down every qoslab lab on this machine, including stale ones")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the run directory (captures, logs)")
	return cmd
}

func newStatusCmd() *cobra.Command {
	var name string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "status [--name lab] [--json]",
		Short: "List labs (or one lab) with their nodes, pids and capture",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			labs := []string{name}
			if name == "" {
				var err error
				if labs, err = topology.Labs(""); err != nil {
					return err
				}
			}
			var all []*topology.Status
			for _, lab := range labs {
				st, err := topology.LabStatus(lab, "")
				if err != nil {
					return fmt.Errorf("status: lab %s: %w", lab, err)
				}
				if name != "" && st.Phase == "" && len(st.Nodes) == 0 {
					return fmt.Errorf("status: no lab %q on this machine%s", name, labList())
				}
				all = append(all, st)
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				return writeJSON(out, all)
			}
			if len(all) == 0 {
				fmt.Fprintln(out, "no labs")
			}
			for _, st := range all {
				printStatus(out, st)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "show only this lab (default: every lab on the machine)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the status as JSON (a list of labs)")
	return cmd
}

func printStatus(w io.Writer, st *topology.Status) {
	fmt.Fprintf(w, "lab %s: %s (run directory %s)\n", st.Lab, st.Health, st.Dir)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NODE\tROLE\tADDRESS\tNAMESPACE\tPID\tSTATE")
	for _, n := range st.Nodes {
		pid := "-"
		if n.PID > 0 {
			pid = fmt.Sprint(n.PID)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Role, n.Addr, n.Namespace, pid, n.State)
	}
	tw.Flush()
	if st.Capture != "" {
		fmt.Fprintf(w, "  capture: %s\n", st.Capture)
	}
}

// labList names the labs on the machine, for errors about a missing one.
func labList() string {
	labs, err := topology.Labs("")
	if err != nil || len(labs) == 0 {
		return " (there is none; `qoslab up` starts one)"
	}
	return fmt.Sprintf(" (labs here: %s)", strings.Join(labs, ", "))
}

// writeJSON prints v indented, as every --json output is.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // keep "->" readable
	return enc.Encode(v)
}

func newExecCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "exec <node> -- <command> [args...]",
		Short: "Run a command inside a node's network namespace (like ip netns exec)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				name = topology.DefaultLab
			}
			code, err := topology.Exec(cmd.Context(), name, args[0], args[1:], os.Stdin, os.Stdout, os.Stderr)
			if err != nil {
				return err
			}
			if code != 0 {
				return &exitError{code: code} // the command spoke for itself
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "lab name (default \"default\")")
	return cmd
}
