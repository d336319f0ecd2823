package trace

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/qoslab/qoslab/flow"
)

// CheckLog is the check that holds node logs against the capture.
const CheckLog Check = "log"

// LogLine is one protocol message a node logged (nodes.LogMessage writes
// them as slog JSON lines with message "msg").
type LogLine struct {
	Node  string `json:"-"`
	Msg   string `json:"msg"`
	Dir   string `json:"dir"` // "tx" or "rx"
	Proto string `json:"proto"`
	What  string `json:"what"`
	Call  string `json:"call"`
	Flow  string `json:"flow"`
	Step  int    `json:"step"`
	Peer  string `json:"peer"`
}

// ReadNodeLogs reads the message lines of every node log of a lab run
// directory (<dir>/nodes/<name>/node.log). Lines that are not message
// lines (other log records, text) are skipped.
func ReadNodeLogs(dir string) ([]LogLine, error) {
	files, err := filepath.Glob(filepath.Join(dir, "nodes", "*", "node.log"))
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("trace: no node logs in %s/nodes", dir)
	}
	sort.Strings(files)
	var out []LogLine
	for _, name := range files {
		node := filepath.Base(filepath.Dir(name))
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("trace: %w", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l LogLine
			if json.Unmarshal(sc.Bytes(), &l) != nil || l.Msg != "msg" {
				continue
			}
			l.Node = node
			out = append(out, l)
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("trace: read %s: %w", name, err)
		}
	}
	return out, nil
}

// logKey is what a log line and a captured message must agree on.
type logKey struct {
	node, dir, call string
	phase           flow.Phase
	step            int
}

// logCheck holds node logs against the capture, call by call as calls
// are judged: every docs/FLOW.md message in the capture was logged as sent by
// its sender and received by its receiver, with the same call and step,
// and every step a node logged is in the capture. Steps of the media (29)
// are not logged per packet and are skipped.
type logCheck struct {
	logged map[logKey]bool
	byCall map[string][]LogLine // lines not yet held against a judged call
}

func newLogCheck(lines []LogLine) *logCheck {
	l := &logCheck{logged: map[logKey]bool{}, byCall: map[string][]LogLine{}}
	for _, line := range lines {
		if line.Step == 0 || line.Step == 29 || line.Call == "" {
			continue
		}
		l.logged[logKey{line.Node, line.Dir, line.Call, flow.Phase(line.Flow), line.Step}] = true
		l.byCall[line.Call] = append(l.byCall[line.Call], line)
	}
	return l
}

// call returns one failure per disagreement between a judged call and
// the logs.
func (l *logCheck) call(c *Call) []Failure {
	captured := map[logKey]bool{}
	var out []Failure
	for _, m := range c.Messages {
		if m.Step == 0 || m.Step == 29 {
			continue
		}
		for _, side := range []struct{ node, dir string }{{m.From, "tx"}, {m.To, "rx"}} {
			k := logKey{side.node, side.dir, c.ID, m.Phase, m.Step}
			if captured[k] {
				continue
			}
			captured[k] = true
			if !l.logged[k] {
				out = append(out, Failure{
					Check: CheckLog, CallID: c.ID, Phase: m.Phase, Step: m.Step,
					Expected: fmt.Sprintf("%s logs %s %s", side.node, side.dir, m.Label()),
					Seen:     "no such line in its node.log",
					Packet:   m.First.No, Link: m.First.Link,
				})
			}
		}
	}
	out = append(out, notCaptured(l.byCall[c.ID], captured)...)
	delete(l.byCall, c.ID)
	return out
}

// rest reports the logged steps of calls the capture never showed.
func (l *logCheck) rest() []Failure {
	var ids []string
	for id := range l.byCall {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []Failure
	for _, id := range ids {
		out = append(out, notCaptured(l.byCall[id], map[logKey]bool{})...)
	}
	return out
}

// notCaptured reports each logged step that is not in the capture, once.
func notCaptured(lines []LogLine, captured map[logKey]bool) []Failure {
	var out []Failure
	for _, l := range lines {
		k := logKey{l.Node, l.Dir, l.Call, flow.Phase(l.Flow), l.Step}
		if captured[k] {
			continue
		}
		captured[k] = true
		out = append(out, Failure{
			Check: CheckLog, CallID: l.Call, Phase: flow.Phase(l.Flow), Step: l.Step,
			Expected: "the logged message in the capture",
			Seen:     fmt.Sprintf("%s logged %s %s %q (peer %s), not in the capture", l.Node, l.Dir, l.Proto, l.What, l.Peer),
		})
	}
	return out
}
