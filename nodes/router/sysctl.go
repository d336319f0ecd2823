package router

import (
	"fmt"
	"os"
	"runtime"

	"github.com/vishvananda/netns"
)

// enableForwarding sets net.ipv4.ip_forward=1 in the namespace nsFd (0 or
// -1: the caller's). /proc/sys/net is resolved against the network namespace of
// the thread that opens it, so for another namespace the write happens on
// a fresh goroutine locked to a thread that joins it; that thread is never
// unlocked, so the runtime discards it instead of reusing it elsewhere.
func enableForwarding(nsFd int) error {
	write := func() error {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
			return fmt.Errorf("router: enable forwarding: %w", err)
		}
		return nil
	}
	if nsFd <= 0 {
		return write()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(netns.NsHandle(nsFd)); err != nil {
			errc <- fmt.Errorf("router: enter namespace to enable forwarding: %w", err)
			return
		}
		errc <- write()
	}()
	return <-errc
}
