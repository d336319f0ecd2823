package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/qoslab/qoslab/nodes/ua"
	"github.com/qoslab/qoslab/topology"
	"github.com/qoslab/qoslab/traffic/load"
	"github.com/spf13/cobra"
)

// newCallCmd is `qoslab call`: one call (or -n of them) placed by a lab's
// UAC through its control socket. The exit status is 0 only when every
// call was answered.
func newCallCmd() *cobra.Command {
	var (
		lab, from  string
		req        ua.CallRequest
		talk       time.Duration
		ring       string
		dscp       int
		jsonOutput bool
		count      int
		parallel   int
	)
	cmd := &cobra.Command{
		Use:   "call [--name lab] [--from uac] [--to uas] [--talk 3s] [--ring 200ms] [--hangup uac|uas] [--json] [-n calls --parallel k]",
		Short: "Place a call in a running lab and print its outcome, setup time and RTP stats (-n: a load run)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := atLeastOne("count", count); err != nil {
				return fmt.Errorf("call: %w", err)
			}
			if err := atLeastOne("parallel", parallel); err != nil {
				return fmt.Errorf("call: %w", err)
			}
			if talk < 0 {
				return fmt.Errorf("call: --talk %v: want 0 or more", talk)
			}
			if ring != "" {
				if d, err := time.ParseDuration(ring); err != nil || d < 0 {
					return fmt.Errorf("call: --ring %q: want a duration such as 200ms or 0s", ring)
				}
			}
			if req.Hangup != "" {
				if err := oneOf("hangup", req.Hangup, "uac", "uas"); err != nil {
					return fmt.Errorf("call: %w", err)
				}
			}
			if cmd.Flags().Changed("dscp") {
				if dscp < 0 || dscp > 63 {
					return fmt.Errorf("call: --dscp %d: want 0-63", dscp)
				}
				d := uint8(dscp)
				req.DSCP = &d
			}
			st, err := topology.OpenLab(lab, "")
			if err != nil {
				return fmt.Errorf("call: %w", err)
			}
			if _, err := st.Plan.RoleNode(from, "uac"); err != nil {
				return fmt.Errorf("call: --from %s: %w", from, err)
			}
			if err := checkCallee(st.Plan, req.To); err != nil {
				return fmt.Errorf("call: --to %s: %w", req.To, err)
			}
			req.Talk, req.Ring = talk.String(), ring
			sock := topology.ControlSocket(topology.RunDir(lab), from)
			out := cmd.OutOrStdout()
			if cmd.Flags().Changed("count") {
				return placeMany(cmd.Context(), cmd, sock, req, count, parallel, jsonOutput)
			}
			res, err := ua.PlaceCall(cmd.Context(), sock, req)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("call: %w", err)}
			}
			if jsonOutput {
				err = writeJSON(out, res)
			} else {
				err = res.WriteText(out)
			}
			if err != nil {
				return err
			}
			if res.Outcome != ua.OutcomeAnswered {
				return &exitError{code: 1, err: fmt.Errorf("call %s: %s", res.CallID, res.Outcome)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	addNameFlag(cmd, &lab, topology.DefaultLab, "lab name")
	f.StringVar(&from, "from", "uac", "UAC node that places the call")
	completeNodeFlag(cmd, "from", &lab, "uac")
	f.StringVar(&req.To, "to", "", "callee: a UAS node (default: the UAC's callee parameter)")
	completeNodeFlag(cmd, "to", &lab, "uas")
	f.DurationVar(&talk, "talk", 3*time.Second, "talk time before the hang-up")
	f.StringVar(&ring, "ring", "", "ring time the UAS uses before 200 (0s: 200 without 180; default: the UAS's ring parameter)")
	f.StringVar(&req.Hangup, "hangup", "", "who hangs up: uac or uas (default: the UAS's hangup parameter, else uac)")
	completeWords(cmd, "hangup", "uac", "uas")
	f.IntVar(&dscp, "dscp", 0, "DSCP the UAC marks its own RTP with (theft-of-service tests)")
	f.StringVar(&req.Codec, "codec", "PCMU", "codec offered first: PCMU or PCMA")
	completeWords(cmd, "codec", "PCMU", "PCMA")
	addJSONFlag(cmd, &jsonOutput, "the result (with -n: the summary)")
	f.IntVarP(&count, "count", "n", 1, "place this many calls and print a summary (outcomes, setup time percentiles, calls/s)")
	f.IntVar(&parallel, "parallel", 10, "with --count: calls in flight at once")
	return cmd
}

// checkCallee refuses a callee that names a node of the lab that is no
// user agent (`--to sip1` would send the INVITE to a proxy, which loops
// it: 482). A callee that is no node name is the UAC's to resolve.
func checkCallee(p *topology.Plan, to string) error {
	if to == "" || strings.ContainsAny(to, "@:") {
		return nil
	}
	if _, ok := p.Node(to); !ok {
		return nil
	}
	_, err := p.RoleNode(to, "uas")
	return err
}

// placeMany is the load run: count calls, parallel at a time.
func placeMany(ctx context.Context, cmd *cobra.Command, sock string, req ua.CallRequest, count, parallel int, jsonOut bool) error {
	s, err := load.Run(ctx, count, parallel, func(ctx context.Context) (load.Call, error) {
		r, err := ua.PlaceCall(ctx, sock, req)
		return load.Call{ID: r.CallID, Outcome: r.Outcome, Status: r.Status, Reason: r.Reason, SetupMs: r.SetupMillis}, err
	})
	if err != nil {
		return fmt.Errorf("call: %w", err)
	}
	out := cmd.OutOrStdout()
	if jsonOut {
		err = writeJSON(out, s)
	} else {
		err = s.WriteText(out)
	}
	if err != nil {
		return err
	}
	switch {
	case s.OK():
		return nil
	case s.FirstError != "":
		return &exitError{code: 2, err: fmt.Errorf("call: %s", s.FirstError)}
	default:
		f := s.FirstFailure
		return &exitError{code: 1, err: fmt.Errorf("call %s: %s %d %s", f.ID, f.Outcome, f.Status, f.Reason)}
	}
}
