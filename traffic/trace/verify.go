package trace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/qoslab/qoslab/flow"
)

// Clearinghouse says whether OSP traffic must be on the wire.
type Clearinghouse int

// Clearinghouse modes.
const (
	// CHAuto decides from the capture: with no OSP message at all, the lab
	// ran without a clearinghouse (the policy servers did its work).
	CHAuto Clearinghouse = iota
	// CHPresent requires the OSP steps of every call.
	CHPresent
	// CHAbsent requires that no OSP message is on the wire.
	CHAbsent
)

// Options tune the verifier.
type Options struct {
	Clearinghouse Clearinghouse
	// RequireMedia makes step 29 (RTP both ways across the core) a
	// requirement of every admitted call.
	RequireMedia bool
	// AllowNoCalls lets a capture without any call pass. By default it
	// fails: a verdict on nothing is not a pass.
	AllowNoCalls bool
}

// Verify reads a capture (a pcapng file, or a lab/run directory: see
// CaptureFiles) and checks it against docs/FLOW.md. The error is for a capture
// that could not be read; broken rules are in the Report.
func Verify(ctx context.Context, path string, topo *Topology, opts Options) (*Report, error) {
	files, err := CaptureFiles(path)
	if err != nil {
		return nil, err
	}
	return VerifyFiles(ctx, files, topo, opts)
}

// VerifyFiles checks several captures merged by time (one file is read as
// is, and its packet numbers are those Wireshark shows).
func VerifyFiles(ctx context.Context, files []string, topo *Topology, opts Options) (*Report, error) {
	src, closeAll, err := openFiles(files)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	r, err := verify(ctx, src, topo, opts)
	if r != nil {
		r.Files = files
	}
	return r, err
}

// VerifyReader checks one capture stream (pcapng or pcap); name labels it
// in the report and names the link when an interface has no name.
func VerifyReader(ctx context.Context, rd io.Reader, name string, topo *Topology, opts Options) (*Report, error) {
	src, err := newCapReader(rd, name, name)
	if err != nil {
		return nil, err
	}
	r, err := verify(ctx, src, topo, opts)
	if r != nil {
		r.Files = []string{name}
	}
	return r, err
}

func verify(ctx context.Context, src frameSource, topo *Topology, opts Options) (*Report, error) {
	if topo == nil {
		topo = DefaultTopology()
	}
	a := newAnalyzer(topo)
	err := a.run(ctx, src)
	var cut *CutError
	if errors.As(err, &cut) {
		a.cut = cut
	} else if err != nil {
		return nil, err
	}
	return a.report(opts), nil
}

// report runs the checks on what the pass built.
func (a *analyzer) report(opts Options) *Report {
	r := &Report{Frames: a.frames, Messages: len(a.list), Problems: a.problems}
	if a.cut != nil {
		r.Cut = a.cut.Error()
	}
	for _, p := range a.problems {
		r.Failures = append(r.Failures, Failure{
			Check: CheckMalformed, CallID: p.CallID, Expected: "a well-formed " + p.Proto + " message", Seen: p.Err,
			Packet: p.No, Link: p.Link,
		})
	}
	var ospSeen []*Message
	for _, m := range a.list {
		if m.Proto == "osp" {
			ospSeen = append(ospSeen, m)
		}
	}
	noCH := opts.Clearinghouse == CHAbsent || opts.Clearinghouse == CHAuto && len(ospSeen) == 0
	r.NoClearinghouse = noCH
	r.Core = a.topo.Core
	if opts.Clearinghouse == CHAbsent && len(ospSeen) > 0 {
		m := ospSeen[0]
		r.Failures = append(r.Failures, Failure{Check: CheckOSP, CallID: m.CallID, Expected: "no OSP on the wire (no clearinghouse)",
			Seen: fmt.Sprintf("%d OSP messages, the first %s", len(ospSeen), where(m)), Packet: m.First.No, Link: m.First.Link})
	}
	orphans := a.calls.assignMedia(a.media)
	for _, c := range a.calls.order {
		if !isCall(c) {
			continue
		}
		sort.SliceStable(c.Messages, func(i, j int) bool { return c.Messages[i].First.Before(c.Messages[j].First) })
		k := &checker{c: c, noCH: noCH, roles: a}
		k.cut = a.cut != nil
		variants := k.checkCall()
		setup, teardown := callSteps(c)
		dscp, media := checkDSCP(c, a.topo.Core, setup, teardown)
		k.failures = append(k.failures, dscp...)
		if opts.RequireMedia && !contains(variants, VariantDenied) && !contains(variants, VariantCut) {
			k.requireMedia(media, a.topo.Core)
		}
		r.Failures = append(r.Failures, k.failures...)
		r.Calls = append(r.Calls, CallReport{
			ID: c.ID, Variants: variants, Messages: c.Messages, Media: media,
			Failures: len(k.failures), SetupSteps: len(setup), TeardownSteps: len(teardown),
		})
	}
	r.Failures = append(r.Failures, checkTheft(orphans, a.topo.Core)...)
	if len(r.Calls) == 0 && !opts.AllowNoCalls {
		r.Failures = append(r.Failures, Failure{Check: CheckNoCalls, Expected: "at least one call (a SIP INVITE) in the capture",
			Seen: fmt.Sprintf("%d packets, %d messages, no call (--allow-no-calls accepts that)", r.Frames, r.Messages)})
	}
	return r
}

// isCall tells a call from other SIP dialogs (OPTIONS pings, REGISTER):
// a call has an INVITE.
func isCall(c *Call) bool {
	for _, m := range c.Messages {
		if m.sip != nil && m.sip.Method == "INVITE" {
			return true
		}
	}
	return false
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// requireMedia reports step 29 missing when RTP did not cross the core in
// both directions.
func (k *checker) requireMedia(media []MediaCount, core string) {
	for _, dir := range []string{"UAC->UAS", "UAS->UAC"} {
		n := 0
		for _, m := range media {
			if m.Link == core && m.Dir == dir {
				for _, c := range m.DSCP {
					n += c
				}
			}
		}
		if n == 0 {
			k.fail(Failure{Check: CheckMissing, Phase: flow.Setup, Step: 29,
				Expected: "RTP " + dir + " on " + core, Seen: "no media packet"})
		}
	}
}
