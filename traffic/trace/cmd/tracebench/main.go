// Command tracebench times the trace verifier against tshark on the same
// generated capture, in one run, and prints the ratio:
//
//	go run ./traffic/trace/cmd/tracebench -calls 2000
//
// Both run as child processes reading the same file from the page cache,
// each -runs times; the best run of each is compared (on a shared machine
// the best run is the one least disturbed by others). CPU time (user +
// system) is the fair figure there; wall time and peak RSS are printed
// too. tshark dissects every packet (OSP's port decoded as HTTP) and
// prints one summary line per packet, which is the least work it does on
// a capture; the verifier rebuilds and checks every call. The tshark half
// is skipped when tshark is not installed.
//
// -calls 100000 -media 2 -skip-tshark shows that the verifier's memory is
// bounded by the calls open at once, not by the size of the capture: the
// capture is written by streaming generation (a few GB), and the peak RSS
// of the verifier is printed.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
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
	runs := flag.Int("runs", 3, "runs of each tool; the best is compared")
	keep := flag.String("keep", "", "write the capture here (and keep it) instead of a temporary file; an existing file is reused")
	skipTshark := flag.Bool("skip-tshark", false, "time the verifier only")
	child := flag.String("verify-child", "", "internal: verify this capture and exit (the timed child)")
	flag.Parse()
	if *child != "" {
		os.Exit(verifyChild(*child))
	}
	if err := run(*calls, *media, *runs, *keep, *skipTshark); err != nil {
		fmt.Fprintln(os.Stderr, "tracebench:", err)
		os.Exit(1)
	}
}

// verifyChild is the timed verifier: exit 0 when the capture verifies.
func verifyChild(path string) int {
	r, err := trace.Verify(context.Background(), path, nil, trace.Options{RequireMedia: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracebench:", err)
		return 2
	}
	fmt.Printf("%d calls, %d verified, %d failures\n", r.CallCount, r.CallCount-r.CallsFailed, len(r.Failures))
	if !r.OK() {
		r.WriteText(os.Stderr)
		return 1
	}
	return 0
}

// result is one timed child process.
type result struct {
	wall, cpu time.Duration
	rssKB     int64
	out       string
}

func timeChild(name string, args ...string) (result, error) {
	cmd := exec.Command(name, args...)
	var out []byte
	var stderr bytes.Buffer
	cmd.Stderr = &stderr // tshark warns about running as root on every run
	t0 := time.Now()
	out, err := cmd.Output()
	wall := time.Since(t0)
	if err != nil {
		return result{}, fmt.Errorf("%s: %w\n%s", filepath.Base(name), err, stderr.Bytes())
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	r := result{wall: wall, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), out: string(out)}
	if ru != nil {
		r.rssKB = ru.Maxrss
	}
	return r, nil
}

// best runs a child n times and keeps the run with the least CPU.
func best(n int, name string, args ...string) (result, error) {
	var b result
	for i := 0; i < n; i++ {
		r, err := timeChild(name, args...)
		if err != nil {
			return result{}, err
		}
		if i == 0 || r.cpu < b.cpu {
			b = r
		}
	}
	return b, nil
}

func run(calls, media, runs int, keep string, skipTshark bool) error {
	path := keep
	if path == "" {
		dir, err := os.MkdirTemp("", "tracebench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "bench.pcapng")
	}
	packets, err := writeCapture(path, calls, media)
	if err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	fmt.Printf("capture: %d calls, %d packets, %.1f MB (%s)\n", calls, packets, float64(st.Size())/1e6, path)

	self, err := os.Executable()
	if err != nil {
		return err
	}
	v, err := best(runs, self, "-verify-child", path)
	if err != nil {
		return err
	}
	fmt.Printf("qoslab verify: %7.2fs wall %7.2fs cpu  %9.0f packets/s  peak RSS %4d MB  (%s)\n",
		v.wall.Seconds(), v.cpu.Seconds(), float64(packets)/v.wall.Seconds(), v.rssKB/1024, trim(v.out))
	if skipTshark {
		return nil
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		fmt.Println("tshark: not installed, skipped")
		return nil
	}
	t, err := best(runs, tshark, "-n", "-r", path, "-d", "tcp.port==1080,http")
	if err != nil {
		return err
	}
	fmt.Printf("tshark -r:     %7.2fs wall %7.2fs cpu  %9.0f packets/s  peak RSS %4d MB\n",
		t.wall.Seconds(), t.cpu.Seconds(), float64(packets)/t.wall.Seconds(), t.rssKB/1024)
	fmt.Printf("qoslab verify takes 1/%.1f of tshark's CPU time (1/%.1f of its wall time), best of %d runs each\n",
		t.cpu.Seconds()/v.cpu.Seconds(), t.wall.Seconds()/v.wall.Seconds(), runs)
	return nil
}

func trim(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n') {
		s = s[:len(s)-1]
	}
	return s
}

// writeCapture writes the benchmark capture, or reuses an existing file
// at path (its packets are counted).
func writeCapture(path string, calls, media int) (int, error) {
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return countPackets(path)
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	n, err := tracetest.Stream(w, tracetest.Spec{Calls: calls, Gap: 2 * time.Millisecond, Media: media})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return 0, err
	}
	return n, nil
}

func countPackets(path string) (int, error) {
	r, err := trace.Verify(context.Background(), path, nil, trace.Options{AllowNoCalls: true, MaxCallDetails: 1})
	if err != nil {
		return 0, err
	}
	if r.Frames == 0 {
		return 0, errors.New("empty capture")
	}
	return r.Frames, nil
}
