package trace_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qoslab/qoslab/traffic/trace"
	"github.com/qoslab/qoslab/traffic/trace/tracetest"
)

// writeFile writes a synthetic capture with write and returns its path.
func writeFile(t *testing.T, dir, name string, write func(*bytes.Buffer) error) string {
	t.Helper()
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func generate(t *testing.T, spec tracetest.Spec) *tracetest.Capture {
	t.Helper()
	c, err := tracetest.Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A classic libpcap file (tcpdump -w) has no interface names: a directory
// of per-link pcap files is named by its files, like the lab's per-link
// pcapng files, and verifies the same.
func TestClassicPcapPerLinkFilesVerify(t *testing.T) {
	c := generate(t, tracetest.Spec{Calls: 3})
	dir := t.TempDir()
	for _, l := range c.Links {
		writeFile(t, dir, l+".pcap", func(b *bytes.Buffer) error { return c.WritePcap(b, l) })
	}
	r, err := trace.Verify(context.Background(), dir, nil, trace.Options{RequireMedia: true})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || len(r.Calls) != 3 {
		t.Fatalf("classic pcap files: %d calls\n%s", len(r.Calls), text(r))
	}
	if len(r.Files) != len(c.Links) || !strings.HasSuffix(r.Files[0], ".pcap") {
		t.Fatalf("files %v", r.Files)
	}
}

// One classic file of the merged capture is read too (tcpdump, editcap
// -F pcap): its single link is named after the file.
func TestClassicPcapFileIsRead(t *testing.T) {
	c := generate(t, tracetest.Spec{Calls: 2})
	path := writeFile(t, t.TempDir(), "r1-r2.pcap", func(b *bytes.Buffer) error { return c.WritePcap(b) })
	r, err := trace.Verify(context.Background(), path, nil, trace.Options{})
	if err != nil {
		t.Fatalf("classic pcap refused: %v", err)
	}
	if len(r.Calls) != 2 || r.Frames != len(c.Packets) {
		t.Fatalf("read %d frames, %d calls; want %d frames, 2 calls", r.Frames, len(r.Calls), len(c.Packets))
	}
}

// Wireshark reads gzipped captures; so does the verifier, in both formats.
func TestGzippedCapturesAreRead(t *testing.T) {
	c := generate(t, tracetest.Spec{})
	dir := t.TempDir()
	for name, write := range map[string]func(*bytes.Buffer) error{
		"lab.pcapng.gz": func(b *bytes.Buffer) error { return c.WritePcapng(b) },
		"lab.pcap.gz":   func(b *bytes.Buffer) error { return c.WritePcap(b) },
	} {
		path := writeFile(t, dir, name, func(b *bytes.Buffer) error {
			zw := gzip.NewWriter(b)
			var raw bytes.Buffer
			if err := write(&raw); err != nil {
				return err
			}
			zw.Write(raw.Bytes())
			return zw.Close()
		})
		r, err := trace.Verify(context.Background(), path, nil, trace.Options{})
		if err != nil || r.Frames != len(c.Packets) {
			t.Fatalf("%s: %v, %d frames", name, err, r.Frames)
		}
	}
}

// A capture cut inside a block (the writer crashed, the disk filled) is
// verified up to the cut, as Wireshark shows it: the calls before the cut
// pass, the call the cut interrupts is not failed for what it lacks, and
// the report says the capture is incomplete and where it was cut.
func TestTruncatedCaptureVerifiedUpToTheCut(t *testing.T) {
	c := generate(t, tracetest.Spec{Calls: 3, Gap: 200_000_000})
	var buf bytes.Buffer
	if err := c.WritePcapng(&buf); err != nil {
		t.Fatal(err)
	}
	whole := buf.Bytes()
	// Cut in the middle of the last call's setup, inside a block.
	cut := len(whole) * 5 / 6
	path := filepath.Join(t.TempDir(), "lab.pcapng")
	if err := os.WriteFile(path, whole[:cut+3], 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := trace.Verify(context.Background(), path, nil, trace.Options{RequireMedia: true})
	if err != nil {
		t.Fatalf("a truncated capture was refused whole: %v", err)
	}
	t.Log(text(r))
	if r.Complete() || !strings.Contains(r.Cut, path) || !strings.Contains(r.Cut, "is cut at byte") {
		t.Fatalf("cut = %q, want the file and where it was cut", r.Cut)
	}
	if !r.OK() {
		t.Fatalf("failures in a capture that is right up to its cut:\n%s", text(r))
	}
	if len(r.Calls) != 3 || !slices.Contains(r.Calls[2].Variants, trace.VariantCut) || slices.Contains(r.Calls[0].Variants, trace.VariantCut) {
		t.Fatalf("calls %d, variants of the first %v and last %v", len(r.Calls), r.Calls[0].Variants, r.Calls[len(r.Calls)-1].Variants)
	}
	if !strings.Contains(text(r), "INCOMPLETE: capture "+path) {
		t.Fatalf("text report does not say the capture is incomplete:\n%s", text(r))
	}
}

// A failure before the cut is still a failure.
func TestTruncatedCaptureStillFailsBeforeTheCut(t *testing.T) {
	c := generate(t, tracetest.Spec{Calls: 3, Gap: 200_000_000})
	if err := c.DropStep("call-0@qoslab.test", "setup", 20); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := c.WritePcapng(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := trace.VerifyReader(context.Background(), bytes.NewReader(buf.Bytes()[:buf.Len()-5]), "cut", nil, trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || r.Complete() || len(failuresAt(r, trace.CheckMissing, "setup", 20)) != 1 || slices.Contains(r.Calls[0].Variants, trace.VariantCut) {
		t.Fatalf("want step 20 missing in a cut capture:\n%s", text(r))
	}
}

// An empty file is not a capture: an error naming the whole path.
func TestEmptyCaptureIsAnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lab.pcapng")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := trace.Verify(context.Background(), path, nil, trace.Options{})
	if !errors.Is(err, trace.ErrEmptyCapture) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want ErrEmptyCapture naming %s", err, path)
	}
}

// A file in no capture format is refused with its whole path and what it
// starts with; a relative path is named in full.
func TestUnknownFormatNamesTheFullPath(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.pcapng"), []byte("hello, world\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	_, err := trace.Verify(context.Background(), "notes.pcapng", nil, trace.Options{})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "notes.pcapng")) || !strings.Contains(err.Error(), "not a pcap or pcapng file") {
		t.Fatalf("err = %v", err)
	}
}

// An empty verdict is not a pass: packets but no call fail, unless the
// caller allows it.
func TestZeroCallsFail(t *testing.T) {
	c := generate(t, tracetest.Spec{Theft: true})
	var keep []tracetest.Packet
	for _, p := range c.Packets {
		if p.CallID == "" {
			keep = append(keep, p)
		}
	}
	c.Packets = keep
	var buf bytes.Buffer
	if err := c.WritePcapng(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := trace.VerifyReader(context.Background(), bytes.NewReader(buf.Bytes()), "no-calls", nil, trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || len(r.Failures) == 0 || r.Failures[len(r.Failures)-1].Check != trace.CheckNoCalls {
		t.Fatalf("a capture without calls passed:\n%s", text(r))
	}
	if f := r.Failures[len(r.Failures)-1]; !strings.Contains(f.Seen, "no call") {
		t.Fatalf("failure %s", f)
	}
	r, err = trace.VerifyReader(context.Background(), bytes.NewReader(buf.Bytes()), "no-calls", nil, trace.Options{AllowNoCalls: true})
	if err != nil || len(failuresAt(r, trace.CheckNoCalls, "", 0)) != 0 {
		t.Fatalf("AllowNoCalls still failed: %v\n%s", err, text(r))
	}
}
