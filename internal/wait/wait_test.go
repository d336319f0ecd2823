package wait

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	var done atomic.Bool
	go func() { done.Store(true) }()
	if !Until(Timeout, done.Load) {
		t.Fatal("a condition that came true was not seen")
	}
	start := time.Now()
	if Until(20*time.Millisecond, func() bool { return false }) {
		t.Fatal("a condition that never holds was reported as holding")
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Fatal("gave up before the deadline")
	}
}

func TestUDPListening(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ap := c.LocalAddr().(*net.UDPAddr).AddrPort()
	if !UDPListening(ap) || !UDPListening(netip.AddrPortFrom(netip.Addr{}, ap.Port())) {
		t.Fatalf("%s is bound but not seen", ap)
	}
	if UDPListening(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), ap.Port())) {
		t.Fatalf("%s seen on another address", ap)
	}
	c.Close()
	if !Until(Timeout, func() bool { return !UDPListening(ap) }) {
		t.Fatalf("%s still seen after close", ap)
	}
}
