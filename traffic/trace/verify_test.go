package trace_test

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qoslab/qoslab/flow"

	"github.com/qoslab/qoslab/traffic/trace"
	"github.com/qoslab/qoslab/traffic/trace/tracetest"
)

// verifySpec generates a capture, writes it as pcapng and verifies it.
func verifySpec(t testing.TB, spec tracetest.Spec, edit func(*tracetest.Capture), opts trace.Options) *trace.Report {
	t.Helper()
	c, err := tracetest.Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(c)
	}
	var buf bytes.Buffer
	if err := c.WritePcapng(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := trace.VerifyReader(context.Background(), &buf, "synthetic", spec.Topology, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func text(r *trace.Report) string {
	var b strings.Builder
	r.WriteText(&b)
	return b.String()
}

func TestVerifyPassesFlowMD(t *testing.T) {
	r := verifySpec(t, tracetest.Spec{Calls: 1}, nil, trace.Options{RequireMedia: true})
	t.Log(text(r))
	if !r.OK() {
		t.Fatal("a capture that follows docs/FLOW.md failed")
	}
}

// failuresAt lists the failures of a check at a step.
func failuresAt(r *trace.Report, check trace.Check, phase string, step int) []trace.Failure {
	var out []trace.Failure
	for _, f := range r.Failures {
		if f.Check == check && string(f.Phase) == phase && f.Step == step {
			out = append(out, f)
		}
	}
	return out
}

func TestVerifyVariantsPass(t *testing.T) {
	cases := []struct {
		name     string
		spec     tracetest.Spec
		variants []string
	}{
		{"many overlapping calls", tracetest.Spec{Calls: 20, Gap: 5 * time.Millisecond}, nil},
		{"200 without 180", tracetest.Spec{No180: true}, []string{trace.VariantNo180}},
		{"callee hangs up", tracetest.Spec{CalleeHangsUp: true}, []string{trace.VariantCalleeHangsUp}},
		{"no clearinghouse", tracetest.Spec{NoClearinghouse: true}, []string{trace.VariantNoClearinghouse}},
		{"denied by side 1", tracetest.Spec{Deny: 1}, []string{trace.VariantDenied}},
		{"denied by side 2", tracetest.Spec{Deny: 2}, []string{trace.VariantDenied}},
		{"no teardown", tracetest.Spec{NoTeardown: true}, []string{trace.VariantNoTeardown}},
		{"theft of service re-marked", tracetest.Spec{Theft: true}, nil},
		{"SIP over TCP", tracetest.Spec{Calls: 3, SIPOverTCP: true}, nil},
		{"gates name their call", tracetest.Spec{Calls: 3, CallIDInGate: true}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := verifySpec(t, c.spec, nil, trace.Options{RequireMedia: true})
			if !r.OK() {
				t.Fatalf("failed:\n%s", text(r))
			}
			want := max(c.spec.Calls, 1)
			if len(r.Calls) != want {
				t.Fatalf("%d calls, want %d", len(r.Calls), want)
			}
			for _, v := range c.variants {
				if !slices.Contains(r.Calls[0].Variants, v) {
					t.Errorf("variants %v lack %s", r.Calls[0].Variants, v)
				}
			}
			if c.spec.Deny != 0 {
				for _, m := range r.Calls[0].Messages {
					if m.Step >= 11 {
						t.Errorf("denied call has %s labelled step %d (the ACK of a refusal is not step 26)", m.What, m.Step)
					}
				}
			}
		})
	}
}

// The merged capture is written by one goroutine per link: its order
// across links may lag behind the timestamps. Verification follows the
// timestamps, so a lagging writer breaks nothing.
func TestVerifyFollowsTimestampsNotFileOrder(t *testing.T) {
	lag := map[string]time.Duration{"r1-sip1": 3 * time.Millisecond, "r2-pol2": 2 * time.Millisecond, "r1-r2": 5 * time.Millisecond}
	r := verifySpec(t, tracetest.Spec{Calls: 3}, func(c *tracetest.Capture) { c.LagLinks(lag) }, trace.Options{RequireMedia: true})
	if !r.OK() {
		t.Fatalf("a capture written late on some links failed:\n%s", text(r))
	}
}

func TestVerifyLabelsEveryStep(t *testing.T) {
	r := verifySpec(t, tracetest.Spec{}, nil, trace.Options{})
	c := r.Calls[0]
	if c.SetupSteps != 28 || c.TeardownSteps != 18 {
		t.Fatalf("labelled %d setup and %d teardown steps, want 28 and 18:\n%s", c.SetupSteps, c.TeardownSteps, text(r))
	}
	for _, m := range c.Messages {
		if m.Step == 0 {
			t.Errorf("unlabelled message %s %s->%s", m.What, m.From, m.To)
		}
		if len(m.Seen) < 2 && m.From != "r1" && m.From != "r2" && m.To != "r1" && m.To != "r2" {
			t.Errorf("%s seen on %d links, want every link of its path", m.Label(), len(m.Seen))
		}
	}
}

// The verifier must be able to fail: each edited capture breaks one rule
// and the report must name the broken step.
func TestVerifyRefusesEditedCaptures(t *testing.T) {
	const call = "call-0@qoslab.test"
	cases := []struct {
		name  string
		spec  tracetest.Spec
		edit  func(*tracetest.Capture) error
		check trace.Check
		phase string
		step  int
	}{
		{"swap Gate-Set and its Ack", tracetest.Spec{}, func(c *tracetest.Capture) error {
			return c.SwapSteps(call, flow.Setup, 14, 15)
		}, trace.CheckOrder, "setup", 15},
		{"swap INVITE and REQ AAA", tracetest.Spec{}, func(c *tracetest.Capture) error {
			return c.SwapSteps(call, flow.Setup, 6, 7)
		}, trace.CheckOrder, "setup", 7},
		{"200 released before the gate", tracetest.Spec{}, func(c *tracetest.Capture) error {
			return c.SwapSteps(call, flow.Setup, 16, 24)
		}, trace.CheckOrder, "setup", 24},
		{"swap teardown Gate-Delete and noLDP", tracetest.Spec{}, func(c *tracetest.Capture) error {
			return c.SwapSteps(call, flow.Teardown, 4, 5)
		}, trace.CheckOrder, "teardown", 5},
		{"drop a Gate-Set-Ack", tracetest.Spec{}, func(c *tracetest.Capture) error {
			return c.DropStep(call, flow.Setup, 20)
		}, trace.CheckMissing, "setup", 20},
		{"drop a usage indication", tracetest.Spec{}, func(c *tracetest.Capture) error {
			return c.DropStep(call, flow.Teardown, 17)
		}, trace.CheckMissing, "teardown", 17},
		{"clear one DSCP on the core", tracetest.Spec{}, func(c *tracetest.Capture) error {
			_, err := c.ClearDSCP(call, "r1-r2", "RTP UAC->UAS", trace.DSCPEF)
			return err
		}, trace.CheckDSCP, "setup", 20},
		{"theft of service not re-marked", tracetest.Spec{Theft: true}, func(c *tracetest.Capture) error {
			for i, p := range c.Packets {
				if p.What == "RTP theft" && p.Link == "r1-r2" {
					if err := tracetest.SetDSCP(c.Packets[i].Data, trace.DSCPEF); err != nil {
						return err
					}
				}
			}
			return nil
		}, trace.CheckTheft, "", 0},
		{"EF before the gate", tracetest.Spec{}, func(c *tracetest.Capture) error {
			for i, p := range c.Packets {
				if p.What == "RTP UAS->UAC" && p.Link == "r1-r2" {
					return tracetest.SetDSCP(c.Packets[i].Data, trace.DSCPEF) // the early media, before step 14
				}
			}
			return nil
		}, trace.CheckDSCP, "setup", 14},
		{"EF after the gate is removed", tracetest.Spec{}, func(c *tracetest.Capture) error {
			last := -1
			for i, p := range c.Packets {
				if p.What == "RTP UAC->UAS" && p.Link == "r1-r2" {
					last = i // a probe after teardown
				}
			}
			return tracetest.SetDSCP(c.Packets[last].Data, trace.DSCPEF)
		}, trace.CheckDSCP, "teardown", 6},
		{"denied call forwarded by SIP1", tracetest.Spec{Deny: 1, ForwardDenied: true}, nil, trace.CheckDenied, "setup", 6},
		{"denied call forwarded by SIP2", tracetest.Spec{Deny: 2, ForwardDenied: true}, nil, trace.CheckDenied, "setup", 11},
		{"clear one DSCP from the UAS", tracetest.Spec{}, func(c *tracetest.Capture) error {
			_, err := c.ClearDSCP(call, "r1-r2", "RTP UAS->UAC", trace.DSCPEF)
			return err
		}, trace.CheckDSCP, "setup", 15},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var editErr error
			r := verifySpec(t, c.spec, func(cp *tracetest.Capture) {
				if c.edit != nil {
					editErr = c.edit(cp)
				}
			}, trace.Options{})
			if editErr != nil {
				t.Fatal(editErr)
			}
			if r.OK() {
				t.Fatal("an edited capture passed")
			}
			fs := failuresAt(r, c.check, c.phase, c.step)
			if len(fs) == 0 {
				t.Fatalf("no %s failure at %s step %d:\n%s", c.check, c.phase, c.step, text(r))
			}
			if fs[0].CallID != call && c.check != trace.CheckTheft {
				t.Errorf("failure names call %q", fs[0].CallID)
			}
			if c.check != trace.CheckMissing && (fs[0].Packet == 0 || fs[0].Link == "") {
				t.Errorf("failure does not locate a packet: %+v", fs[0])
			}
			t.Log(fs[0])
		})
	}
}

func TestReportMediaWindowsAndSteps(t *testing.T) {
	r := verifySpec(t, tracetest.Spec{Media: 5}, nil, trace.Options{})
	c := &r.Calls[0]
	for _, w := range []struct {
		dir, window string
		want        map[uint8]int
	}{
		{"UAC->UAS", trace.WindowGated, map[uint8]int{46: 5}},
		{"UAS->UAC", trace.WindowGated, map[uint8]int{46: 5}},
		{"UAS->UAC", trace.WindowBeforeGate, map[uint8]int{0: 2}},
		{"UAC->UAS", trace.WindowAfterGate, map[uint8]int{0: 2}},
	} {
		if got := c.MediaOn("r1-r2", w.dir, w.window); !maps.Equal(got, w.want) {
			t.Errorf("core %s %s: %v, want %v", w.dir, w.window, got, w.want)
		}
	}
	if got := c.MediaOn("r1-uac", "UAC->UAS", trace.WindowGated); !maps.Equal(got, map[uint8]int{0: 5}) {
		t.Errorf("the UAC's own marking on its access link: %v, want 0 (R1 marks)", got)
	}
	m, ok := c.Step(flow.Setup, 20)
	if !ok || m.From != "r1" || m.To != "pol1" || m.What != "RPT Gate-Set-Ack" {
		t.Errorf("step 20 = %+v", m)
	}
}
