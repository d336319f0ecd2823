package trace_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"testing"

	"github.com/qoslab/qoslab/traffic/trace"
	"github.com/qoslab/qoslab/traffic/trace/tracetest"
)

var update = flag.Bool("update", false, "rewrite testdata/sample.pcapng")

// TestSampleCapture keeps testdata/sample.pcapng (the fuzzers' seed) equal
// to what the generator writes, and checks that it verifies.
func TestSampleCapture(t *testing.T) {
	c, err := tracetest.Generate(tracetest.Spec{Media: 1})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := c.WritePcapng(&buf); err != nil {
		t.Fatal(err)
	}
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile("testdata/sample.pcapng", buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile("testdata/sample.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, buf.Bytes()) {
		t.Fatal("testdata/sample.pcapng is stale: go test ./traffic/trace -run TestSampleCapture -update")
	}
	r, err := trace.Verify(context.Background(), "testdata/sample.pcapng", nil, trace.Options{RequireMedia: true})
	if err != nil || !r.OK() {
		t.Fatalf("sample does not verify: %v\n%s", err, text(r))
	}
}
