package tracetest

import (
	"bytes"
	"os"
	"testing"
	"time"
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

// Stream writes what Generate makes, byte for byte, while holding only the
// calls in flight.
func TestStreamEqualsGenerate(t *testing.T) {
	for _, spec := range []Spec{
		{Calls: 60, Gap: 2 * time.Millisecond, Media: 4},
		{Calls: 20, Gap: time.Millisecond, SIPOverTCP: true, Theft: true},
		{Calls: 5, CalleeHangsUp: true, No180: true},
	} {
		c, err := Generate(spec)
		if err != nil {
			t.Fatal(err)
		}
		var want, got bytes.Buffer
		if err := c.WritePcapng(&want); err != nil {
			t.Fatal(err)
		}
		n, err := Stream(&got, spec)
		if err != nil {
			t.Fatal(err)
		}
		if n != len(c.Packets) || !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("%+v: streamed %d packets, %d bytes; generated %d packets, %d bytes", spec, n, got.Len(), len(c.Packets), want.Len())
		}
	}
}
