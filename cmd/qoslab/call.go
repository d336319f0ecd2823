package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

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
		count      int
		parallel   int
	)
	cmd := &cobra.Command{
		Use:   "call [--name lab] [--from uac] [--to uas] [--talk 3s] [--ring 200ms] [--hangup uac|uas] [--json] [-n calls --parallel k]",
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
			if count > 1 {
				return placeMany(cmd, sock, req, count, parallel)
			}
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
	f.IntVarP(&count, "count", "n", 1, "place this many calls and print a summary (setup time percentiles, calls/s)")
	f.IntVar(&parallel, "parallel", 10, "with --count: calls in flight at once")
	return cmd
}

// placeMany places count calls, parallel at a time, and prints how they
// ended and how long their setups took. It exits non-zero unless every
// call was answered.
func placeMany(cmd *cobra.Command, sock string, req ua.CallRequest, count, parallel int) error {
	if parallel < 1 {
		parallel = 1
	}
	results := make([]ua.CallResult, count)
	errs := make([]error, count)
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range results {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i], errs[i] = ua.PlaceCall(cmd.Context(), sock, req)
		}()
	}
	wg.Wait()
	took := time.Since(start)
	outcomes := map[string]int{}
	var setups []float64
	for i, r := range results {
		if errs[i] != nil {
			outcomes["error"]++
			continue
		}
		outcomes[r.Outcome]++
		if r.Outcome == ua.OutcomeAnswered {
			setups = append(setups, r.SetupMillis)
		}
	}
	sort.Float64s(setups)
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "%d calls, %d at a time, in %v (%.1f calls/s)\n", count, parallel, took.Round(time.Millisecond), float64(count)/took.Seconds())
	for _, o := range []string{ua.OutcomeAnswered, ua.OutcomeRefused, ua.OutcomeFailed, "error"} {
		if outcomes[o] > 0 {
			fmt.Fprintf(out, "  %-9s %d\n", o, outcomes[o])
		}
	}
	if len(setups) > 0 {
		p := func(q float64) float64 { return setups[int(q*float64(len(setups)-1))] }
		fmt.Fprintf(out, "  setup ms  p50 %.1f  p90 %.1f  max %.1f\n", p(0.5), p(0.9), setups[len(setups)-1])
	}
	if outcomes[ua.OutcomeAnswered] != count {
		for i, err := range errs {
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("call: %w", err)}
			}
			if results[i].Outcome != ua.OutcomeAnswered {
				return &exitError{code: 1, err: fmt.Errorf("call %s: %s %d %s", results[i].CallID, results[i].Outcome, results[i].Status, results[i].Reason)}
			}
		}
	}
	return nil
}
