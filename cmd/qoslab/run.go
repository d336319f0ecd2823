package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/qoslab/qoslab/demo"
	"github.com/spf13/cobra"
)

func newRunCmd() *cobra.Command {
	var opts demo.Options
	var file string
	var sets []string
	cmd := &cobra.Command{
		Use:   "run [--out DIR] [-f topo.yaml] [--name demo] [--set node.key=value]... [--talk 3s] [--ring 200ms] [--expect-refused]",
		Short: "The demo: lab up, one call with RTP, teardown, probes, verify, ladders, lab down",
		Long: `run brings up the built-in FIG. 5 lab, places a call from uac to uas with RTP
both ways, hangs up, sends probe packets on the call's 5-tuple after teardown,
stops the captures, verifies them against docs/FLOW.md (message order and DSCP per
link and phase), draws the ladders and takes the lab down. Everything lands in
the run directory: per-link pcaps, the merged pcapng, node logs, report.txt and
report.json, ladder SVG/HTML/Mermaid and the topology as DOT.

Exit status: 0 when the call was answered and verification passed, 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Ring != "" {
				if d, err := time.ParseDuration(opts.Ring); err != nil || d < 0 {
					return fmt.Errorf("run: --ring %q: want a duration such as 200ms or 0s", opts.Ring)
				}
			}
			if opts.Probes < 0 {
				return fmt.Errorf("run: --probes %d: want 0 or more", opts.Probes)
			}
			spec, err := loadSpec(file, sets)
			if err != nil {
				return err
			}
			opts.Up = upOptions(false)
			opts.Progress = cmd.OutOrStdout()
			res, err := demo.Run(cmd.Context(), spec, opts)
			if sig, ok := interrupted(cmd.Context()); ok && res != nil {
				return fmt.Errorf("run: %s: lab %s taken down; what the run captured is in %s (run.json says where it stopped)", sig, opts.Lab, res.Dir)
			}
			if res != nil && res.Report != nil {
				fmt.Println()
				_ = res.Report.WriteText(os.Stdout)
			}
			if err != nil {
				return err
			}
			abs, _ := filepath.Abs(res.Dir)
			fmt.Printf("\nrun directory: %s\n", abs)
			fmt.Printf("  capture/lab.pcapng     all links, one interface per link (wireshark -r it)\n")
			fmt.Printf("  capture/<link>.pcapng  one file per link\n")
			fmt.Printf("  report.txt, report.json, ladders.html, ladder-1.svg, topology.dot, nodes/*/node.log\n")
			fmt.Printf("  nodes/*/usage.db       the usage records (qoslab cdr %s)\n", res.Dir)
			fmt.Printf("  run.json               how the run ended\n")
			if !res.OK() {
				return &exitError{code: 1, err: fmt.Errorf("run: verification failed or the call did not end as expected (see %s)", filepath.Join(abs, "report.txt"))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.OutDir, "out", "", "run directory (default runs/<UTC time>)")
	addNameFlag(cmd, &opts.Lab, "demo", "lab name")
	addFileFlag(cmd, &file)
	addSetFlag(cmd, &sets)
	cmd.Flags().DurationVar(&opts.Talk, "talk", 3*time.Second, "talk time")
	cmd.Flags().StringVar(&opts.Ring, "ring", "", "UAS ring time (0s: 200 without 180; default: the UAS's ring parameter, 200ms)")
	cmd.Flags().IntVar(&opts.Probes, "probes", 5, "probe packets sent on the call's 5-tuple after teardown")
	cmd.Flags().BoolVar(&opts.ExpectRefused, "expect-refused", false, "the call is meant to be refused (e.g. --set ch.policy='deny uac -> uas'): pass when it is")
	return cmd
}
