package trace

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/qoslab/qoslab/flow"
)

// Check names the rule a failure broke.
type Check string

// The verifier's checks.
const (
	CheckMissing   Check = "missing"   // a docs/FLOW.md step that must be on the wire is not
	CheckOrder     Check = "order"     // an order constraint of docs/FLOW.md is broken
	CheckWhat      Check = "message"   // the step is there but says the wrong thing (e.g. DEC Remove for Install)
	CheckDenied    Check = "denied"    // a rule of the denied-call variant is broken
	CheckOSP       Check = "osp"       // OSP on the wire where there must be none, or the reverse
	CheckDSCP      Check = "dscp"      // a media packet carries the wrong DSCP on the core
	CheckTheft     Check = "theft"     // EF on the core without a gate (theft of service not re-marked)
	CheckMalformed Check = "malformed" // a message or stream that could not be decoded
	CheckNoCalls   Check = "no-calls"  // the capture holds no call at all
	CheckTLS       Check = "tls"       // a TLS session of the OSP leg the verifier could not read
)

// Failure is one broken rule, located so that it can be found in
// Wireshark: the call, the step, what was expected and what was seen, the
// packet number in the merged capture and the link.
type Failure struct {
	Check    Check      `json:"check"`
	CallID   string     `json:"call_id,omitempty"`
	Phase    flow.Phase `json:"phase,omitempty"`
	Step     int        `json:"step,omitempty"`
	Expected string     `json:"expected"`
	Seen     string     `json:"seen"`
	Packet   int        `json:"packet,omitempty"`
	Link     string     `json:"link,omitempty"`
}

// String renders the failure on one line, as the text summary lists it.
func (f Failure) String() string {
	var b strings.Builder
	b.WriteString(string(f.Check))
	if f.CallID != "" {
		fmt.Fprintf(&b, " call %s", f.CallID)
	}
	if f.Step != 0 {
		fmt.Fprintf(&b, " %s step %d", f.Phase, f.Step)
	}
	fmt.Fprintf(&b, ": expected %s, seen %s", f.Expected, f.Seen)
	if f.Packet != 0 {
		fmt.Fprintf(&b, " (packet %d on %s)", f.Packet, f.Link)
	}
	return b.String()
}

// MediaCount counts the media packets of one direction on one link in one
// window of its gate's life (WindowBeforeGate, ...), by DSCP: what the e2e
// suites hold against "EF on the core while the gate is installed, 0
// before and after".
type MediaCount struct {
	Link   string        `json:"link"`
	Dir    string        `json:"dir"` // "UAC->UAS" or "UAS->UAC"
	Window string        `json:"window"`
	DSCP   map[uint8]int `json:"dscp"`
}

// CallReport is one rebuilt call.
type CallReport struct {
	ID            string       `json:"call_id"`
	Variants      []string     `json:"variants,omitempty"` // "no-180", "callee-hangs-up", "no-clearinghouse", "denied", "no-teardown"
	Messages      []*Message   `json:"messages"`
	Media         []MediaCount `json:"media,omitempty"`
	Failures      int          `json:"failures"`
	SetupSteps    int          `json:"setup_steps"`    // distinct setup steps seen
	TeardownSteps int          `json:"teardown_steps"` // distinct teardown steps seen

	start Sighting // the call's first message, for ordering
}

// Report is the verifier's result.
type Report struct {
	Files    []string `json:"files"`
	Frames   int      `json:"frames"`
	Messages int      `json:"messages"`
	// CallCount is every call in the capture, CallsFailed those with a
	// failure. Calls details them, in the order they started, up to
	// Options.MaxCallDetails (failing calls first); CallsNotListed counts
	// the calls checked but not detailed.
	CallCount      int          `json:"call_count"`
	CallsFailed    int          `json:"calls_failed"`
	CallsNotListed int          `json:"calls_not_listed,omitempty"`
	Calls          []CallReport `json:"calls"`
	Failures       []Failure    `json:"failures"`
	// MoreFailures counts the failures beyond the first maxFailures, which
	// are not listed.
	MoreFailures int       `json:"more_failures,omitempty"`
	Problems     []Problem `json:"problems,omitempty"`
	// NoClearinghouse is set when the calls were checked as the
	// no-clearinghouse variant (no OSP step expected on the wire).
	NoClearinghouse bool `json:"no_clearinghouse"`
	// Core is the link the DSCP rules are checked on.
	Core string `json:"core"`
	// TLSSessions counts the TLS sessions of the OSP leg, TLSDecrypted
	// those read with the key logs (KeyLogs names the files).
	TLSSessions  int      `json:"tls_sessions,omitempty"`
	TLSDecrypted int      `json:"tls_decrypted,omitempty"`
	KeyLogs      []string `json:"key_logs,omitempty"`
	// PeakOpenCalls is the most calls the pass held open at once: what
	// its memory is bounded by, whatever the size of the capture.
	PeakOpenCalls int `json:"peak_open_calls"`
	// Cut says where and why the capture ends inside a block (a truncated
	// file): everything before it was verified, nothing after it.
	Cut string `json:"cut,omitempty"`
}

// OK tells whether every check held.
func (r *Report) OK() bool { return len(r.Failures) == 0 && r.MoreFailures == 0 }

func (r *Report) addFailure(f Failure) {
	if len(r.Failures) >= maxFailures {
		r.MoreFailures++
		return
	}
	r.Failures = append(r.Failures, f)
}

// mayKeep tells whether a call about to be judged could have its details
// kept: while there is room, or when it fails and a passing call can make
// room.
func (r *Report) mayKeep(failing bool, maxDetails int) bool {
	if maxDetails == 0 {
		maxDetails = DefaultMaxCallDetails
	}
	return maxDetails < 0 || len(r.Calls) < maxDetails || failing
}

// addCall counts a judged call with its failures and returns the index
// in Calls where its details go, or -1 when they are not kept: within the
// bound, and a failing call before a passing one.
func (r *Report) addCall(failures []Failure, maxDetails int) int {
	r.CallCount++
	if len(failures) > 0 {
		r.CallsFailed++
	}
	for _, f := range failures {
		r.addFailure(f)
	}
	if maxDetails == 0 {
		maxDetails = DefaultMaxCallDetails
	}
	if maxDetails < 0 || len(r.Calls) < maxDetails {
		r.Calls = append(r.Calls, CallReport{})
		return len(r.Calls) - 1
	}
	r.CallsNotListed++
	if len(failures) > 0 {
		for i := len(r.Calls) - 1; i >= 0; i-- {
			if r.Calls[i].Failures == 0 {
				return i
			}
		}
	}
	return -1
}

// Complete tells whether the whole capture was read (see Cut).
func (r *Report) Complete() bool { return r.Cut == "" }

// Call returns the report of one call.
func (r *Report) Call(id string) (*CallReport, bool) {
	for i := range r.Calls {
		if r.Calls[i].ID == id {
			return &r.Calls[i], true
		}
	}
	return nil, false
}

// maxListed bounds how many failures the text summary lists; the JSON
// form has them all.
const maxListed = 50

// WriteText writes the human summary.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "qoslab verify: %s\n", strings.Join(r.Files, ", "))
	calls := "calls"
	if r.CallCount == 1 {
		calls = "call"
	}
	fmt.Fprintf(&b, "  %d packets, %d messages, %d %s", r.Frames, r.Messages, r.CallCount, calls)
	if r.CallCount > 0 {
		fmt.Fprintf(&b, ": %d verified, %d failed", r.CallCount-r.CallsFailed, r.CallsFailed)
	}
	b.WriteString("\n")
	if r.TLSSessions > 0 {
		fmt.Fprintf(&b, "  OSP over TLS: %d sessions, %d decrypted with the key logs\n", r.TLSSessions, r.TLSDecrypted)
	}
	if r.NoClearinghouse {
		b.WriteString("  no OSP on the wire: checked as the no-clearinghouse variant (--clearinghouse=yes to require it)\n")
	}
	for _, c := range r.Calls {
		status := "ok"
		if c.Failures > 0 {
			status = fmt.Sprintf("%d failures", c.Failures)
		}
		variants := ""
		if len(c.Variants) > 0 {
			variants = " [" + strings.Join(c.Variants, ", ") + "]"
		}
		if r.CallCount <= 20 || c.Failures > 0 {
			fmt.Fprintf(&b, "  call %s: setup %d steps, teardown %d steps%s: %s\n", c.ID, c.SetupSteps, c.TeardownSteps, variants, status)
			if media := c.coreSummary(r.Core); media != "" {
				fmt.Fprintf(&b, "    media on %s: %s\n", r.Core, media)
			}
		}
	}
	fs := append([]Failure(nil), r.Failures...)
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Packet < fs[j].Packet })
	for i, f := range fs {
		if i == maxListed {
			fmt.Fprintf(&b, "  ... and %d more failures (see --json)\n", len(fs)-maxListed+r.MoreFailures)
			break
		}
		fmt.Fprintf(&b, "  FAIL %s\n", f)
	}
	switch {
	case r.OK() && !r.Complete():
		fmt.Fprintf(&b, "INCOMPLETE: %s; every check on what it holds passed\n", r.Cut)
	case r.OK():
		b.WriteString("PASS: every docs/FLOW.md order and DSCP rule holds\n")
	default:
		fmt.Fprintf(&b, "FAIL: %d checks failed\n", len(r.Failures)+r.MoreFailures)
		if !r.Complete() {
			fmt.Fprintf(&b, "INCOMPLETE: %s\n", r.Cut)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Step returns the first message of a call labelled with a docs/FLOW.md step.
func (c *CallReport) Step(phase flow.Phase, n int) (*Message, bool) {
	for _, m := range c.Messages {
		if m.Phase == phase && m.Step == n {
			return m, true
		}
	}
	return nil, false
}

// MediaOn sums a call's media packets on one link, in one direction and
// gate window, by DSCP ("" matches any direction or window).
func (c *CallReport) MediaOn(link, dir, window string) map[uint8]int {
	out := map[uint8]int{}
	for _, m := range c.Media {
		if m.Link != link || dir != "" && m.Dir != dir || window != "" && m.Window != window {
			continue
		}
		for d, n := range m.DSCP {
			out[d] += n
		}
	}
	return out
}

// coreSummary says, per direction, how many media packets crossed the
// core while the gate was installed and how many of them were EF, and
// how many crossed outside it and were not.
func (c *CallReport) coreSummary(core string) string {
	var parts []string
	for _, dir := range []string{"UAC->UAS", "UAS->UAC"} {
		in, out := c.MediaOn(core, dir, WindowGated), map[uint8]int{}
		for _, w := range []string{WindowBeforeGate, WindowAfterGate} {
			for d, n := range c.MediaOn(core, dir, w) {
				out[d] += n
			}
		}
		total := func(m map[uint8]int) (n int) {
			for _, v := range m {
				n += v
			}
			return n
		}
		if total(in)+total(out) == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d/%d EF while gated, %d/%d not EF outside", dir, in[DSCPEF], total(in), total(out)-out[DSCPEF], total(out)))
	}
	return strings.Join(parts, "; ")
}
