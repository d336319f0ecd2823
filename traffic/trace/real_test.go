package trace_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/qoslab/qoslab/traffic/trace"
)

// testdata/lab-invite-not-forwarded.pcapng is a real capture of the
// default lab (qoslab up; one call from the UAC's control socket) taken
// while the proxy put the OSP token in the forwarded INVITE as raw DER:
// SIP2's parser refused it, so the call stops after step 6. The INVITE is
// 2 kB and crosses the links in IPv4 fragments, and the merged file's
// order across links lags its timestamps. The verifier must decode steps
// 1-6 from it and name step 7 as the first missing one.
func TestRealCaptureInviteNotForwarded(t *testing.T) {
	r, err := trace.Verify(context.Background(), "testdata/lab-invite-not-forwarded.pcapng", nil, trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Calls) != 1 || r.Calls[0].SetupSteps != 5 {
		t.Fatalf("calls %d, want 1 with setup steps 1-5:\n%s", len(r.Calls), text(r))
	}
	want := map[int][2]string{1: {"uac", "sip1"}, 2: {"sip1", "pol1"}, 3: {"pol1", "ch"}, 4: {"ch", "pol1"}, 5: {"pol1", "sip1"}}
	for _, m := range r.Calls[0].Messages {
		if w, ok := want[m.Step]; ok && (m.From != w[0] || m.To != w[1]) {
			t.Errorf("step %d %s->%s, want %s->%s", m.Step, m.From, m.To, w[0], w[1])
		}
	}
	var bad []trace.Failure
	for _, f := range r.Failures {
		if f.Check == trace.CheckMalformed && strings.Contains(f.Seen, "P-OSP-Auth-Token") {
			bad = append(bad, f)
		}
	}
	if len(bad) == 0 || bad[0].Link != "r1-sip1" {
		t.Errorf("the binary token is not reported where SIP1 sent it: %v", bad)
	}
	if fs := failuresAt(r, trace.CheckMissing, "setup", 6); len(fs) != 1 {
		t.Errorf("no missing step 6:\n%s", text(r))
	}
	if r.OK() {
		t.Fatal("a call that stopped at step 6 passed")
	}
}

// testdata/lab-noch-call is a real lab run without a clearinghouse (the
// default topology minus ch): one call with a 180, one second of RTP both
// ways, the caller hangs up. Its capture and its node logs must verify.
func TestRealCaptureNoClearinghouseCall(t *testing.T) {
	const dir = "testdata/lab-noch-call"
	r, err := trace.Verify(context.Background(), dir, nil, trace.Options{RequireMedia: true})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || len(r.Calls) != 1 || !r.NoClearinghouse {
		t.Fatalf("real call does not verify:\n%s", text(r))
	}
	c := r.Calls[0]
	if c.SetupSteps != 24 || c.TeardownSteps != 14 {
		t.Errorf("%d setup and %d teardown steps, want 24 and 14 (no OSP)", c.SetupSteps, c.TeardownSteps)
	}
	if fs := logFailures(t, dir); len(fs) != 0 {
		t.Errorf("node logs disagree with the capture: %v", fs)
	}
	// Requiring OSP makes the same capture fail at step 3.
	r, err = trace.Verify(context.Background(), dir, nil, trace.Options{Clearinghouse: trace.CHPresent})
	if err != nil {
		t.Fatal(err)
	}
	if len(failuresAt(r, trace.CheckMissing, "setup", 3)) != 1 {
		t.Errorf("OSP required but step 3 not reported missing:\n%s", text(r))
	}
}

// testdata/lab-variants is a real default-lab run with six calls: a 200
// without 180, a callee hanging up, then four concurrent calls (the
// capture is gzipped; pcapgo reads it as is). Every node's log must agree
// with the capture, the callee-hangs-up teardown included (its SIP steps
// keep their hops' numbers: flow.TeardownStepsCalleeHangsUp).
func TestRealCaptureVariants(t *testing.T) {
	const dir = "testdata/lab-variants"
	r, err := trace.Verify(context.Background(), dir, nil, trace.Options{RequireMedia: true, Clearinghouse: trace.CHPresent})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || len(r.Calls) != 6 {
		t.Fatalf("six real calls do not verify:\n%s", text(r))
	}
	variants := map[string]int{}
	for _, c := range r.Calls {
		for _, v := range c.Variants {
			variants[v]++
		}
	}
	if variants[trace.VariantNo180] != 1 || variants[trace.VariantCalleeHangsUp] != 1 || len(variants) != 2 {
		t.Errorf("variants %v, want one no-180 and one callee-hangs-up", variants)
	}
	if fs := logFailures(t, dir); len(fs) != 0 {
		t.Errorf("%d log failures, want none: %v", len(fs), fs)
	}
}

// testdata/lab-denied is a real run with a clearinghouse that refuses
// every call: 403 with a Reason from SIP1, no INVITE beyond it, no gate;
// the hop-by-hop ACK of the 403 is no docs/FLOW.md step.
func TestRealCaptureDenied(t *testing.T) {
	const dir = "testdata/lab-denied"
	r, err := trace.Verify(context.Background(), dir, nil, trace.Options{RequireMedia: true})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || len(r.Calls) != 1 || !slices.Contains(r.Calls[0].Variants, trace.VariantDenied) || r.Calls[0].SetupSteps != 5 {
		t.Fatalf("the denied call does not verify as denied with steps 1-5:\n%s", text(r))
	}
	if fs := logFailures(t, dir); len(fs) != 0 {
		t.Errorf("node logs disagree: %v", fs)
	}
}

// logFailures verifies a lab directory again with its node logs and
// returns what failed.
func logFailures(t *testing.T, dir string) []trace.Failure {
	t.Helper()
	lines, err := trace.ReadNodeLogs(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := trace.Verify(context.Background(), dir, nil, trace.Options{Logs: lines})
	if err != nil {
		t.Fatal(err)
	}
	return r.Failures
}
