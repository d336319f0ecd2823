package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qoslab/qoslab/traffic/trace"
	"github.com/qoslab/qoslab/traffic/trace/tracetest"
)

// writeCapture writes a synthetic capture of the built-in lab.
func writeCapture(t *testing.T, spec tracetest.Spec, edit func(*tracetest.Capture) error) string {
	t.Helper()
	c, err := tracetest.Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		if err := edit(c); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "lab.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := c.WritePcapng(f); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCmd(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, code, _ := runCmdErr(t, args...)
	return out, code
}

// runCmdErr also returns the error the command ended with, as the root
// command prints it.
func runCmdErr(t *testing.T, args ...string) (string, int, string) {
	t.Helper()
	var cmd = newVerifyCmd()
	if args[0] == "ladder" {
		cmd = newLadderCmd()
	}
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true // as under the root command
	cmd.SetArgs(args[1:])
	err := cmd.Execute()
	code, msg := 0, ""
	if err != nil {
		code, msg = 1, err.Error()
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
	}
	return out.String(), code, msg
}

func TestVerifyCmdExitStatus(t *testing.T) {
	good := writeCapture(t, tracetest.Spec{Calls: 3}, nil)
	out, code := runCmd(t, "verify", good)
	if code != 0 || !strings.Contains(out, "PASS") {
		t.Fatalf("good capture: exit %d\n%s", code, out)
	}
	bad := writeCapture(t, tracetest.Spec{}, func(c *tracetest.Capture) error {
		return c.DropStep("call-0@qoslab.test", "setup", 20)
	})
	out, code = runCmd(t, "verify", bad, "--json")
	if code != 1 {
		t.Fatalf("bad capture: exit %d, want 1\n%s", code, out)
	}
	var rep trace.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	found := false
	for _, f := range rep.Failures {
		found = found || f.Step == 20 && f.Check == trace.CheckMissing
	}
	if !found {
		t.Errorf("JSON report does not name step 20: %+v", rep.Failures)
	}
	if _, code = runCmd(t, "verify", filepath.Join(t.TempDir(), "none.pcapng")); code != 2 {
		t.Errorf("missing file: exit %d, want 2", code)
	}
	junk := filepath.Join(t.TempDir(), "junk.pcapng")
	os.WriteFile(junk, []byte("not a capture"), 0o644)
	if _, code = runCmd(t, "verify", junk); code != 2 {
		t.Errorf("junk file: exit %d, want 2", code)
	}
}

func TestVerifyCmdLabDirectoryWithPerLinkFiles(t *testing.T) {
	c, err := tracetest.Generate(tracetest.Spec{Calls: 2})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	capDir := filepath.Join(dir, "capture")
	os.MkdirAll(capDir, 0o755)
	err = c.WriteLinkPcapngs(func(link string) (io.WriteCloser, error) {
		return os.Create(filepath.Join(capDir, link+".pcapng"))
	})
	if err != nil {
		t.Fatal(err)
	}
	out, code := runCmd(t, "verify", dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestLadderCmdFormats(t *testing.T) {
	capture := writeCapture(t, tracetest.Spec{Calls: 2}, nil)
	dir := t.TempDir()
	for _, name := range []string{"call.svg", "calls.html", "call.mmd"} {
		out, code := runCmd(t, "ladder", capture, "-o", filepath.Join(dir, name), "--topology-dot", filepath.Join(dir, "lab.dot"))
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s", name, code, out)
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Contains(b, []byte("1 INVITE")) {
			t.Errorf("%s: %v, does not draw step 1", name, err)
		}
	}
	if _, code := runCmd(t, "ladder", capture, "--call", "nope", "-o", filepath.Join(dir, "x.svg")); code != 2 {
		t.Errorf("unknown call: exit %d, want 2", code)
	}
}

// Each way a capture can hold less than a verdict needs has its own exit
// status and message: no call (1, unless --allow-no-calls), a capture cut
// inside a block (3, verified up to the cut), an empty file (2, naming the
// whole path); a classic libpcap file is read like pcapng.
func TestVerifyCmdEmptyVerdictsAndBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	c, err := tracetest.Generate(tracetest.Spec{Calls: 2, Gap: 100_000_000})
	if err != nil {
		t.Fatal(err)
	}
	var whole bytes.Buffer
	if err := c.WritePcapng(&whole); err != nil {
		t.Fatal(err)
	}
	noCalls := &tracetest.Capture{Links: c.Links}
	for _, p := range c.Packets {
		if strings.HasPrefix(p.What, "TCP") {
			noCalls.Packets = append(noCalls.Packets, p)
		}
	}
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	var nc, classic bytes.Buffer
	if err := noCalls.WritePcapng(&nc); err != nil {
		t.Fatal(err)
	}
	if err := c.WritePcap(&classic); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		args   []string
		code   int
		output string // in the report or the error
	}{
		{"no call", []string{write("nocalls.pcapng", nc.Bytes())}, 1, "no-calls: expected at least one call"},
		{"no call allowed", []string{filepath.Join(dir, "nocalls.pcapng"), "--allow-no-calls"}, 0, "PASS"},
		{"truncated", []string{write("cut.pcapng", whole.Bytes()[:whole.Len()*3/4+2])}, 3, "INCOMPLETE: capture " + filepath.Join(dir, "cut.pcapng") + " is cut at byte"},
		{"empty file", []string{write("empty.pcapng", nil)}, 2, "capture " + filepath.Join(dir, "empty.pcapng") + ": empty file (0 bytes)"},
		{"classic pcap", []string{write("lab.pcap", classic.Bytes()), "--require-media=false"}, 0, "2 calls"},
	}
	for _, tc := range cases {
		out, code, msg := runCmdErr(t, append([]string{"verify"}, tc.args...)...)
		if code != tc.code || !strings.Contains(out+msg, tc.output) {
			t.Errorf("%s: exit %d (want %d), %q not in:\n%s\n%s", tc.name, code, tc.code, tc.output, out, msg)
		}
	}
}
