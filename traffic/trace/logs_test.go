package trace_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/qoslab/qoslab/traffic/trace"
	"github.com/qoslab/qoslab/traffic/trace/tracetest"
)

// writeLogs writes node logs that say exactly what the report saw, minus
// the lines drop names, in the lab's layout (nodes/<name>/node.log).
func writeLogs(t *testing.T, r *trace.Report, drop func(trace.LogLine) bool, extra ...trace.LogLine) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]*os.File{}
	write := func(l trace.LogLine) {
		f := files[l.Node]
		if f == nil {
			os.MkdirAll(filepath.Join(dir, "nodes", l.Node), 0o755)
			var err error
			if f, err = os.Create(filepath.Join(dir, "nodes", l.Node, "node.log")); err != nil {
				t.Fatal(err)
			}
			files[l.Node] = f
			f.WriteString("{\"time\":\"x\",\"level\":\"INFO\",\"msg\":\"listening\"}\nnot json\n")
		}
		b, _ := json.Marshal(l)
		f.Write(append(b, '\n'))
	}
	for _, c := range r.Calls {
		for _, m := range c.Messages {
			if m.Step == 0 {
				continue
			}
			for _, l := range []trace.LogLine{
				{Node: m.From, Msg: "msg", Dir: "tx", Proto: m.Proto, What: m.What, Call: c.ID, Flow: string(m.Phase), Step: m.Step, Peer: m.To},
				{Node: m.To, Msg: "msg", Dir: "rx", Proto: m.Proto, What: m.What, Call: c.ID, Flow: string(m.Phase), Step: m.Step, Peer: m.From},
			} {
				if drop == nil || !drop(l) {
					write(l)
				}
			}
		}
	}
	for _, l := range extra {
		write(l)
	}
	for _, f := range files {
		f.Close()
	}
	return dir
}

func TestCheckLogs(t *testing.T) {
	spec := tracetest.Spec{Calls: 2}
	r := verifySpec(t, spec, nil, trace.Options{})
	lines, err := trace.ReadNodeLogs(writeLogs(t, r, nil))
	if err != nil {
		t.Fatal(err)
	}
	if r := verifySpec(t, spec, nil, trace.Options{Logs: lines}); !r.OK() {
		t.Fatalf("logs that match the capture fail:\n%s", text(r))
	}
	// R1 did not log sending its Gate-Set-Ack, and POL2 logs a step the
	// capture does not have, for a call it has and one it never saw.
	dir := writeLogs(t, r, func(l trace.LogLine) bool { return l.Node == "r1" && l.Step == 20 && l.Dir == "tx" },
		trace.LogLine{Node: "pol2", Msg: "msg", Dir: "tx", Proto: "cops", What: "DEC Install", Call: "call-0@qoslab.test", Flow: "setup", Step: 99},
		trace.LogLine{Node: "pol2", Msg: "msg", Dir: "tx", Proto: "cops", What: "DEC Install", Call: "ghost@qoslab.test", Flow: "setup", Step: 5})
	lines, err = trace.ReadNodeLogs(dir)
	if err != nil {
		t.Fatal(err)
	}
	r = verifySpec(t, spec, nil, trace.Options{Logs: lines})
	var fs []trace.Failure
	for _, f := range r.Failures {
		if f.Check == trace.CheckLog {
			fs = append(fs, f)
		}
	}
	if len(fs) != 4 || len(r.Failures) != 4 { // step 20 of two calls, the invented step 99, the ghost call
		t.Fatalf("failures %v", r.Failures)
	}
	steps := map[int]int{}
	for _, f := range fs {
		steps[f.Step]++
		if f.Step == 20 && f.Packet == 0 {
			t.Errorf("unlogged step 20 without its packet: %v", f)
		}
	}
	if steps[20] != 2 || steps[99] != 1 || steps[5] != 1 || fs[3].CallID != "ghost@qoslab.test" {
		t.Errorf("failures %v", fs)
	}
	if _, err := trace.ReadNodeLogs(t.TempDir()); err == nil {
		t.Error("no error for a directory without logs")
	}
}
