// Package load is the call load generator: it places many calls, a few at
// a time, through a function that places one, and sums up how they ended
// and how long their setups took. It knows nothing of SIP: `qoslab call -n`
// gives it the UAC's control API (ua.PlaceCall).
package load

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// Call is how one call ended, as the placing function reports it.
type Call struct {
	ID      string  `json:"call_id"`
	Outcome string  `json:"outcome"` // "answered", "refused", "failed" (the UAC's words)
	Status  int     `json:"status,omitempty"`
	Reason  string  `json:"reason,omitempty"`
	SetupMs float64 `json:"setup_ms,omitempty"` // INVITE sent to 200 received, answered calls only
}

// Answered is the outcome that counts as a completed call.
const Answered = "answered"

// outcomeError is the outcome of a call whose placing function failed.
const outcomeError = "error"

// Summary is what a load run did.
type Summary struct {
	Calls    int            `json:"calls"`
	Parallel int            `json:"parallel"`
	TookMs   float64        `json:"took_ms"`
	PerSec   float64        `json:"calls_per_second"`
	Outcomes map[string]int `json:"outcomes"` // by outcome; "error" when a call could not be placed
	// Setup time percentiles of the answered calls, in milliseconds
	// (nearest rank); zero when none was answered.
	SetupP50Ms float64 `json:"setup_p50_ms"`
	SetupP90Ms float64 `json:"setup_p90_ms"`
	SetupMaxMs float64 `json:"setup_max_ms"`
	// FirstFailure is the first call (in placing order) that was not
	// answered, or could not be placed.
	FirstFailure *Call  `json:"first_failure,omitempty"`
	FirstError   string `json:"first_error,omitempty"`
}

// OK tells whether every call was answered.
func (s *Summary) OK() bool { return s.Outcomes[Answered] == s.Calls }

// Run places count calls, at most parallel at a time, each with place, and
// waits for all of them. Cancelling ctx stops placing new calls; those in
// flight get the cancelled ctx.
func Run(ctx context.Context, count, parallel int, place func(context.Context) (Call, error)) (*Summary, error) {
	if count < 1 {
		return nil, fmt.Errorf("load: %d calls: want at least 1", count)
	}
	if parallel < 1 {
		return nil, fmt.Errorf("load: %d calls at a time: want at least 1", parallel)
	}
	calls := make([]Call, count)
	errs := make([]error, count)
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	start := time.Now()
	placed := 0
	for i := range calls {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		placed++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			calls[i], errs[i] = place(ctx)
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if placed < count {
		return nil, fmt.Errorf("load: stopped after %d of %d calls: %w", placed, count, context.Cause(ctx))
	}
	s := &Summary{Calls: count, Parallel: parallel, TookMs: ms(took), PerSec: float64(count) / took.Seconds(), Outcomes: map[string]int{}}
	var setups []float64
	for i, c := range calls {
		if errs[i] != nil {
			s.Outcomes[outcomeError]++
			if s.FirstError == "" {
				s.FirstError = errs[i].Error()
			}
			continue
		}
		s.Outcomes[c.Outcome]++
		if c.Outcome == Answered {
			setups = append(setups, c.SetupMs)
		} else if s.FirstFailure == nil {
			s.FirstFailure = &calls[i]
		}
	}
	if len(setups) > 0 {
		slices.Sort(setups)
		s.SetupP50Ms, s.SetupP90Ms, s.SetupMaxMs = rank(setups, 50), rank(setups, 90), setups[len(setups)-1]
	}
	return s, nil
}

// rank is the p-th percentile of sorted values, nearest rank.
func rank(sorted []float64, p int) float64 {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// WriteText prints the summary as `qoslab call -n` does.
func (s *Summary) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "%d %s, %d at a time, in %v (%.1f calls/s)\n", s.Calls, plural(s.Calls, "call", "calls"), s.Parallel,
		time.Duration(s.TookMs*float64(time.Millisecond)).Round(time.Millisecond), s.PerSec)
	if err != nil {
		return err
	}
	for _, o := range []string{Answered, "refused", "failed", outcomeError} {
		if s.Outcomes[o] > 0 {
			fmt.Fprintf(w, "  %-9s %d\n", o, s.Outcomes[o])
		}
	}
	if s.Outcomes[Answered] > 0 {
		fmt.Fprintf(w, "  setup ms  p50 %.1f  p90 %.1f  max %.1f\n", s.SetupP50Ms, s.SetupP90Ms, s.SetupMaxMs)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
