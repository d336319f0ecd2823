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
		{"tls.pcapng", "", 28, 18}, // OSP over TLS, read with tls-keylog.txt
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
			for _, m := range call.Messages {
				if m.Proto == "osp" && m.TLS != (c.file == "tls.pcapng") {
					t.Errorf("%s: %s read from TLS: %v", c.file, m.Label(), m.TLS)
				}
			}
			if c.file == "tls.pcapng" && (rep.TLSSessions != 2 || rep.TLSDecrypted != 2) {
				t.Errorf("%s: %d TLS sessions, %d decrypted, want 2 and 2", c.file, rep.TLSSessions, rep.TLSDecrypted)
			}
		})
	}
}

// tshark reads every reference capture with the Wireshark helpers (the
// OSP port as HTTP, or as TLS and, with the key log, the HTTP inside) and
// without a malformed packet; in tls.pcapng it reads the four OSP
// requests and their four answers through TLS.
func TestTsharkReadsReferenceCapturesCleanly(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (Debian package tshark; .ci/run installs it)")
	}
	tshark := func(f string, args ...string) string {
		args = append([]string{"-X", "lua_script:../scripts/wireshark/qoslab_cops.lua", "-o", "tls.keylog_file:tls-keylog.txt",
			"-o", "tcp.reassemble_out_of_order:TRUE", "-r", f}, args...)
		out, err := exec.Command("tshark", args...).Output()
		if err != nil {
			t.Fatalf("tshark %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, f := range []string{"call.pcapng", "no-clearinghouse.pcapng", "denied.pcapng", "tls.pcapng"} {
		if s := tshark(f, "-Y", "_ws.malformed || _ws.expert.severity == error"); s != "" {
			t.Errorf("tshark finds malformed packets in %s:\n%s", f, s)
		}
	}
	got := tshark("tls.pcapng", "-Y", "tls && http", "-T", "fields", "-e", "http.request.method", "-e", "http.response.code")
	if posts, oks := strings.Count(got, "POST"), strings.Count(got, "200"); posts != 4 || oks != 4 {
		t.Errorf("tshark read %d OSP requests and %d answers through TLS in tls.pcapng, want 4 and 4:\n%s", posts, oks, got)
	}
}
