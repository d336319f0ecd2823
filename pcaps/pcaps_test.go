// Package pcaps holds the reference captures; its test keeps them true:
// each must pass the verifier as the variant it claims to be, and tshark
// must read it without a malformed packet.
package pcaps

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/traffic/trace"
)

func TestReferenceCapturesVerify(t *testing.T) {
	cases := []struct {
		file     string
		variant  string // "" for the plain FIG. 5/6 call
		setup    int
		teardown int
	}{
		{"call.pcapng", "", 28, 18},
		{"no-clearinghouse.pcapng", trace.VariantNoClearinghouse, 24, 14},
		{"denied.pcapng", trace.VariantDenied, 5, 0},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			rep, err := trace.Verify(context.Background(), c.file, trace.DefaultTopology(), trace.Options{RequireMedia: true})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			_ = rep.WriteText(&b)
			if !rep.OK() || len(rep.Calls) != 1 {
				t.Fatalf("%s does not verify as one good call:\n%s", c.file, b.String())
			}
			call := rep.Calls[0]
			if c.variant != "" && !slices.Contains(call.Variants, c.variant) {
				t.Errorf("%s: variants %v, want %s", c.file, call.Variants, c.variant)
			}
			if call.SetupSteps != c.setup || call.TeardownSteps != c.teardown {
				t.Errorf("%s: %d setup and %d teardown steps, want %d and %d", c.file, call.SetupSteps, call.TeardownSteps, c.setup, c.teardown)
			}
			if c.variant == "" {
				if m, ok := call.Step(flow.Setup, 20); !ok || m.Kind != flow.GateSetAck {
					t.Errorf("%s: setup step 20 is not R1's Gate-Set-Ack: %v", c.file, m)
				}
			}
		})
	}
}

func TestTsharkReadsReferenceCapturesCleanly(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (Debian package tshark; .ci/run installs it)")
	}
	for _, f := range []string{"call.pcapng", "no-clearinghouse.pcapng", "denied.pcapng"} {
		out, err := exec.Command("tshark", "-r", f, "-d", "tcp.port==1080,http", "-Y", "_ws.malformed || _ws.expert.severity == error").Output()
		if err != nil {
			t.Fatalf("tshark %s: %v\n%s", f, err, out)
		}
		if s := strings.TrimSpace(string(out)); s != "" {
			t.Errorf("tshark finds malformed packets in %s:\n%s", f, s)
		}
	}
}
