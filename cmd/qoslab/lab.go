package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qoslab/qoslab/nodes"
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

// loadSpec reads -f or the built-in topology and applies --set.
func loadSpec(file string, sets []string) (*topology.Spec, error) {
	spec, err := topology.DefaultSpec()
	if file != "" {
		spec, err = topology.LoadSpec(file)
	}
	if err != nil {
		return nil, err
	}
	if err := spec.ApplySets(sets); err != nil {
		return nil, err
	}
	return spec, nil
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
	opts := topology.Options{Roles: roleNames(), Prepare: nodes.PrepareLab}
	if verbose {
		opts.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return opts
}

// addSetFlag adds --set node.key=value.
func addSetFlag(cmd *cobra.Command, sets *[]string) {
	cmd.Flags().StringArrayVar(sets, "set", nil, "override a role parameter: node.key=value (repeatable), e.g. --set pol1.mode=no-ch")
}

func newUpCmd() *cobra.Command {
	var file, name string
	var verbose bool
	var hangAfter string
	var sets []string
	cmd := &cobra.Command{
		Use:   "up [-f topo.yaml] [--name lab] [--set node.key=value]... [-v]",
		Short: "Build a lab: namespaces, links, captures, one node process per namespace",
		Long: `up builds a lab: one network namespace per node, veths, addresses and routes,
a capture on every link and one qoslab node process per namespace, and returns
once every node is ready. A failed up, or one interrupted by a signal, rolls
back everything it made.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := loadSpec(file, sets)
			if err != nil {
				return err
			}
			lab := labName(name, spec)
			start := time.Now()
			opts := upOptions(verbose)
			if hangAfter != "" {
				// Test hook: stop half-way so that a test can kill us and
				// check the cleanup. A signal ends the hang, as it would
				// end a slow phase.
				opts.AfterPhase = func(phase string) {
					if phase == hangAfter {
						stderrf("hanging after phase %s\n", phase)
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
			fmt.Fprintf(cmd.OutOrStdout(), "lab %s up: %d nodes, %d links in %v (run directory %s)\n",
				lab, len(l.Plan.Nodes), len(l.Plan.Links), time.Since(start).Round(time.Millisecond), l.Dir)
			return nil
		},
	}
	addFileFlag(cmd, &file)
	addNameFlag(cmd, &name, "", "lab name (default: the topology's name, else \"default\")")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log each bring-up phase with its duration")
	addSetFlag(cmd, &sets)
	cmd.Flags().StringVar(&hangAfter, "hang-after", "", "test hook: hang after the named bring-up phase")
	_ = cmd.Flags().MarkHidden("hang-after")
	return cmd
}

func newDownCmd() *cobra.Command {
	var name string
	var all, keep bool
	cmd := &cobra.Command{
		Use:   "down [--name lab | --all] [--keep]",
		Short: "Stop a lab's processes and remove its namespaces; idempotent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := topology.DownOptions{Keep: keep}
			if all {
				if cmd.Flags().Changed("name") {
					return fmt.Errorf("down: --all and --name exclude each other")
				}
				return topology.DownAll(cmd.Context(), opts)
			}
			return topology.Down(cmd.Context(), name, opts)
		},
	}
	addNameFlag(cmd, &name, topology.DefaultLab, "lab name")
	cmd.Flags().BoolVar(&all, "all", false, "take down every qoslab lab on this machine, including stale ones")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the run directory (captures, logs, usage records); status shows the lab as down, kept")
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
			all := []*topology.Status{}
			for _, lab := range labs {
				st, err := topology.LabStatus(lab, "")
				if err != nil {
					return fmt.Errorf("status: lab %s: %w", lab, err)
				}
				if name != "" && st.Phase == "" && len(st.Nodes) == 0 {
					_, err := topology.OpenLab(name, "")
					return fmt.Errorf("status: %w", err)
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
	addNameFlag(cmd, &name, "", "show only this lab (default: every lab on the machine)")
	addJSONFlag(cmd, &jsonOut, "the status (a list of labs)")
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
		Use:   "exec [--name lab] <node> [--] <command> [args...]",
		Short: "Run a command inside a node's network namespace (like ip netns exec)",
		Long: `exec runs a command inside a node's network namespace, like ip netns exec
or docker exec. Everything after the node name is the command, flags included:
qoslab exec r1 nft list ruleset, qoslab exec uac ip -br addr. Flags of exec
itself (--name) go before the node.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeNodes(&name),
		RunE: func(cmd *cobra.Command, args []string) error {
			node, argv := args[0], args[1:]
			if len(argv) > 0 && argv[0] == "--" {
				argv = argv[1:]
			}
			if _, err := labNode(name, node); err != nil {
				return fmt.Errorf("exec: %w", err)
			}
			if len(argv) == 0 {
				return fmt.Errorf("exec: no command to run in %s: qoslab exec %s -- <command> [args...]", node, node)
			}
			if strings.HasPrefix(argv[0], "-") {
				return fmt.Errorf("exec: %q is not a command: flags of exec go before the node (qoslab exec --name lab %s -- <command>)", argv[0], node)
			}
			code, err := topology.Exec(cmd.Context(), name, node, argv, os.Stdin, os.Stdout, os.Stderr)
			if err != nil {
				return err
			}
			if code != 0 {
				return &exitError{code: code} // the command spoke for itself
			}
			return nil
		},
	}
	// Everything after the node is the command's: `exec uac ip -br addr`.
	cmd.Flags().SetInterspersed(false)
	addNameFlag(cmd, &name, topology.DefaultLab, "lab name")
	return cmd
}
