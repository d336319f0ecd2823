package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/qoslab/qoslab/topology"
	"github.com/spf13/cobra"
)

// The flag vocabulary every subcommand shares: --name is the lab, --json
// prints what a script would parse. Each helper registers a flag with its
// shell completion.

// addNameFlag adds --name (the lab), completed with the labs on the machine.
func addNameFlag(cmd *cobra.Command, name *string, def, usage string) {
	cmd.Flags().StringVar(name, "name", def, usage)
	_ = cmd.RegisterFlagCompletionFunc("name", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		labs, _ := topology.Labs("")
		return labs, cobra.ShellCompDirectiveNoFileComp
	})
}

// addJSONFlag adds --json.
func addJSONFlag(cmd *cobra.Command, v *bool, what string) {
	cmd.Flags().BoolVar(v, "json", false, "print "+what+" as JSON")
}

// addFileFlag adds -f/--file, a topology file, completed with YAML files.
func addFileFlag(cmd *cobra.Command, file *string) {
	cmd.Flags().StringVarP(file, "file", "f", "", "topology file (default: the built-in FIG. 5 network)")
	_ = cmd.MarkFlagFilename("file", "yaml", "yml")
}

// nodesOf lists the nodes of a lab with one of roles (all when none),
// for completion; nothing when the lab is not up.
func nodesOf(lab string, roles ...string) []string {
	st, err := topology.OpenLab(lab, "")
	if err != nil {
		return nil
	}
	return st.Plan.NodesOfRole(roles...)
}

// completeNodes completes a node-name argument from the lab --name names.
func completeNodes(lab *string, roles ...string) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return nodesOf(*lab, roles...), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeNodeFlag completes a flag that names a node of the lab.
func completeNodeFlag(cmd *cobra.Command, flag string, lab *string, roles ...string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return nodesOf(*lab, roles...), cobra.ShellCompDirectiveNoFileComp
	})
}

// completeWords completes a flag with fixed values.
func completeWords(cmd *cobra.Command, flag string, words ...string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(words, cobra.ShellCompDirectiveNoFileComp))
}

// labNode checks that a lab is up and has the node, with one of roles when
// given: the error says which of the three is wrong.
func labNode(lab, node string, roles ...string) (*topology.PlannedNode, error) {
	st, err := topology.OpenLab(lab, "")
	if err != nil {
		return nil, err
	}
	return st.Plan.RoleNode(node, roles...)
}

// atLeastOne refuses counts below 1 (-n 0, --parallel 0) instead of
// taking them as 1.
func atLeastOne(flag string, v int) error {
	if v < 1 {
		return fmt.Errorf("--%s %d: want 1 or more", flag, v)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// oneOf checks a flag value against the values it takes.
func oneOf(flag, v string, values ...string) error {
	if slices.Contains(values, v) {
		return nil
	}
	return fmt.Errorf("--%s %q: want %s", flag, v, strings.Join(values, ", "))
}

// stderrf prints a note for people on standard error.
func stderrf(format string, args ...any) { fmt.Fprintf(os.Stderr, format, args...) }

// inputDir is the capture or directory verify, ladder and cdr read: the
// argument, else the run directory of the lab --name names.
func inputDir(cmd *cobra.Command, args []string, lab string) (string, error) {
	if len(args) == 1 {
		if cmd.Flags().Changed("name") {
			return "", fmt.Errorf("a path and --name exclude each other")
		}
		return args[0], nil
	}
	if _, err := topology.ReadState(topology.RunDir(lab)); err != nil {
		_, err := topology.OpenLab(lab, "")
		if err == nil {
			err = fmt.Errorf("lab %s has no run directory", lab)
		}
		return "", err
	}
	return topology.RunDir(lab), nil
}
