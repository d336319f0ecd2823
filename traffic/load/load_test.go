package load

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
)

func TestRunCountsOutcomesAndKeepsTheLimit(t *testing.T) {
	var inFlight, most, n atomic.Int32
	place := func(ctx context.Context) (Call, error) {
		i := n.Add(1)
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if cur <= m || most.CompareAndSwap(m, cur) {
				break
			}
		}
		switch i {
		case 4:
			return Call{ID: "c4", Outcome: "refused", Status: 403, Reason: "barred"}, nil
		case 7:
			return Call{}, errors.New("control socket gone")
		}
		return Call{ID: "c", Outcome: Answered, SetupMs: float64(i)}, nil
	}
	s, err := Run(context.Background(), 10, 3, place)
	if err != nil {
		t.Fatal(err)
	}
	if most.Load() > 3 {
		t.Fatalf("%d calls in flight, limit 3", most.Load())
	}
	if s.Outcomes[Answered] != 8 || s.Outcomes["refused"] != 1 || s.Outcomes["error"] != 1 || s.OK() {
		t.Fatalf("outcomes %v", s.Outcomes)
	}
	if s.FirstFailure == nil || s.FirstFailure.Status != 403 || s.FirstError != "control socket gone" {
		t.Fatalf("first failure %+v, first error %q", s.FirstFailure, s.FirstError)
	}
	// Setups 1 2 3 5 6 8 9 10 (calls 4 and 7 were not answered): nearest
	// rank p50 is the 4th, p90 the 8th.
	if s.SetupP50Ms != 5 || s.SetupP90Ms != 10 || s.SetupMaxMs != 10 {
		t.Fatalf("setup p50 %v p90 %v max %v", s.SetupP50Ms, s.SetupP90Ms, s.SetupMaxMs)
	}
	var b bytes.Buffer
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"10 calls, 3 at a time", "answered  8", "refused   1", "error     1", "p50 5.0  p90 10.0  max 10.0"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

func TestRunRefusesNoCallsAndNoParallelism(t *testing.T) {
	place := func(context.Context) (Call, error) { return Call{Outcome: Answered}, nil }
	if _, err := Run(context.Background(), 0, 1, place); err == nil || !strings.Contains(err.Error(), "0 calls") {
		t.Fatalf("0 calls: %v", err)
	}
	if _, err := Run(context.Background(), 1, 0, place); err == nil || !strings.Contains(err.Error(), "0 calls at a time") {
		t.Fatalf("parallel 0: %v", err)
	}
	s, err := Run(context.Background(), 1, 1, place)
	if err != nil || !s.OK() {
		t.Fatalf("%+v %v", s, err)
	}
	var b bytes.Buffer
	_ = s.WriteText(&b)
	if !strings.HasPrefix(b.String(), "1 call, 1 at a time") {
		t.Fatalf("%q", b.String())
	}
}

func TestRunStopsPlacingWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	var placed atomic.Int32
	place := func(context.Context) (Call, error) {
		if placed.Add(1) == 2 {
			cancel(errors.New("interrupted by SIGINT"))
		}
		return Call{Outcome: Answered}, nil
	}
	_, err := Run(ctx, 100, 1, place)
	if err == nil || !strings.Contains(err.Error(), "interrupted by SIGINT") || placed.Load() > 3 {
		t.Fatalf("err %v after %d calls", err, placed.Load())
	}
}
