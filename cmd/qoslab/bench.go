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
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newBenchUpCmd())
	return cmd
}

// benchRow is one measured quantity of `bench up`.
type benchRow struct {
	What     string  `json:"what"`
	MedianMs float64 `json:"median_ms"`
	P90Ms    float64 `json:"p90_ms"`
	MaxMs    float64 `json:"max_ms"`
}

// benchResult is what `bench up --json` prints.
type benchResult struct {
	Lab   string     `json:"lab"`
	Nodes int        `json:"nodes"`
	Links int        `json:"links"`
	Runs  int        `json:"runs"`
	Rows  []benchRow `json:"rows"` // up, its phases ("  namespaces", ...), down
}

func newBenchUpCmd() *cobra.Command {
	var file, name string
	var n int
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "up [-f topo.yaml] [-n 10] [--name bench] [--json]",
		Short: "Bring a lab up (all nodes ready) and down n times; report bring-up and teardown times",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := atLeastOne("runs", n); err != nil {
				return fmt.Errorf("bench up: %w", err)
			}
			spec, err := loadSpec(file, nil)
			if err != nil {
				return err
			}
			var ups, downs []time.Duration
			phases := map[string][]time.Duration{}
			var order []string
			for range n {
				start := time.Now()
				l, err := topology.Up(cmd.Context(), spec, name, upOptions(false))
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
				if err := cmd.Context().Err(); err != nil {
					return fmt.Errorf("bench up: stopped after %d runs", len(downs))
				}
			}
			res := benchResult{Lab: name, Nodes: len(spec.Nodes), Links: len(spec.Links), Runs: n}
			res.Rows = append(res.Rows, row("up (all nodes ready)", ups))
			for _, p := range order {
				res.Rows = append(res.Rows, row("  "+p, phases[p]))
			}
			res.Rows = append(res.Rows, row("down", downs))
			out := cmd.OutOrStdout()
			if jsonOut {
				return writeJSON(out, res)
			}
			fmt.Fprintf(out, "lab of %d nodes, %d links, %d %s\n", res.Nodes, res.Links, n, plural(n, "run", "runs"))
			fmt.Fprintf(out, "%-22s %10s %10s %10s\n", "", "median", "p90", "max")
			for _, r := range res.Rows {
				fmt.Fprintf(out, "%-22s %10v %10v %10v\n", r.What, ms(r.MedianMs), ms(r.P90Ms), ms(r.MaxMs))
			}
			return nil
		},
	}
	addFileFlag(cmd, &file)
	cmd.Flags().IntVarP(&n, "runs", "n", 10, "number of up/down cycles")
	addNameFlag(cmd, &name, "bench", "lab name (two people benchmarking at once need two names)")
	addJSONFlag(cmd, &jsonOut, "the figures")
	return cmd
}

// row sums up durations: median and p90 by nearest rank, and the maximum.
func row(what string, d []time.Duration) benchRow {
	slices.Sort(d)
	pct := func(p int) float64 {
		i := (len(d)*p + 99) / 100
		return millis(d[max(i, 1)-1])
	}
	return benchRow{What: what, MedianMs: pct(50), P90Ms: pct(90), MaxMs: millis(d[len(d)-1])}
}

func millis(d time.Duration) float64 {
	return float64(d.Round(10*time.Microsecond).Microseconds()) / 1000
}

// ms renders milliseconds back as a duration, as the table has always shown.
func ms(v float64) time.Duration {
	return time.Duration(v * float64(time.Millisecond)).Round(10 * time.Microsecond)
}
