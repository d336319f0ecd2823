package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/qoslab/qoslab/nodes/usage"
	"github.com/qoslab/qoslab/topology"
	"github.com/spf13/cobra"
)

// newCDRCmd is `qoslab cdr`: the usage records (call detail records) the
// clearinghouse, or the policy servers without one, stored in a lab.
func newCDRCmd() *cobra.Command {
	var lab, format string
	cmd := &cobra.Command{
		Use:   "cdr [--lab name] [--format table|csv|json]",
		Short: "Print the usage records (CDRs) stored in a lab",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch format {
			case "table", "csv", "json":
			default:
				return fmt.Errorf("cdr: --format %q: want table, csv or json", format)
			}
			recs, err := labCDRs(cmd.Context(), topology.RunDir(lab))
			if err != nil {
				return err
			}
			return writeCDRs(cmd.OutOrStdout(), format, recs)
		},
	}
	cmd.Flags().StringVar(&lab, "lab", topology.DefaultLab, "lab name")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, csv or json")
	return cmd
}

// cdr is one usage record and the node whose store holds it.
type cdr struct {
	Node string `json:"node"`
	usage.Record
}

// labCDRs reads every node's usage store in the lab (<labdir>/nodes/*/usage.db).
func labCDRs(ctx context.Context, labDir string) ([]cdr, error) {
	if _, err := os.Stat(labDir); err != nil {
		return nil, fmt.Errorf("cdr: lab directory %s: %w (is the lab up?)", labDir, err)
	}
	files, err := filepath.Glob(filepath.Join(labDir, "nodes", "*", usage.FileName))
	if err != nil {
		return nil, fmt.Errorf("cdr: %w", err)
	}
	sort.Strings(files)
	var out []cdr
	for _, f := range files {
		node := filepath.Base(filepath.Dir(f))
		s, err := usage.Open(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("cdr: %s: %w", node, err)
		}
		recs, err := s.List(ctx)
		s.Close()
		if err != nil {
			return nil, fmt.Errorf("cdr: %s: %w", node, err)
		}
		for _, r := range recs {
			out = append(out, cdr{Node: node, Record: r})
		}
	}
	return out, nil
}

// cdrColumns name the fields of cdr.row. The counter columns come last so
// that the older ones keep their positions in CSV output; packets and bytes
// are what the edge router marked for the call's gate, empty when unknown.
var cdrColumns = []string{"node", "transaction", "role", "call_id", "source", "destination", "reporter",
	"class", "bandwidth_bps", "duration", "unit", "start", "connect", "end", "pdd_ms", "release", "cause", "received",
	"packets", "bytes", "counters_lost"}

// Indices into cdrColumns of the counter columns.
const (
	colPackets = 18
	colBytes   = 19
)

func (c cdr) row() []string {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	cause := ""
	if c.TerminationCause != 0 || c.TerminationText != "" {
		cause = strconv.Itoa(c.TerminationCause)
		if c.TerminationText != "" {
			cause += " " + c.TerminationText
		}
	}
	packets, octets, lost := "", "", ""
	if c.CountersKnown {
		packets, octets = strconv.FormatInt(c.Packets, 10), strconv.FormatInt(c.Octets, 10)
		lost = strconv.FormatBool(c.CountersLost)
	}
	return []string{c.Node, c.TransactionID, c.Role, c.CallID, c.Source, c.Destination, c.Reporter,
		c.ServiceClass, strconv.FormatInt(c.Bandwidth, 10), strconv.FormatInt(c.Duration, 10), c.Unit,
		ts(c.StartTime), ts(c.ConnectTime), ts(c.EndTime), strconv.FormatInt(c.PostDialDelay, 10),
		strconv.Itoa(c.ReleaseSource), cause, ts(c.ReceivedAt), packets, octets, lost}
}

func writeCDRs(w io.Writer, format string, recs []cdr) error {
	switch format {
	case "json":
		if recs == nil {
			recs = []cdr{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(recs); err != nil {
			return fmt.Errorf("cdr: %w", err)
		}
		return nil
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write(cdrColumns)
		for _, r := range recs {
			_ = cw.Write(r.row())
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return fmt.Errorf("cdr: %w", err)
		}
		return nil
	default:
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		cols := []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, colPackets, colBytes, 16}
		line := func(fields []string) {
			for i, c := range cols {
				if i > 0 {
					fmt.Fprint(tw, "\t")
				}
				fmt.Fprint(tw, fields[c])
			}
			fmt.Fprintln(tw)
		}
		line(cdrColumns)
		anyLost := false
		for _, r := range recs {
			fields := r.row()
			if r.CountersKnown && r.CountersLost {
				// A lower bound: mark it where it is read.
				fields[colPackets] += "+"
				fields[colBytes] += "+"
				anyLost = true
			}
			line(fields)
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("cdr: %w", err)
		}
		if len(recs) == 0 {
			fmt.Fprintln(w, "(no usage records)")
		}
		if anyLost {
			fmt.Fprintln(w, "+ the router lost its counters during the call (restart): packets and bytes are a lower bound")
		}
		return nil
	}
}
