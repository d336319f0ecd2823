package trace

import (
	"context"
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
	// Logs are node log lines (ReadNodeLogs) to hold against the capture:
	// each call's messages must be logged by their sender and receiver,
	// and every step a node logged must be in the capture.
	Logs []LogLine
	// KeyLog is TLS session secrets in the NSS key log format (what Go's
	// tls.Config.KeyLogWriter writes and Wireshark's tls.keylog_file
	// reads), to read the OSP leg when it runs over TLS. Verify adds the
	// key logs it finds beside the capture (KeyLogFiles); the Decryption
	// Secrets Blocks of a pcapng file are read too.
	KeyLog []byte
	// MaxCallDetails bounds how many calls the report keeps with their
	// messages and media counts (0: DefaultMaxCallDetails, negative: all);
	// failing calls come first. Every call is checked and counted either
	// way; the bound keeps memory flat on captures of any size.
	MaxCallDetails int
}

// Verify reads a capture (a pcapng file, or a lab/run directory: see
// CaptureFiles) and checks it against docs/FLOW.md. The error is for a capture
// that could not be read; broken rules are in the Report.
func Verify(ctx context.Context, path string, topo *Topology, opts Options) (*Report, error) {
	files, err := CaptureFiles(path)
	if err != nil {
		return nil, err
	}
	logs := KeyLogFiles(path)
	if len(logs) > 0 {
		b, err := ReadKeyLogs(logs)
		if err != nil {
			return nil, err
		}
		opts.KeyLog = append(append([]byte(nil), opts.KeyLog...), b...)
	}
	r, err := VerifyFiles(ctx, files, topo, opts)
	if r != nil {
		r.KeyLogs = logs
	}
	return r, err
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
	a := newAnalyzer(topo, opts)
	if err := a.keys.add(opts.KeyLog, "(Options.KeyLog)"); err != nil {
		return nil, err
	}
	if err := a.run(ctx, src); err != nil {
		return nil, err
	}
	return a.finish(), nil
}

// DefaultMaxCallDetails is how many calls a report keeps with their
// messages and media counts when Options.MaxCallDetails is 0.
const DefaultMaxCallDetails = 200

// maxFailures bounds the failures and problems a report lists; the rest
// are counted.
const maxFailures = 10000

// noCH tells whether calls judged now are checked as the no-clearinghouse
// variant: with CHAuto, when no OSP was seen so far (the first call's
// authorisation, step 3, comes before any call can be over).
func (a *analyzer) noCH() bool {
	return a.opts.Clearinghouse == CHAbsent || a.opts.Clearinghouse == CHAuto && a.ospSeen == 0
}

// complete tells whether a call has every step its variant needs, so it
// can be judged once quiet.
func (a *analyzer) complete(c *Call) bool {
	if !c.invite {
		return false
	}
	k := &checker{c: c, noCH: a.noCH(), roles: a, memo: a.memo, dry: true}
	variants := k.checkCall()
	return !k.incomplete && !contains(variants, VariantNoTeardown)
}

// sortMessages puts a call's messages in first-sighting order. They come
// nearly in that order already: an insertion sort is linear then.
func sortMessages(c *Call) {
	ms := c.Messages
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].First.Before(ms[j-1].First); j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

// verdict is what the checks of a call's signalling found. A call is
// judged in two stages: its signalling once it is complete and quiet
// (its messages can go then), its media once it has been quiet longer
// (the probes after its teardown are in by then).
type verdict struct {
	variants                  []string
	failures                  []Failure
	setupSteps, teardownSteps int
	start                     Sighting
}

// judgeSignalling runs the order, step and log checks of a call; final is
// set at the end of the capture.
func (a *analyzer) judgeSignalling(c *Call, final bool) {
	a.cops.forget(c)
	for _, m := range c.Messages {
		m.call = nil
	}
	sortMessages(c)
	k := &checker{c: c, noCH: a.noCH(), roles: a, memo: a.memo, cut: final && a.cut != nil}
	variants := k.checkCall()
	if a.logs != nil {
		k.failures = append(k.failures, a.logs.call(c)...)
	}
	c.verdict = &verdict{variants: variants, failures: k.failures, setupSteps: k.setup.count(), teardownSteps: k.teardown.count(), start: c.Messages[0].First}
	if !a.rep.mayKeep(len(k.failures) > 0, a.opts.MaxCallDetails) {
		c.Messages = nil // its details will not be reported: let them go
	}
}

// finalize runs the media checks of a judged call and adds it to the
// report.
func (a *analyzer) finalize(c *Call) {
	delete(a.calls, c.ID)
	a.owners.release(c)
	v := c.verdict
	failures := append(v.failures, a.dscpFailures(c)...)
	if a.opts.RequireMedia && !contains(v.variants, VariantDenied) && !contains(v.variants, VariantCut) {
		failures = append(failures, a.requireMedia(c)...)
	}
	slot := a.rep.addCall(failures, a.opts.MaxCallDetails)
	if slot < 0 {
		return
	}
	for _, m := range c.Messages {
		m.fillSeen(a.links)
	}
	a.rep.Calls[slot] = CallReport{
		ID: c.ID, Variants: v.variants, Messages: c.Messages, Media: a.mediaCounts(c),
		Failures: len(failures), SetupSteps: v.setupSteps, TeardownSteps: v.teardownSteps, start: v.start,
	}
}

// finish completes the report once the pass is over.
func (a *analyzer) finish() *Report {
	r := a.rep
	r.Frames, r.Messages = a.frames, a.messages
	if a.cut != nil {
		r.Cut = a.cut.Error()
	}
	for i, p := range r.Problems {
		if i == maxFailures {
			r.MoreFailures += len(r.Problems) - i
			r.Problems = r.Problems[:i]
			break
		}
		r.addFailure(Failure{
			Check: CheckMalformed, CallID: p.CallID, Expected: "a well-formed " + p.Proto + " message", Seen: p.Err,
			Packet: p.No, Link: p.Link,
		})
	}
	r.NoClearinghouse = a.opts.Clearinghouse == CHAbsent || a.opts.Clearinghouse == CHAuto && a.ospSeen == 0
	if a.opts.Clearinghouse == CHAbsent && a.firstOSP != nil {
		m := a.firstOSP
		r.addFailure(Failure{Check: CheckOSP, CallID: m.CallID, Expected: "no OSP on the wire (no clearinghouse)",
			Seen: fmt.Sprintf("%d OSP messages, the first %s", a.ospSeen, where(m)), Packet: m.First.No, Link: m.First.Link})
	}
	for _, f := range a.theftFailures() {
		r.addFailure(f)
	}
	for _, f := range a.tlsFailures {
		r.addFailure(f)
	}
	sessions := map[[32]byte]bool{}
	for _, s := range a.tlsSessions {
		sessions[s.clientRandom] = true
	}
	r.TLSSessions, r.TLSDecrypted = len(sessions), len(a.tlsDecrypted)
	if a.logs != nil {
		for _, f := range a.logs.rest() {
			r.addFailure(f)
		}
	}
	if r.CallCount == 0 && !a.opts.AllowNoCalls {
		r.addFailure(Failure{Check: CheckNoCalls, Expected: "at least one call (a SIP INVITE) in the capture",
			Seen: fmt.Sprintf("%d packets, %d messages, no call (--allow-no-calls accepts that)", r.Frames, r.Messages)})
	}
	sort.SliceStable(r.Calls, func(i, j int) bool { return r.Calls[i].start.Before(r.Calls[j].start) })
	return r
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
func (a *analyzer) requireMedia(c *Call) []Failure {
	var out []Failure
	for dir, name := range dirNames {
		if a.core >= 0 && c.tally.onCore[dir] > 0 {
			continue
		}
		out = append(out, Failure{Check: CheckMissing, CallID: c.ID, Phase: flow.Setup, Step: 29,
			Expected: "RTP " + name + " on " + a.topo.Core, Seen: "no media packet"})
	}
	return out
}
