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
	r := verifySpec(t, tracetest.Spec{Calls: 2}, nil, trace.Options{})
	lines, err := trace.ReadNodeLogs(writeLogs(t, r, nil))
	if err != nil {
		t.Fatal(err)
	}
	if fs := r.CheckLogs(lines); len(fs) != 0 {
		t.Fatalf("logs that match the capture fail: %v", fs)
	}
	// R1 did not log sending its Gate-Set-Ack, and POL2 logs a step the
	// capture does not have.
	dir := writeLogs(t, r, func(l trace.LogLine) bool { return l.Node == "r1" && l.Step == 20 && l.Dir == "tx" },
		trace.LogLine{Node: "pol2", Msg: "msg", Dir: "tx", Proto: "cops", What: "DEC Install", Call: "call-0@qoslab.test", Flow: "setup", Step: 99})
	lines, err = trace.ReadNodeLogs(dir)
	if err != nil {
		t.Fatal(err)
	}
	fs := r.CheckLogs(lines)
	if len(fs) != 3 { // step 20 of two calls, the invented step 99
		t.Fatalf("failures %v", fs)
	}
	if fs[0].Step != 20 || fs[0].Packet == 0 || fs[2].Step != 99 {
		t.Errorf("failures %v", fs)
	}
	if _, err := trace.ReadNodeLogs(t.TempDir()); err == nil {
		t.Error("no error for a directory without logs")
	}
}
