package main

import (
	"fmt"

	"github.com/qoslab/qoslab/nodes/usage"
	"github.com/qoslab/qoslab/topology"
	"github.com/spf13/cobra"
)

// newCDRCmd is `qoslab cdr`: the call detail records kept by the
// clearinghouse, or by the policy servers when there is none.
func newCDRCmd() *cobra.Command {
	var lab, format string
	var jsonOut, perSide bool
	cmd := &cobra.Command{
		Use:   "cdr [run or lab dir] [--name lab] [--format table|csv|json] [--json] [--per-side]",
		Short: "Print the call detail records (usage) of a lab or of a qoslab run directory",
		Long: `cdr reads the usage stores (<dir>/nodes/*/usage.db, SQLite) of a running lab
(--name), of a lab kept by down --keep, or of a qoslab run directory, and prints
one record per call: both sides' reports merged (source = the caller's policy
server, destination = the callee's), times in UTC with milliseconds, duration
(connect to end) and post-dial delay in milliseconds, bandwidth in bit/s, who
released the call, and the packets and bytes each side's edge router marked.
--per-side prints the stored records themselves, one per side.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if jsonOut {
				if cmd.Flags().Changed("format") && format != usage.FormatJSON {
					return fmt.Errorf("cdr: --json and --format %s exclude each other", format)
				}
				format = usage.FormatJSON
			}
			if err := oneOf("format", format, usage.FormatTable, usage.FormatCSV, usage.FormatJSON); err != nil {
				return fmt.Errorf("cdr: %w", err)
			}
			dir := topology.RunDir(lab)
			if len(args) == 1 {
				if cmd.Flags().Changed("name") {
					return fmt.Errorf("cdr: a directory and --name exclude each other")
				}
				dir = args[0]
			} else if _, err := topology.ReadState(dir); err != nil {
				_, err := topology.OpenLab(lab, "")
				return fmt.Errorf("cdr: %w", err)
			}
			recs, err := usage.ReadDir(cmd.Context(), dir)
			if err != nil {
				return fmt.Errorf("cdr: %w", err)
			}
			if perSide {
				return usage.WriteRecords(cmd.OutOrStdout(), format, recs)
			}
			return usage.WriteCDRs(cmd.OutOrStdout(), format, usage.CDRs(recs))
		},
	}
	addNameFlag(cmd, &lab, topology.DefaultLab, "lab name (its run directory /run/qoslab/<lab>)")
	cmd.Flags().StringVar(&format, "format", usage.FormatTable, "output format: table, csv or json")
	completeWords(cmd, "format", usage.FormatTable, usage.FormatCSV, usage.FormatJSON)
	addJSONFlag(cmd, &jsonOut, "the records (--format json)")
	cmd.Flags().BoolVar(&perSide, "per-side", false, "one record per side of each call, as stored, instead of one per call")
	// The flag cdr had before --name.
	cmd.Flags().StringVar(&lab, "lab", topology.DefaultLab, "lab name")
	_ = cmd.Flags().MarkDeprecated("lab", "use --name")
	return cmd
}
