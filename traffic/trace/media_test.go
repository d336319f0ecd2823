package trace_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/traffic/trace"
	"github.com/qoslab/qoslab/traffic/trace/tracetest"
)

// reuseSpec makes calls whose UAs take the media ports of the call before
// the last one: call 2 announces call 0's ports right after call 0 ended,
// while call 0's post-teardown probes are still counted for it.
var reuseSpec = tracetest.Spec{Calls: 6, Gap: 40 * time.Millisecond, PortCycle: 2}

// Each call owns the endpoints its SDP offer and answer announced, from
// when they were announced: with ports reused by later calls, every media
// packet is counted for the call that announced both its ends last before
// it was sent, never for an earlier call that used the same ports (the
// load example's 18 false DSCP failures: a packet charged to the call that
// had used its source port before).
func TestMediaGoesToTheCallThatAnnouncedItLast(t *testing.T) {
	r := verifySpec(t, reuseSpec, nil, trace.Options{RequireMedia: true})
	if !r.OK() || len(r.Calls) != reuseSpec.Calls {
		t.Fatalf("calls reusing ports do not verify:\n%s", text(r))
	}
	for _, c := range r.Calls {
		for dir, want := range map[string]map[string]int{
			// tracetest: 3 packets each way while gated, 2 probes each way
			// after teardown, 2 early packets from the UAS before R2's gate.
			"UAC->UAS": {trace.WindowGated: 3, trace.WindowAfterGate: 2},
			"UAS->UAC": {trace.WindowGated: 3, trace.WindowAfterGate: 2, trace.WindowBeforeGate: 2},
		} {
			for window, n := range want {
				got := 0
				for _, v := range c.MediaOn("r1-r2", dir, window) {
					got += v
				}
				if got != n {
					t.Errorf("call %s: %d packets %s %s on the core, want %d", c.ID, got, dir, window, n)
				}
			}
		}
	}
}

// The negative: a packet of call 0, marked EF while call 0's gate was in,
// moved to when call 2 has announced the same ports and has no gate yet,
// belongs to call 2 and breaks call 2's rule, with call 2's step.
func TestMediaMovedIntoAnotherCallsWindowFails(t *testing.T) {
	const early, late = "call-0@qoslab.test", "call-2@qoslab.test"
	r := verifySpec(t, reuseSpec, func(c *tracetest.Capture) {
		// Between call 2's answer (setup step 12, which announces the
		// UAS's port) and its Gate-Set at R2 (step 14).
		answered := c.Packets[c.StepPackets(late, flow.Setup, 12)[0]].Time
		gateSet := c.Packets[c.StepPackets(late, flow.Setup, 14)[0]].Time
		if _, err := c.MoveMedia(early, "r1-r2", "RTP UAS->UAC", trace.DSCPEF, answered.Add(gateSet.Sub(answered)/2)); err != nil {
			t.Fatal(err)
		}
	}, trace.Options{RequireMedia: true})
	fs := failuresAt(r, trace.CheckDSCP, "setup", 14)
	if len(fs) != 1 || len(r.Failures) != 1 || fs[0].CallID != late {
		t.Fatalf("want one DSCP failure of %s at setup step 14:\n%s", late, text(r))
	}
	if want := "expected DSCP 0 on every media packet UAS->UAC on r1-r2 before setup step 14 (gate not yet set), seen EF (46) on 1 of 3 packets"; !strings.Contains(fs[0].String(), want) {
		t.Fatalf("failure %q lacks %q", fs[0], want)
	}
}

// The load example's failure, made small: the callee answers call 0 late,
// and call 1, started after call 0, gets the same callee port first and
// ends before call 0 takes that port. Call 1's media is call 1's (both its
// ends are call 1's), not call 0's, although call 0 started first: the
// owner of an endpoint is dated from the SDP that announced it, not from
// the call's INVITE, and a packet is matched on both its ends.
func TestMediaOwnershipDatesFromTheAnnouncement(t *testing.T) {
	spec := tracetest.Spec{Calls: 2, Gap: 5 * time.Millisecond, AnswerPortCycle: 1, Ring: map[int]time.Duration{0: 100 * time.Millisecond}}
	r := verifySpec(t, spec, nil, trace.Options{RequireMedia: true})
	if !r.OK() || len(r.Calls) != 2 {
		t.Fatalf("two calls sharing the callee's port one after the other:\n%s", text(r))
	}
	for _, c := range r.Calls {
		if n := c.MediaOn("r1-r2", "UAS->UAC", trace.WindowGated)[trace.DSCPEF]; n != 3 {
			t.Errorf("call %s: %d EF packets UAS->UAC while gated, want its own 3", c.ID, n)
		}
	}
}

// Memory is bounded by the calls open at once, not by the capture: a pass
// over many calls, each over within a few seconds of capture time, holds
// only those few seconds' calls.
func TestPassHoldsOnlyOpenCalls(t *testing.T) {
	spec := tracetest.Spec{Calls: 600, Gap: 20 * time.Millisecond, Media: 1, PortCycle: 50}
	var buf bytes.Buffer
	if _, err := tracetest.Stream(&buf, spec); err != nil {
		t.Fatal(err)
	}
	r, err := trace.VerifyReader(context.Background(), &buf, "stream", nil, trace.Options{RequireMedia: true, MaxCallDetails: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.CallCount != spec.Calls || len(r.Calls) != 10 || r.CallsNotListed != spec.Calls-10 {
		t.Fatalf("%d calls, %d detailed, %d not listed:\n%s", r.CallCount, len(r.Calls), r.CallsNotListed, text(r))
	}
	// A call is over ~70 ms after it starts and judged 2 s later: about
	// 105 calls are open at any time (calls start every 20 ms).
	if r.PeakOpenCalls > 150 {
		t.Fatalf("%d calls open at once, want at most 150 of %d", r.PeakOpenCalls, spec.Calls)
	}
}
