package main

import (
	"github.com/qoslab/qoslab/topology"
	"github.com/spf13/cobra"
)

func newStopCmd() *cobra.Command {
	var name string
	var kill bool
	cmd := &cobra.Command{
		Use:               "stop <node> [--name lab] [--kill]",
		Short:             "Stop one node of a running lab (SIGTERM, or SIGKILL with --kill); its links and captures stay",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNodes(&name),
		RunE: func(cmd *cobra.Command, args []string) error {
			return topology.StopNode(name, args[0], kill, "")
		},
	}
	addNameFlag(cmd, &name, topology.DefaultLab, "lab name")
	cmd.Flags().BoolVar(&kill, "kill", false, "SIGKILL: a crash, no clean shutdown")
	return cmd
}

func newStartCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:               "start <node> [--name lab]",
		Short:             "Start a stopped node of a running lab again and wait until it is ready",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNodes(&name),
		RunE: func(cmd *cobra.Command, args []string) error {
			return topology.StartNode(cmd.Context(), name, args[0], upOptions(false))
		},
	}
	addNameFlag(cmd, &name, topology.DefaultLab, "lab name")
	return cmd
}
