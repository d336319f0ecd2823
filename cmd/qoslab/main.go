// Command qoslab builds network-namespace labs that reproduce the SIP + COPS
// + OSP flows of patent WO 01/35294, runs one real process per node, captures
// every link and verifies the captures. This package holds flags and
// subcommands only; the logic lives in topology, nodes, traffic and protocol.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	if err := root.ExecuteContext(ctx); err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "qoslab:", msg)
		}
		stop()
		os.Exit(exitCode(err))
	}
}

// exitError carries a specific exit status (verify uses 1 for "checks
// failed" as distinct from 2 for "could not run").
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if e, ok := err.(*exitError); ok {
		return e.code
	}
	return 1
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "qoslab",
		Short:         "Network-namespace testbed for SIP + COPS + OSP QoS call setup (WO 01/35294)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(subcommands()...)
	return root
}

// subcommands lists every subcommand; each lives in its own file.
func subcommands() []*cobra.Command {
	return []*cobra.Command{
		newUpCmd(),
		newDownCmd(),
		newStatusCmd(),
		newExecCmd(),
		newStopCmd(),
		newStartCmd(),
		newNodeCmd(),
		newCaptureCmd(),
		newBenchCmd(),
		newRunCmd(),
		newCallCmd(),
		newCDRCmd(),
		newVerifyCmd(),
		newLadderCmd(),
	}
}
