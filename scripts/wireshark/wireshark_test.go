// Tests of the Wireshark helpers: the Lua dissector for COPS client-type
// 0x5153 and the decode-as profile, run through tshark on a synthetic
// capture built with the real codecs. Skipped when tshark is absent (CI
// installs it: scripts/install-deps.sh).
package wireshark

import (
	"bytes"
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qoslab/qoslab/traffic/trace/tracetest"
)

func tshark(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (apt-get install tshark): skipping the Wireshark helper tests")
	}
	return p
}

// capture writes a synthetic capture of the given spec.
func capture(t *testing.T, spec tracetest.Spec) string {
	t.Helper()
	c, err := tracetest.Generate(spec)
	if err != nil {
		t.Fatal(err)
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

// run runs tshark and returns its standard output; Lua errors fail the test.
func run(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tshark(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v\n%s", args, err, stderr.String())
	}
	if strings.Contains(stderr.String(), "Lua") {
		t.Fatalf("tshark reports a Lua problem:\n%s", stderr.String())
	}
	return string(out)
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func TestLuaDissectorDecodesSessionInformation(t *testing.T) {
	tshark(t)
	path := capture(t, tracetest.Spec{})
	out := run(t, nil, "-X", "lua_script:qoslab_cops.lua", "-r", path, "-Y", "qoslab",
		"-T", "fields", "-E", "separator=|", "-e", "qoslab.kind", "-e", "qoslab.callid", "-e", "qoslab.side",
		"-e", "qoslab.media.src", "-e", "qoslab.class", "-e", "qoslab.result", "-e", "qoslab.reason")
	got := lines(out)
	// docs/FLOW.md's proxy-leg messages in capture order (steps 2, 5, 7, 10,
	// 13, 16, 18, 21 of setup; 4, 7, 13, 16 of teardown).
	want := []string{
		"REQ AAA|call-0@qoslab.test|1||EF||",
		"DEC Install|call-0@qoslab.test|1||EF|200|admitted",
		"REQ AAA|call-0@qoslab.test|2||EF||",
		"DEC Install|call-0@qoslab.test|2||EF|200|admitted",
		"REQ LDP|call-0@qoslab.test|2|198.18.1.2:20000,198.18.4.2:30000|EF||",
		"DEC Install|call-0@qoslab.test|2|198.18.1.2:20000,198.18.4.2:30000|EF|200|admitted",
		"REQ LDP|call-0@qoslab.test|1|198.18.1.2:20000,198.18.4.2:30000|EF||",
		"DEC Install|call-0@qoslab.test|1|198.18.1.2:20000,198.18.4.2:30000|EF|200|admitted",
		"REQ noLDP|call-0@qoslab.test|1|198.18.1.2:20000,198.18.4.2:30000|EF||",
		"DEC Remove|call-0@qoslab.test|1|198.18.1.2:20000,198.18.4.2:30000|EF|200|admitted",
		"REQ noLDP|call-0@qoslab.test|2|198.18.1.2:20000,198.18.4.2:30000|EF||",
		"DEC Remove|call-0@qoslab.test|2|198.18.1.2:20000,198.18.4.2:30000|EF|200|admitted",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("tshark -Y qoslab:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A REQ noLDP says who ended the call (session tag 11).
func TestLuaDissectorShowsWhoReleased(t *testing.T) {
	tshark(t)
	for spec, want := range map[*tracetest.Spec]string{{}: "1", {CalleeHangsUp: true}: "2"} {
		path := capture(t, *spec)
		out := run(t, nil, "-X", "lua_script:qoslab_cops.lua", "-r", path, "-Y", "qoslab.released_by",
			"-T", "fields", "-e", "qoslab.kind", "-e", "qoslab.released_by")
		if got := lines(out); len(got) != 2 || got[0] != "REQ noLDP\t"+want || got[1] != got[0] {
			t.Fatalf("callee hangs up %v: released by %q, want both REQ noLDP with %s", spec.CalleeHangsUp, got, want)
		}
	}
}

func TestLuaDissectorShowsRefusal(t *testing.T) {
	tshark(t)
	path := capture(t, tracetest.Spec{Deny: 1})
	out := run(t, nil, "-X", "lua_script:qoslab_cops.lua", "-r", path, "-Y", "qoslab.result == 403",
		"-T", "fields", "-e", "qoslab.kind", "-e", "qoslab.reason")
	if got := lines(out); len(got) != 1 || got[0] != "DEC Remove\tclearinghouse refused" {
		t.Fatalf("refusal: %q", got)
	}
}

// The capture has no malformed packet with the helpers loaded, OSP is
// decoded as HTTP (by the script, loaded by hand or by the profile) and
// the PCMM gates are decoded by Wireshark itself.
func TestNoMalformedAndOSPVisible(t *testing.T) {
	tshark(t)
	path := capture(t, tracetest.Spec{Calls: 2})
	if out := run(t, nil, "-X", "lua_script:qoslab_cops.lua", "-r", path, "-Y", "_ws.malformed"); strings.TrimSpace(out) != "" {
		t.Fatalf("malformed packets:\n%s", out)
	}
	// Requests: 2 calls x (2 authorisations + 2 usage indications).
	if got := lines(run(t, nil, "-X", "lua_script:qoslab_cops.lua", "-r", path, "-Y", "http.request.method == \"POST\"")); len(got) != 8 {
		t.Errorf("%d OSP requests decoded as HTTP with the script, want 8", len(got))
	}
	home := t.TempDir()
	cmd := exec.Command("sh", "install-profile.sh")
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "XDG_LOCAL_LIB="+filepath.Join(home, ".local/lib"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install-profile.sh: %v\n%s", err, out)
	}
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config")}
	if got := lines(run(t, env, "-C", "qoslab", "-r", path, "-Y", "http.request.method == \"POST\"")); len(got) != 8 {
		t.Errorf("%d OSP requests decoded as HTTP with the qoslab profile, want 8", len(got))
	}
	if got := lines(run(t, nil, "-r", path, "-Y", "cops.pc_gate_command_type == 4")); len(got) != 4 {
		t.Errorf("%d Gate-Sets decoded by Wireshark, want 4", len(got))
	}
}

// The dissector on a real lab capture (traffic/trace/testdata/lab-call:
// one call of the default lab, written by the nodes' own COPS stacks):
// every proxy-leg message is decoded, none is malformed.
func TestLuaDissectorOnRealCapture(t *testing.T) {
	tshark(t)
	path := "../../traffic/trace/testdata/lab-call/capture/lab.pcapng.gz"
	if _, err := os.Stat(path); err != nil {
		t.Skip("real capture not in the tree:", err)
	}
	if out := run(t, nil, "-X", "lua_script:qoslab_cops.lua", "-r", path, "-Y", "_ws.malformed || qoslab.version != 1"); strings.TrimSpace(out) != "" {
		t.Fatalf("malformed or unknown session encoding:\n%s", out)
	}
	got := lines(run(t, nil, "-X", "lua_script:qoslab_cops.lua", "-r", path, "-Y", "qoslab.kind", "-T", "fields", "-e", "qoslab.kind"))
	count := map[string]int{}
	for _, k := range got {
		count[k]++
	}
	// Setup: 2 REQ AAA, 2 REQ LDP, 4 DEC Install; teardown: 2 REQ noLDP, 2 DEC Remove.
	want := map[string]int{"REQ AAA": 2, "REQ LDP": 2, "DEC Install": 4, "REQ noLDP": 2, "DEC Remove": 2}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%s: %d, want %d (all: %v)", k, count[k], n, count)
		}
	}
	if got := lines(run(t, nil, "-X", "lua_script:qoslab_cops.lua", "-r", path, "-Y", "http.request.method == \"POST\" && tcp.port == 1080")); len(got) != 4 {
		t.Errorf("%d OSP requests, want 4 (two authorisations, two usage indications)", len(got))
	}
}

// The OSP leg over TLS shows as TLS (not as HTTP, not as SOCKS) and, with
// the key log the lab's policy servers write, Wireshark's own TLS
// decryption (tls.keylog_file) reads every OSP message inside it: an
// implementation nobody here wrote reads the sessions the verifier reads.
// Both TLS versions Go negotiates.
func TestLuaDissectorOSPOverTLS(t *testing.T) {
	tshark(t)
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		c, err := tracetest.Generate(tracetest.Spec{Calls: 2, OSPTLS: v})
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		path, keys := filepath.Join(dir, "lab.pcapng"), filepath.Join(dir, "tls-keylog.txt")
		var buf bytes.Buffer
		if err := c.WritePcapng(&buf); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keys, c.KeyLog, 0o600); err != nil {
			t.Fatal(err)
		}
		// Without keys: TLS, handshakes and encrypted records, no HTTP.
		// (A merged capture shows each segment once per link it crossed;
		// tshark dissects the first copy and takes the others for
		// retransmissions, so counts are of messages, not of copies.)
		if got := lines(run(t, nil, "-X", "lua_script:qoslab_cops.lua", "-r", path, "-Y", "tls.handshake.type == 1")); len(got) != 2 {
			t.Errorf("%s: %d ClientHellos, want 2 (one session per policy server)", tls.VersionName(v), len(got))
		}
		if got := lines(run(t, nil, "-X", "lua_script:qoslab_cops.lua", "-r", path, "-Y", "http || socks")); len(got) != 0 {
			t.Errorf("%s: %d packets shown as HTTP or SOCKS without the keys", tls.VersionName(v), len(got))
		}
		// With the key log: every OSP message of both calls, 8 requests
		// and 8 answers.
		filter := "http && tls"
		got := lines(run(t, nil, "-X", "lua_script:qoslab_cops.lua", "-o", "tls.keylog_file:"+keys, "-r", path, "-Y", filter,
			"-T", "fields", "-e", "http.request.method", "-e", "http.response.code"))
		posts, oks := 0, 0
		for _, l := range got {
			posts += strings.Count(l, "POST")
			oks += strings.Count(l, "200")
		}
		if posts != 8 || oks != 8 {
			t.Errorf("%s: tshark read %d OSP requests and %d answers through TLS, want 8 and 8:\n%s", tls.VersionName(v), posts, oks, strings.Join(got, "\n"))
		}
	}
}
