package pdp

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qoslab/qoslab/flow"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/script/*.txt")

// TestScripts runs the scripts in testdata/script: each block is one
// event, "----", and the actions the machine answers with (gate book
// actions included), so that a path reads like the patent's figures.
// go test -run TestScripts -rewrite refreshes the expected output.
//
// Events (times in seconds since the script start, "at=1.5"):
//
//	router-up | router-down
//	aaa h=1 call=c1 side=orig|term [token=x] [conn=1]
//	auth-ok h=1 [class=EF] [bw=64000] [txn=t1] [token=x] | auth-refuse h=1 status=403 [reason=...] | auth-fail h=1 err=...
//	ldp h=1 [media=both|caller|callee]
//	set-ack txn=1 gate=7 | set-err txn=1 reason=... [noanswer]
//	noldp h=1 | drq h=1 | proxy-lost [conn=1]
//	del-ack txn=2 [packets=n] [bytes=n] | del-err txn=2 reason=... [noanswer]
//	usage-ok id=... | usage-fail id=... | gates-loaded ids=3,7
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/script/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScript(t, f) })
	}
}

func runScript(t *testing.T, file string) {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMachine(MachineConfig{Node: "pol1", UsageRetryMin: time.Second, UsageRetryMax: 8 * time.Second})
	var out strings.Builder
	blocks := strings.Split(strings.TrimRight(string(b), "\n"), "\n\n")
	for _, block := range blocks {
		lines := strings.Split(block, "\n")
		var cmd string
		var comments []string
		i := 0
		for ; i < len(lines) && strings.HasPrefix(lines[i], "#"); i++ {
			comments = append(comments, lines[i])
		}
		if i == len(lines) {
			out.WriteString(block + "\n\n") // a comment-only block
			continue
		}
		cmd = lines[i]
		var want []string
		if i+1 < len(lines) {
			if lines[i+1] != "----" {
				t.Fatalf("%s: %q: want ---- after the event", file, cmd)
			}
			want = lines[i+2:]
		}
		ev, err := scriptEvent(cmd)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var got []string
		for _, a := range m.Step(ev) {
			got = append(got, fmt.Sprint(a))
		}
		if !*rewrite && strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: after %q:\n got:\n  %s\nwant:\n  %s", file, cmd, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		for _, c := range comments {
			out.WriteString(c + "\n")
		}
		out.WriteString(cmd + "\n----\n")
		for _, g := range got {
			out.WriteString(g + "\n")
		}
		out.WriteString("\n")
	}
	if *rewrite {
		if err := os.WriteFile(file, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// scriptEvent parses one event line.
func scriptEvent(line string) (Event, error) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil, fmt.Errorf("empty event")
	}
	args := map[string]string{}
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		args[k] = strings.ReplaceAll(v, "_", " ")
	}
	num := func(k string, def uint64) uint64 {
		if v, ok := args[k]; ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err == nil {
				return n
			}
		}
		return def
	}
	sec, _ := strconv.ParseFloat(args["at"], 64)
	now := at(sec)
	key := CallKey{Conn: num("conn", 1), Handle: uint32(num("h", 1))}
	txn := uint16(num("txn", 0))
	_, noAnswer := args["noanswer"]
	switch f[0] {
	case "router-up":
		return RouterUp{At: now}, nil
	case "router-down":
		return RouterDown{At: now}, nil
	case "aaa":
		s := session(args["call"], flow.Originating)
		if args["side"] == "term" {
			s.Side = flow.Terminating
		}
		s.Token = []byte(args["token"])
		if len(s.Token) == 0 {
			s.Token = nil
		}
		return ReqAAA{Key: key, At: now, Session: s}, nil
	case "auth-ok":
		var tok []byte
		if args["token"] != "" {
			tok = []byte(args["token"])
		}
		return AuthAnswered{Key: key, At: now, Status: 200, Class: args["class"], Bandwidth: num("bw", 0),
			TransactionID: args["txn"], Token: tok}, nil
	case "auth-refuse":
		return AuthAnswered{Key: key, At: now, Status: int(num("status", 403)), Reason: args["reason"]}, nil
	case "auth-fail":
		return AuthFailed{Key: key, At: now, Err: args["err"]}, nil
	case "ldp":
		ms := media
		switch args["media"] {
		case "caller":
			ms = media[:1]
		case "callee":
			ms = media[1:]
		}
		return ReqLDP{Key: key, At: now, Media: ms}, nil
	case "set-ack":
		return GateSetAcked{TransID: txn, At: now, GateID: uint32(num("gate", 0))}, nil
	case "set-err":
		return GateSetFailed{TransID: txn, At: now, Reason: args["reason"], NoAnswer: noAnswer}, nil
	case "noldp":
		return ReqNoLDP{Key: key, At: now}, nil
	case "drq":
		return Deleted{Key: key, At: now, Reason: "Tear"}, nil
	case "proxy-lost":
		return ProxyLost{Conn: key.Conn, At: now}, nil
	case "del-ack":
		return GateDeleteAcked{TransID: txn, At: now, Counters: Counters{Packets: num("packets", 0), Bytes: num("bytes", 0)}}, nil
	case "del-err":
		return GateDeleteFailed{TransID: txn, At: now, Reason: args["reason"], NoAnswer: noAnswer}, nil
	case "usage-ok":
		return UsageConfirmed{RecordID: args["id"], At: now}, nil
	case "usage-fail":
		return UsageFailed{RecordID: args["id"], At: now, Err: "connection refused"}, nil
	case "gates-loaded":
		var ids []uint32
		for _, s := range strings.Split(args["ids"], ",") {
			n, err := strconv.ParseUint(s, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("gates-loaded: %q", s)
			}
			ids = append(ids, uint32(n))
		}
		return GatesLoaded{IDs: ids}, nil
	}
	return nil, fmt.Errorf("unknown event %q", f[0])
}
