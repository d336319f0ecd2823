package main

import (
	"encoding/json"
	"fmt"

	"github.com/qoslab/qoslab/nodes/ua"
	"github.com/qoslab/qoslab/topology"
	"github.com/spf13/cobra"
)

// newCallCmd is `qoslab call`: one call placed by a lab's UAC through its
// control socket. The exit status is 0 only for an answered call.
func newCallCmd() *cobra.Command {
	var (
		lab, from  string
		req        ua.CallRequest
		dscp       int
		jsonOutput bool
	)
	cmd := &cobra.Command{
		Use:   "call [--name lab] [--from uac] [--to uas] [--talk 3s] [--ring 200ms] [--hangup uac|uas] [--json]",
		Short: "Place one call in a running lab and print its outcome, setup time and RTP stats",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("dscp") {
				if dscp < 0 || dscp > 63 {
					return fmt.Errorf("call: --dscp %d: want 0-63", dscp)
				}
				d := uint8(dscp)
				req.DSCP = &d
			}
			sock := topology.ControlSocket(topology.RunDir(lab), from)
			res, err := ua.PlaceCall(cmd.Context(), sock, req)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("call: %w", err)}
			}
			out := cmd.OutOrStdout()
			if jsonOutput {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else if err := res.WriteText(out); err != nil {
				return err
			}
			if res.Outcome != ua.OutcomeAnswered {
				return &exitError{code: 1, err: fmt.Errorf("call %s: %s", res.CallID, res.Outcome)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&lab, "name", topology.DefaultLab, "lab name")
	f.StringVar(&from, "from", "uac", "UAC node that places the call")
	f.StringVar(&req.To, "to", "uas", "callee node")
	f.StringVar(&req.Talk, "talk", "3s", "talk time before the hang-up")
	f.StringVar(&req.Ring, "ring", "", "ring time the UAS uses before 200 (0s: 200 without 180; default: the UAS's ring parameter)")
	f.StringVar(&req.Hangup, "hangup", "", "who hangs up: uac or uas (default: the UAS's hangup parameter, else uac)")
	f.IntVar(&dscp, "dscp", 0, "DSCP the UAC marks its own RTP with (theft-of-service tests)")
	f.StringVar(&req.Codec, "codec", "PCMU", "codec offered first: PCMU or PCMA")
	f.BoolVar(&jsonOutput, "json", false, "print the result as JSON")
	return cmd
}
