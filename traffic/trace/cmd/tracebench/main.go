// Command tracebench times the trace verifier against tshark on the same
// generated capture, in one run, and prints wall-clock and CPU time for
// both (CPU time is the fairer figure on a shared machine):
//
//	go run ./traffic/trace/cmd/tracebench -calls 2000
//
// The tshark half is skipped when tshark is not installed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/qoslab/qoslab/traffic/trace"
	"github.com/qoslab/qoslab/traffic/trace/tracetest"
)

func main() {
	calls := flag.Int("calls", 2000, "calls in the generated capture")
	media := flag.Int("media", 10, "RTP packets each way per call")
	keep := flag.String("keep", "", "write the capture here instead of a temporary file")
	flag.Parse()
	if err := run(*calls, *media, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "tracebench:", err)
		os.Exit(1)
	}
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run(calls, media int, keep string) error {
	c, err := tracetest.Generate(tracetest.Spec{Calls: calls, Gap: 2 * time.Millisecond, Media: media})
	if err != nil {
		return err
	}
	path := keep
	if path == "" {
		dir, err := os.MkdirTemp("", "tracebench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "bench.pcapng")
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := c.WritePcapng(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	st, _ := os.Stat(path)
	fmt.Printf("capture: %d calls, %d packets, %.1f MB\n", calls, len(c.Packets), float64(st.Size())/1e6)

	cpu0, t0 := cpuNow(), time.Now()
	r, err := trace.Verify(context.Background(), path, nil, trace.Options{RequireMedia: true})
	if err != nil {
		return err
	}
	wall, cpu := time.Since(t0), cpuNow()-cpu0
	fmt.Printf("qoslab verify: %8.2fs wall %8.2fs cpu  %9.0f packets/s  (%d calls, %d failures)\n",
		wall.Seconds(), cpu.Seconds(), float64(len(c.Packets))/wall.Seconds(), len(r.Calls), len(r.Failures))
	if !r.OK() {
		return fmt.Errorf("the generated capture did not verify")
	}

	tshark, err := exec.LookPath("tshark")
	if err != nil {
		fmt.Println("tshark: not installed, skipped")
		return nil
	}
	cmd := exec.Command(tshark, "-n", "-r", path, "-d", "tcp.port==1080,http")
	t0 = time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("tshark: %w", err)
	}
	twall := time.Since(t0)
	tcpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	fmt.Printf("tshark -r:     %8.2fs wall %8.2fs cpu  %9.0f packets/s\n", twall.Seconds(), tcpu.Seconds(), float64(len(c.Packets))/twall.Seconds())
	fmt.Printf("qoslab verify is %.1fx faster (wall), %.1fx (cpu)\n", twall.Seconds()/wall.Seconds(), tcpu.Seconds()/cpu.Seconds())
	return nil
}
