// Package nodestest helps the node packages' tests hold what a node logs
// against package flow: Log collects the message lines a node writes
// (nodes.LogMessage), CheckSteps checks each labelled line against the
// step tables and that no step the node takes part in went unlogged.
package nodestest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/internal/wait"
	"github.com/qoslab/qoslab/nodes"
)

// Log is a goroutine-safe sink for a node's JSON log, like node.log.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends log output.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Logger returns a JSON logger writing to l at debug level.
func (l *Log) Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// String is everything logged so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Records returns every JSON record logged so far, decoded.
func (l *Log) Records() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(l.buf.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// Messages returns the message lines of one call, in order ("" for all).
func (l *Log) Messages(call string) []nodes.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []nodes.Message
	for _, line := range bytes.Split(l.buf.Bytes(), []byte("\n")) {
		if m, ok := nodes.ParseMessage(line); ok && (call == "" || m.CallID == call) {
			out = append(out, m)
		}
	}
	return out
}

// KindOf classifies a logged message by its proto and what alone, as the
// log contract writes them (flow.Kind.What: "INVITE", "180 Ringing",
// "REQ AAA", "DEC Install", "RPT Gate-Set-Ack", "AuthorizationRequest").
// A gate command's error reply stands where its Ack would ("RPT
// Gate-Set-Err" is a Gate-Set-Ack). "" for messages of no table (DRQ,
// 100 Trying, DEC Gate-Info).
func KindOf(m nodes.Message) flow.Kind {
	what := m.What
	if m.Proto == "cops" && strings.HasSuffix(what, "-Err") {
		what = strings.TrimSuffix(what, "-Err") + "-Ack"
	}
	for _, k := range flow.Kinds {
		if !strings.EqualFold(k.Proto(), m.Proto) {
			continue
		}
		if what == k.What() || (k.Proto() == "SIP" && strings.HasPrefix(what, k.What()+" ")) {
			return k
		}
	}
	return ""
}

// Call is what CheckSteps needs to know of one call at one node.
type Call struct {
	Me      string       // the node's role: flow.SIP1, flow.POL2, ...
	Variant flow.Variant // the call's variants
	// Phases are the phases the call went through: every step of them
	// that Me sends or receives must be logged.
	Phases []flow.Phase
	// RoleOf is the role of a line's peer; nil: the peer's name
	// upper-cased (the lab's names: uac, sip1, pol1, r1, ch, ...).
	RoleOf func(m nodes.Message) string
}

// CheckSteps checks the message lines one node logged for one call
// against flow: each line with a step is that step's message (its kind
// by the line's proto and what, sent by Me to the peer's role or received
// by Me from it; a decision answers the REQ before it), and every step of
// c.Phases that Me sends or receives is logged, in its direction.
func CheckSteps(t testing.TB, c Call, msgs []nodes.Message) {
	t.Helper()
	for _, err := range Steps(c, msgs) {
		t.Error(err)
	}
}

// WaitSteps is CheckSteps for a node that may still be logging the call:
// it checks msgs() until it finds nothing wrong, for up to wait.Timeout,
// and reports what it found last.
func WaitSteps(t testing.TB, c Call, msgs func() []nodes.Message) {
	t.Helper()
	var errs []error
	wait.Until(wait.Timeout, func() bool {
		errs = Steps(c, msgs())
		return len(errs) == 0
	})
	for _, err := range errs {
		t.Error(err)
	}
}

// Steps is CheckSteps returning what it finds.
func Steps(c Call, msgs []nodes.Message) []error {
	roleOf := c.RoleOf
	if roleOf == nil {
		roleOf = func(m nodes.Message) string { return strings.ToUpper(m.Peer) }
	}
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(c.Me+": "+format, a...)) }
	type seenKey struct {
		phase flow.Phase
		n     int
	}
	seen := map[seenKey]bool{}
	lastREQ := map[flow.Phase]int{}
	for _, m := range msgs {
		if m.Step == 0 {
			continue
		}
		line := fmt.Sprintf("%s %s %q %s/%d peer %s", m.Dir, m.Proto, m.What, m.Flow, m.Step, m.Peer)
		phase := flow.Phase(m.Flow)
		if !inPhases(c.Phases, phase) {
			fail("%s: the call has no %s phase", line, m.Flow)
			continue
		}
		s, ok := flow.Of(phase, c.Variant).Step(m.Step)
		if !ok {
			fail("%s: no such step in %s (%s)", line, phase, c.Variant)
			continue
		}
		from, to := c.Me, roleOf(m)
		if m.Dir == nodes.Received {
			from, to = to, from
		}
		k := KindOf(m)
		switch {
		case s.Kind == flow.RTPMedia: // both ways
			ok = k == s.Kind && (from == s.From && to == s.To || from == s.To && to == s.From)
		case s.Kind == flow.COPSDecInstall || s.Kind == flow.COPSDecRemove:
			ok = (k == flow.COPSDecInstall || k == flow.COPSDecRemove) && from == s.From && to == s.To
			if ok && s.Answers != lastREQ[phase] {
				fail("%s: %v answers step %d, the last REQ was step %d", line, s, s.Answers, lastREQ[phase])
			}
		default:
			ok = k == s.Kind && from == s.From && to == s.To
		}
		if !ok {
			fail("%s is %s %s->%s, but %v", line, k, from, to, s)
			continue
		}
		if k == flow.COPSReqAAA || k == flow.COPSReqLDP || k == flow.COPSReqNoLDP {
			lastREQ[phase] = s.N
		}
		seen[seenKey{phase, s.N}] = true
	}
	for _, p := range c.Phases {
		for _, s := range flow.Of(p, c.Variant).Steps {
			if (s.From == c.Me || s.To == c.Me) && !seen[seenKey{p, s.N}] {
				fail("%v not logged", s)
			}
		}
	}
	return errs
}

func inPhases(ps []flow.Phase, p flow.Phase) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}
