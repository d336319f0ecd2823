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
	code := 0
	if err != nil {
		code = 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
	}
	return out.String(), code
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
