// Package wait is how tests wait: for a condition, never for a stretch
// of time. A test that sleeps passes on a fast machine and fails on a
// loaded one; one that waits for what it needs is as quick as the code
// and as patient as the deadline.
package wait

import (
	"bufio"
	"encoding/hex"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Timeout is how long For waits.
const Timeout = 5 * time.Second

// poll is how often a condition is looked at.
const poll = 5 * time.Millisecond

// Until looks at cond until it holds or timeout has passed, and says
// whether it held.
func Until(timeout time.Duration, cond func() bool) bool {
	if cond() {
		return true
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case <-tick.C:
			if cond() {
				return true
			}
		case <-deadline.C:
			return cond()
		}
	}
}

// For fails the test (from its own goroutine) when cond does not hold
// within Timeout; what names the condition in the failure.
func For(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !Until(Timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", Timeout, what)
	}
}

// UDPListening says whether some process on this machine has a UDP
// socket bound to ap (to its port on any address, when ap's address is
// unspecified or absent), from /proc/net/udp and /proc/net/udp6: how a
// test knows that a program with no readiness signal (sipp) is ready,
// without touching the port itself.
func UDPListening(ap netip.AddrPort) bool {
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		if ok, _ := boundIn(f, ap); ok {
			return true
		}
	}
	return false
}

// boundIn reads one /proc/net table: "sl local_address rem_address ...",
// the local address as hex "ADDR:PORT", ADDR in 32-bit words of host
// (little-endian) order.
func boundIn(file string, ap netip.AddrPort) (bool, error) {
	fh, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		a, p, ok := strings.Cut(fields[1], ":")
		port, err := strconv.ParseUint(p, 16, 16)
		if !ok || err != nil || uint16(port) != ap.Port() {
			continue
		}
		bound, ok := procAddr(a)
		if !ok {
			continue
		}
		want := ap.Addr().Unmap()
		if !want.IsValid() || want.IsUnspecified() || bound.IsUnspecified() || bound == want {
			return true, nil
		}
	}
	return false, sc.Err()
}

// procAddr decodes a /proc/net address.
func procAddr(h string) (netip.Addr, bool) {
	b, err := hex.DecodeString(h)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return netip.Addr{}, false
	}
	for i := 0; i < len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	a, _ := netip.AddrFromSlice(b)
	return a.Unmap(), true
}
