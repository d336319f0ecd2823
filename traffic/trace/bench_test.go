package trace_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/qoslab/qoslab/traffic/trace"
	"github.com/qoslab/qoslab/traffic/trace/tracetest"
)

// benchCalls is the size of the benchmark capture: a thousand overlapping
// calls, each with its full setup, media and teardown.
const benchCalls = 1000

// writeBenchCapture writes the benchmark capture once per benchmark.
func writeBenchCapture(b *testing.B, calls int) (string, int) {
	b.Helper()
	c, err := tracetest.Generate(tracetest.Spec{Calls: calls, Gap: 2e6, Media: 10})
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "bench.pcapng")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.WritePcapng(f); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path, len(c.Packets)
}

// BenchmarkVerifyVsTshark times the verifier and tshark on the same
// capture in one run: qoslab decodes, rebuilds and checks every call;
// tshark only dissects every packet (with OSP's port decoded as HTTP) and
// prints one summary line per packet. Compare the ns/op of the two.
func BenchmarkVerifyVsTshark(b *testing.B) {
	path, frames := writeBenchCapture(b, benchCalls)
	b.Run("qoslab", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r, err := trace.Verify(context.Background(), path, nil, trace.Options{RequireMedia: true})
			if err != nil {
				b.Fatal(err)
			}
			if !r.OK() || r.CallCount != benchCalls {
				b.Fatalf("verify: %d calls, %d failures", r.CallCount, len(r.Failures))
			}
		}
		b.ReportMetric(float64(frames)*float64(b.N)/b.Elapsed().Seconds(), "packets/s")
	})
	b.Run("tshark", func(b *testing.B) {
		tshark, err := exec.LookPath("tshark")
		if err != nil {
			b.Skip("tshark not installed: apt-get install tshark")
		}
		for b.Loop() {
			cmd := exec.Command(tshark, "-n", "-r", path, "-d", "tcp.port==1080,http")
			if out, err := cmd.Output(); err != nil || len(out) == 0 {
				b.Fatalf("tshark: %v", err)
			}
		}
		b.ReportMetric(float64(frames)*float64(b.N)/b.Elapsed().Seconds(), "packets/s")
	})
}

// BenchmarkVerifySmall verifies a capture of ten calls: the fixed cost.
func BenchmarkVerifySmall(b *testing.B) {
	path, frames := writeBenchCapture(b, 10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := trace.Verify(context.Background(), path, nil, trace.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(frames)*float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}
