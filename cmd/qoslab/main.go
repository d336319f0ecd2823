// Command qoslab builds network-namespace labs that reproduce the SIP + COPS
// + OSP flows of patent WO 01/35294, runs one real process per node, captures
// every link and verifies the captures. This package holds flags and
// subcommands only; the logic lives in topology, nodes, traffic and protocol.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signalContext()
	root := newRootCmd()
	cmd, err := root.ExecuteContextC(ctx)
	// Nodes and the capture (hidden commands) end on SIGTERM by design:
	// that is `down`, not an interruption.
	if sig, ok := interrupted(ctx); ok && !cmd.Hidden {
		// The command has cleaned up: say so, with the shell's status
		// for a signal (130 for Ctrl-C, 141 for a closed pipe).
		if err != nil {
			fmt.Fprintln(os.Stderr, "qoslab:", err)
		} else {
			fmt.Fprintln(os.Stderr, "qoslab:", sig)
		}
		stop()
		os.Exit(sig.exitStatus())
	}
	stop()
	if err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "qoslab:", msg)
		}
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
		Version:       buildVersion().String(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(subcommands()...)
	// Made here rather than on Execute, so that the command tree is whole
	// for the README test too.
	root.InitDefaultCompletionCmd()
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
		newGatesCmd(),
		newVersionCmd(),
	}
}
