package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// `qoslab version` reports what the toolchain stamped into the binary: the
// module, the commit it was built from and the Go version.
func TestVersionFromBuildInfo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not installed: no commit to compare with")
	}
	head, err := exec.Command(git, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "qoslab")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var v versionInfo
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if v.Module != "github.com/qoslab/qoslab" || v.Go != runtime.Version() || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Fatalf("version %+v", v)
	}
	if v.Commit == "" {
		// The go command finds no repository in a git worktree (its .git
		// is a file); a clone, as CI has, always has one.
		if fi, err := os.Stat("../../.git"); err == nil && !fi.IsDir() {
			t.Skip("built in a git worktree: the toolchain stamps no commit")
		}
		t.Fatalf("no commit in %+v", v)
	}
	if want := strings.TrimSpace(string(head)); v.Commit != want || v.Version == "" || v.Version == "(devel)" {
		t.Fatalf("version %+v, want commit %s", v, want)
	}
	text, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(text), "qoslab "+v.Version+" (commit "+v.Commit) {
		t.Fatalf("qoslab version: %q %v", text, err)
	}
}
