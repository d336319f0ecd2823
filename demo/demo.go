// Package demo is `qoslab run`: the whole story of the patent on the
// built-in lab in one command. It brings the lab up, places one call with
// RTP both ways, hangs up, sends probe packets on the call's 5-tuple after
// teardown, stops the captures, verifies them against docs/FLOW.md, draws the
// ladders and takes the lab down, leaving everything in a run directory.
package demo

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/pion/rtp"
	"github.com/qoslab/qoslab/nodes/ua"
	"github.com/qoslab/qoslab/nodes/usage"
	"github.com/qoslab/qoslab/topology"
	"github.com/qoslab/qoslab/traffic/ladder"
	"github.com/qoslab/qoslab/traffic/trace"
)

// Options tune a run.
type Options struct {
	Lab    string        // lab name (default "demo")
	OutDir string        // run directory (default runs/<UTC time>)
	Talk   time.Duration // talk time (default 3s)
	Ring   string        // UAS ring time ("" = the UAS's own parameter)
	Probes int           // probe packets after teardown (0: none)
	// ExpectRefused says the call is meant to be refused (a denying
	// policy): the run then passes when it was, and verified.
	ExpectRefused bool
	Up            topology.Options
	Progress      io.Writer // one line per step (nil: silent)
}

// Result is what a run produced.
type Result struct {
	Dir    string
	Call   ua.CallResult
	Report *trace.Report
	Files  []string // files written into Dir, relative to it

	want string // the call outcome the run expects
}

// OK reports whether verification passed and the call ended as expected.
func (r *Result) OK() bool {
	return r.Report != nil && r.Report.OK() && r.Call.Outcome == r.want
}

func (o *Options) defaults() {
	if o.Lab == "" {
		o.Lab = "demo"
	}
	if o.OutDir == "" {
		o.OutDir = filepath.Join("runs", time.Now().UTC().Format("20060102-150405"))
	}
	if o.Talk == 0 {
		o.Talk = 3 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// Run runs the demo. The lab is taken down whatever happens; the error is
// about running the demo, a failed verification is in Result.OK. A run
// that fails or is cancelled (a signal) after the lab came up still stops
// the captures and collects them, the node logs and the usage records into
// the run directory before the lab goes; run.json says how the run ended
// either way.
func Run(ctx context.Context, spec *topology.Spec, opts Options) (_ *Result, err error) {
	opts.defaults()
	res := &Result{Dir: opts.OutDir, want: ua.OutcomeAnswered}
	if opts.ExpectRefused {
		res.want = ua.OutcomeRefused
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	rec := runRecord{Lab: opts.Lab, Started: time.Now().UTC()}
	defer func() {
		if werr := rec.write(ctx, opts.OutDir, res, err); werr != nil {
			err = errors.Join(err, werr)
		}
	}()
	fmt.Fprintf(opts.Progress, "qoslab run: lab %q, run directory %s\n", opts.Lab, opts.OutDir)
	n, total := 0, 9
	step := func(what string, fn func() (string, error)) error {
		n++
		rec.Step = what
		fmt.Fprintf(opts.Progress, "[%d/%d] %-34s", n, total, what)
		start := time.Now()
		note, err := fn()
		if err == nil && ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		if err != nil {
			fmt.Fprintf(opts.Progress, " failed after %v\n", time.Since(start).Round(time.Millisecond))
			return err
		}
		if note != "" {
			note = "  " + note
		}
		fmt.Fprintf(opts.Progress, " %8v%s\n", time.Since(start).Round(time.Millisecond), note)
		return nil
	}

	var lab *topology.Lab
	if err := step(fmt.Sprintf("lab up (%d nodes, captures)", len(spec.Nodes)), func() (string, error) {
		lab, err = topology.Up(ctx, spec, opts.Lab, opts.Up)
		return "", err
	}); err != nil {
		return res, err
	}
	caller, callee := endpoints(lab.Plan)
	// The last step takes the lab down. Before that, a failed or
	// interrupted run keeps what it captured, then takes the lab down.
	collected, down := false, false
	defer func() {
		if down {
			return
		}
		bg := context.WithoutCancel(ctx)
		if !collected {
			if cerr := topology.StopCapture(bg, lab.Plan.Lab, filepath.Dir(lab.Dir)); cerr != nil {
				err = errors.Join(err, cerr)
			}
			files, cerr := collect(bg, lab.Dir, opts.OutDir)
			res.Files = append(res.Files, files...)
			err = errors.Join(err, cerr)
		}
		if derr := lab.Down(bg, topology.DownOptions{}); derr != nil {
			err = errors.Join(err, fmt.Errorf("demo: take the lab down: %w", derr))
		}
	}()

	if err := step(fmt.Sprintf("call %s -> %s, talk %v", caller, callee, opts.Talk), func() (string, error) {
		res.Call, err = ua.PlaceCall(ctx, topology.ControlSocket(lab.Dir, caller), ua.CallRequest{Talk: opts.Talk.String(), Ring: opts.Ring})
		if err != nil {
			return "", err
		}
		return callNote(res.Call), nil
	}); err != nil {
		return res, err
	}
	if err := step("wait for FIG. 6 to finish", func() (string, error) {
		return "", Settle(ctx, lab.Dir, []string{res.Call.CallID}, 10*time.Second)
	}); err != nil {
		return res, err
	}
	if err := step(fmt.Sprintf("%d probes on the call's 5-tuple", opts.Probes), func() (string, error) {
		if opts.Probes == 0 || res.Call.Outcome != ua.OutcomeAnswered {
			return "skipped: no media to probe", nil
		}
		return "after teardown: must stay DSCP 0", sendProbes(ctx, lab.Plan.Lab, caller, res.Call, opts.Probes)
	}); err != nil {
		return res, err
	}
	if err := step("stop captures", func() (string, error) {
		return "", topology.StopCapture(ctx, lab.Plan.Lab, filepath.Dir(lab.Dir))
	}); err != nil {
		return res, err
	}
	if err := step("collect pcaps, logs, usage records", func() (string, error) {
		files, err := collect(ctx, lab.Dir, opts.OutDir)
		res.Files = append(res.Files, files...)
		collected = err == nil
		return fmt.Sprintf("%d files", len(files)), err
	}); err != nil {
		return res, err
	}
	topo, err := trace.PlanTopology(lab.Plan)
	if err != nil {
		return res, err
	}
	if err := step("verify against docs/FLOW.md", func() (string, error) {
		res.Report, err = verify(ctx, opts.OutDir, topo)
		if err != nil {
			return "", err
		}
		res.Files = append(res.Files, "report.txt", "report.json")
		if res.Report.OK() {
			return "PASS", nil
		}
		return fmt.Sprintf("FAIL: %d checks", len(res.Report.Failures)), nil
	}); err != nil {
		return res, err
	}
	if err := step("draw ladders", func() (string, error) {
		files, err := drawLadders(res.Report, topo, opts.OutDir)
		res.Files = append(res.Files, files...)
		return fmt.Sprintf("%d files", len(files)), err
	}); err != nil {
		return res, err
	}
	return res, step("lab down", func() (string, error) {
		down = true
		return "", lab.Down(context.WithoutCancel(ctx), topology.DownOptions{})
	})
}

// endpoints names the call's caller and callee for the progress lines:
// the first UAC of the plan and the callee it calls by default (its
// "callee" parameter, else the first UAS).
func endpoints(p *topology.Plan) (caller, callee string) {
	caller, callee = "uac", "uas"
	for _, n := range slices.Backward(p.Nodes) {
		if n.Role == "uas" {
			callee = n.Name
		}
	}
	for _, n := range p.Nodes {
		if n.Role == "uac" {
			return n.Name, cmp.Or(n.Params["callee"], callee)
		}
	}
	return caller, callee
}

func callNote(c ua.CallResult) string {
	if c.Outcome != ua.OutcomeAnswered {
		return fmt.Sprintf("%s: %d %s %s", c.Outcome, c.Status, c.ReasonPhrase, c.Reason)
	}
	note := fmt.Sprintf("answered, setup %.1f ms", c.SetupMillis)
	if c.Media != nil {
		note += fmt.Sprintf(", RTP %d/%d packets, EF seen by uac: %d",
			c.Media.Sent.Packets, c.Media.Received.Packets, c.Media.Received.DSCP["46"])
	}
	return note
}

// sendProbes sends RTP-shaped packets from the UAC's media address to the
// UAS's after the call ended: with the gates removed, the routers must
// leave them unmarked, and the verifier checks that they did.
func sendProbes(ctx context.Context, lab, caller string, c ua.CallResult, n int) error {
	if c.Media == nil || c.Media.Remote == "" {
		return fmt.Errorf("demo: the call has no media addresses to probe")
	}
	local, err := netip.ParseAddrPort(c.Media.Local)
	if err != nil {
		return fmt.Errorf("demo: media address %q: %w", c.Media.Local, err)
	}
	remote, err := netip.ParseAddrPort(c.Media.Remote)
	if err != nil {
		return fmt.Errorf("demo: media address %q: %w", c.Media.Remote, err)
	}
	var conn *net.UDPConn
	if err := topology.RunIn(lab, caller, func() error {
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(local))
		return err
	}); err != nil {
		return fmt.Errorf("demo: probe socket: %w", err)
	}
	defer conn.Close()
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x70726f62}, Payload: make([]byte, 160)}
	for i := 0; i < n; i++ {
		pkt.SequenceNumber = uint16(i)
		pkt.Timestamp = uint32(i * 160)
		b, err := pkt.Marshal()
		if err != nil {
			return err
		}
		if _, err := conn.WriteToUDPAddrPort(b, remote); err != nil {
			return fmt.Errorf("demo: probe: %w", err)
		}
		select { // the RTP pace, so probes look like media
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// collect copies the captures, node logs, TLS key logs and lab.json into
// the run directory, and a snapshot of every usage store (the CDRs), taken with
// the store in use so that `qoslab cdr <run dir>` reads them later.
func collect(ctx context.Context, labDir, out string) ([]string, error) {
	var files []string
	copyOne := func(rel string) error {
		b, err := os.ReadFile(filepath.Join(labDir, rel))
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(out, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		files = append(files, rel)
		return os.WriteFile(filepath.Join(out, rel), b, 0o644)
	}
	pcaps, _ := filepath.Glob(filepath.Join(labDir, "capture", "*.pcapng"))
	logs, _ := filepath.Glob(filepath.Join(labDir, "nodes", "*", "node.log"))
	for _, p := range append(append([]string{filepath.Join(labDir, "lab.json")}, pcaps...), logs...) {
		rel, _ := filepath.Rel(labDir, p)
		if err := copyOne(rel); err != nil {
			return files, fmt.Errorf("demo: collect %s: %w", rel, err)
		}
	}
	// The TLS key logs of the nodes (policy servers, clearinghouse), in one
	// file at the top of the run directory: what the verifier and
	// Wireshark's tls.keylog_file read to see the OSP leg inside TLS.
	keyLogs, _ := filepath.Glob(filepath.Join(labDir, "nodes", "*", trace.KeyLogName))
	if len(keyLogs) > 0 {
		b, err := trace.ReadKeyLogs(keyLogs)
		if err != nil {
			return files, fmt.Errorf("demo: collect key logs: %w", err)
		}
		if err := os.WriteFile(filepath.Join(out, trace.KeyLogName), b, 0o600); err != nil {
			return files, fmt.Errorf("demo: collect key logs: %w", err)
		}
		files = append(files, trace.KeyLogName)
	}
	stores, _ := filepath.Glob(filepath.Join(labDir, "nodes", "*", usage.FileName))
	for _, p := range stores {
		rel, _ := filepath.Rel(labDir, p)
		if err := usage.Snapshot(ctx, p, filepath.Join(out, rel)); err != nil {
			return files, fmt.Errorf("demo: collect %s: %w", rel, err)
		}
		files = append(files, rel)
	}
	return files, nil
}

// runRecord is run.json: how a run ended, written whatever happened, so
// that a run directory never looks like a finished run when it is not.
type runRecord struct {
	Lab      string    `json:"lab"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Outcome: "pass" (the call ended as expected and verified), "fail"
	// (it did not, or a check failed), "interrupted" (a signal ended the
	// run at Step), "error" (the run could not go on at Step).
	Outcome string   `json:"outcome"`
	Step    string   `json:"step,omitempty"`
	Error   string   `json:"error,omitempty"`
	CallID  string   `json:"call_id,omitempty"`
	Call    string   `json:"call,omitempty"` // the call's outcome
	Files   []string `json:"files"`
}

func (r *runRecord) write(ctx context.Context, dir string, res *Result, err error) error {
	r.Finished = time.Now().UTC()
	switch {
	case ctx.Err() != nil:
		r.Outcome, r.Error = "interrupted", context.Cause(ctx).Error()
	case err != nil:
		r.Outcome, r.Error = "error", err.Error()
	case res.OK():
		r.Outcome, r.Step = "pass", ""
	default:
		r.Outcome, r.Step = "fail", ""
	}
	if res != nil {
		r.CallID, r.Call, r.Files = res.Call.CallID, res.Call.Outcome, res.Files
	}
	if r.Files == nil {
		r.Files = []string{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "uac -> uas" as written
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("demo: run.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "run.json"), b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// verify checks the merged capture and the node logs, and writes the
// report as text and JSON.
func verify(ctx context.Context, dir string, topo *trace.Topology) (*trace.Report, error) {
	lines, err := trace.ReadNodeLogs(dir)
	if err != nil {
		return nil, err
	}
	rep, err := trace.Verify(ctx, filepath.Join(dir, "capture", "lab.pcapng"), topo, trace.Options{RequireMedia: true, Logs: lines})
	if err != nil {
		return nil, err
	}
	txt, err := os.Create(filepath.Join(dir, "report.txt"))
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	defer txt.Close()
	if err := rep.WriteText(txt); err != nil {
		return nil, fmt.Errorf("demo: report: %w", err)
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("demo: report: %w", err)
	}
	return rep, os.WriteFile(filepath.Join(dir, "report.json"), b, 0o644)
}

// drawLadders writes one SVG and one Mermaid ladder per call, an HTML page
// with all of them, and the topology as Graphviz DOT.
func drawLadders(rep *trace.Report, topo *trace.Topology, dir string) ([]string, error) {
	var files []string
	write := func(name string, b []byte) error {
		files = append(files, name)
		return os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}
	var ds []ladder.Diagram
	for i, id := range ladder.CallIDs(rep) {
		d, err := ladder.FromCall(rep, id, topo)
		if err != nil {
			return files, err
		}
		ds = append(ds, d)
		if err := write(fmt.Sprintf("ladder-%d.svg", i+1), d.SVG()); err != nil {
			return files, err
		}
		if err := write(fmt.Sprintf("ladder-%d.mmd", i+1), []byte(d.Mermaid())); err != nil {
			return files, err
		}
	}
	if err := write("ladders.html", ladder.HTML("qoslab run", ds)); err != nil {
		return files, err
	}
	return files, write("topology.dot", []byte(ladder.TopologyDOT(topo)))
}
