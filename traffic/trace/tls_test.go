package trace_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"slices"
	"strings"
	"testing"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/traffic/trace"
	"github.com/qoslab/qoslab/traffic/trace/tracetest"
)

// tlsCapture makes calls whose OSP legs run over real crypto/tls sessions
// of the given version and returns the capture and its key log.
func tlsCapture(t *testing.T, version uint16, calls int) (*tracetest.Capture, []byte) {
	t.Helper()
	c, err := tracetest.Generate(tracetest.Spec{Calls: calls, OSPTLS: version})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(c.KeyLog, []byte("CLIENT_")) {
		t.Fatalf("no key log: %q", c.KeyLog)
	}
	var buf bytes.Buffer
	if err := c.WritePcapng(&buf); err != nil {
		t.Fatal(err)
	}
	return c, buf.Bytes()
}

// With the key log, the OSP legs over TLS 1.3 and over TLS 1.2 (as Go's
// crypto/tls negotiates each) are decrypted and every OSP step of every
// call is labelled from the plaintext, as Wireshark does with
// tls.keylog_file.
func TestOSPOverTLSDecrypted(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		c, pcap := tlsCapture(t, v, 3)
		r, err := trace.VerifyReader(context.Background(), bytes.NewReader(pcap), "tls", nil, trace.Options{RequireMedia: true, KeyLog: c.KeyLog, Clearinghouse: trace.CHPresent})
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK() || r.CallCount != 3 || r.TLSSessions != 2 || r.TLSDecrypted != 2 {
			t.Fatalf("%s: %d calls, %d TLS sessions, %d decrypted:\n%s", tls.VersionName(v), r.CallCount, r.TLSSessions, r.TLSDecrypted, text(r))
		}
		for _, call := range r.Calls {
			var osp []int
			for _, m := range call.Messages {
				if m.Proto == "osp" && m.Step != 0 {
					if !m.TLS {
						t.Errorf("%s: %s not marked as read from TLS", tls.VersionName(v), m.Label())
					}
					osp = append(osp, m.Step)
				}
			}
			if len(osp) != 8 { // setup 3, 4, 8, 9 and teardown 8, 9, 17, 18
				t.Errorf("%s: call %s has OSP steps %v, want 8", tls.VersionName(v), call.ID, osp)
			}
		}
		if !strings.Contains(text(r), "OSP over TLS: 2 sessions, 2 decrypted") {
			t.Errorf("report does not say the OSP leg was decrypted:\n%s", text(r))
		}
	}
}

// Without the key log the sessions cannot be read: that is a failure
// that says so (once per session), never a silent pass as the
// no-clearinghouse variant, and the OSP steps are missing.
func TestOSPOverTLSWithoutKeysFails(t *testing.T) {
	_, pcap := tlsCapture(t, tls.VersionTLS13, 1)
	r, err := trace.VerifyReader(context.Background(), bytes.NewReader(pcap), "tls", nil, trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || r.NoClearinghouse || len(failuresAt(r, trace.CheckTLS, "", 0)) != 2 {
		t.Fatalf("want two tls failures and the OSP steps missing:\n%s", text(r))
	}
	if f := failuresAt(r, trace.CheckTLS, "", 0)[0]; !strings.Contains(f.Seen, "no TLS 1.3 traffic secrets for this session in the key logs") {
		t.Fatalf("failure %s", f)
	}
	if len(failuresAt(r, trace.CheckMissing, "setup", 3)) != 1 {
		t.Fatalf("step 3 not missing:\n%s", text(r))
	}
	// A wrong key log is as bad as none.
	other, _ := tlsCapture(t, tls.VersionTLS13, 1)
	r, _ = trace.VerifyReader(context.Background(), bytes.NewReader(pcap), "tls", nil, trace.Options{KeyLog: other.KeyLog})
	if r.OK() || len(failuresAt(r, trace.CheckTLS, "", 0)) != 2 {
		t.Fatalf("another session's key log read this one:\n%s", text(r))
	}
}

// A tampered record does not decrypt: reported, not skipped.
func TestOSPOverTLSTamperedRecordFails(t *testing.T) {
	c, _ := tlsCapture(t, tls.VersionTLS12, 1)
	// Flip a byte of the ciphertext of step 8's request on every link.
	for _, i := range c.StepPackets("call-0@qoslab.test", flow.Setup, 8) {
		d := c.Packets[i].Data
		d[len(d)-20] ^= 0xff // the verifier, like Wireshark by default, does not check TCP checksums
	}
	var buf bytes.Buffer
	c.WritePcapng(&buf)
	r, _ := trace.VerifyReader(context.Background(), &buf, "tls", nil, trace.Options{KeyLog: c.KeyLog})
	fs := failuresAt(r, trace.CheckTLS, "", 0)
	if len(fs) == 0 || !slices.ContainsFunc(fs, func(f trace.Failure) bool { return strings.Contains(f.Seen, "does not decrypt") }) {
		t.Fatalf("a tampered record passed:\n%s", text(r))
	}
}
