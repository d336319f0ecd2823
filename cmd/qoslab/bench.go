package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/qoslab/qoslab/topology"
	"github.com/spf13/cobra"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure qoslab itself",
	}
	cmd.AddCommand(newBenchUpCmd())
	return cmd
}

func newBenchUpCmd() *cobra.Command {
	var file string
	var n int
	cmd := &cobra.Command{
		Use:   "up [-f topo.yaml] [-n 10]",
		Short: "Bring a lab up (all nodes ready) and down n times; report bring-up and teardown times",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := loadSpec(file)
			if err != nil {
				return err
			}
			const lab = "bench"
			var ups, downs []time.Duration
			phases := map[string][]time.Duration{}
			var order []string
			for i := 0; i < n; i++ {
				start := time.Now()
				l, err := topology.Up(cmd.Context(), spec, lab, upOptions(false))
				if err != nil {
					return err
				}
				ups = append(ups, time.Since(start))
				for _, p := range l.Phases {
					if _, seen := phases[p.Name]; !seen {
						order = append(order, p.Name)
					}
					phases[p.Name] = append(phases[p.Name], p.Took)
				}
				start = time.Now()
				if err := l.Down(cmd.Context(), topology.DownOptions{}); err != nil {
					return err
				}
				downs = append(downs, time.Since(start))
			}
			fmt.Printf("lab of %d nodes, %d links, %d runs\n", len(spec.Nodes), len(spec.Links), n)
			fmt.Printf("%-22s %10s %10s %10s\n", "", "median", "p90", "max")
			row := func(name string, d []time.Duration) {
				slices.Sort(d)
				fmt.Printf("%-22s %10v %10v %10v\n", name, pct(d, 50), pct(d, 90), d[len(d)-1].Round(10*time.Microsecond))
			}
			row("up (all nodes ready)", ups)
			for _, name := range order {
				row("  "+name, phases[name])
			}
			row("down", downs)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "topology file (default: the built-in FIG. 5 network)")
	cmd.Flags().IntVarP(&n, "runs", "n", 10, "number of up/down cycles")
	return cmd
}

// pct is the p-th percentile of sorted durations (nearest rank).
func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return sorted[i-1].Round(10 * time.Microsecond)
}
