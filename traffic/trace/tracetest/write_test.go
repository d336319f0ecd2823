package tracetest

import (
	"os"
	"testing"
)

// TestWriteSample writes a sample capture when QOSLAB_SAMPLE names a file,
// for looking at it in Wireshark or tshark.
func TestWriteSample(t *testing.T) {
	path := os.Getenv("QOSLAB_SAMPLE")
	if path == "" {
		t.Skip("QOSLAB_SAMPLE not set")
	}
	c, err := Generate(Spec{Calls: 2})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := c.WritePcapng(f); err != nil {
		t.Fatal(err)
	}
}
