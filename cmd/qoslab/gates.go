package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/qoslab/qoslab/nodes/router"
	"github.com/qoslab/qoslab/topology"
	"github.com/spf13/cobra"
)

// newGatesCmd is `qoslab gates <router>`: the gates a router has installed,
// read from its nftables table, with what each has marked.
func newGatesCmd() *cobra.Command {
	var name string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "gates <router> [--name lab] [--json]",
		Short: "List the gates a router has installed, with the packets and bytes each has marked",
		Long: `gates reads the router's nftables table (table ip qoslab) from its namespace:
one line per gate with its PacketCable gate id, the flow it classifies (source
port 0 = any), the DSCP class it marks with and its counters, and the packets
the boundary re-marked to DSCP 0. The same table lists with the distribution's
nft: qoslab exec <router> -- nft list ruleset.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNodes(&name, topology.RoleRouter),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := labNode(name, args[0], topology.RoleRouter); err != nil {
				return fmt.Errorf("gates: %w", err)
			}
			var gs *router.Gates
			if err := topology.RunIn(name, args[0], func() (err error) {
				gs, err = router.ListGates(0)
				return err
			}); err != nil {
				return fmt.Errorf("gates: %w", err)
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				return writeJSON(out, gs)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "GATE\tFLOW\tCLASS\tDSCP\tPACKETS\tBYTES")
			for _, g := range gs.Gates {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\n", g.ID, g.Match, g.Class, g.DSCP, g.Packets, g.Bytes)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "%s: %d %s installed; boundary re-marked %d packets (%d bytes) to DSCP 0\n",
				args[0], len(gs.Gates), plural(len(gs.Gates), "gate", "gates"), gs.Bleached.Packets, gs.Bleached.Bytes)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", topology.DefaultLab, "lab name")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the gates as JSON")
	return cmd
}
