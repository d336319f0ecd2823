package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// signalled is the cause of a context cancelled by a signal.
type signalled struct{ sig syscall.Signal }

func (s *signalled) Error() string { return "interrupted by " + unix.SignalName(s.sig) }

// exitStatus is the shell's convention for a process ended by a signal.
func (s *signalled) exitStatus() int { return 128 + int(s.sig) }

// signalContext is cancelled, with a *signalled cause, by SIGINT, SIGTERM,
// SIGHUP, or by a SIGPIPE that comes from a closed standard output or
// error (`qoslab run | head -1`). Commands then stop what they do and tear
// down or roll back their lab before the process exits; further signals
// are swallowed so that the cleanup finishes.
//
// Catching SIGPIPE also turns it into EPIPE on every later write, so the
// process is not killed on its next line of output. A SIGPIPE from a
// socket whose peer went away is not an end: only a broken fd 1 or 2 is.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case s := <-ch:
				sig := s.(syscall.Signal)
				if sig == syscall.SIGPIPE && !stdioBroken() {
					continue
				}
				cancel(&signalled{sig})
			}
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}

// stdioBroken tells whether standard output or error is a pipe or socket
// nobody reads any more (poll reports POLLERR or POLLHUP on it).
func stdioBroken() bool {
	fds := []unix.PollFd{{Fd: 1, Events: unix.POLLOUT}, {Fd: 2, Events: unix.POLLOUT}}
	if _, err := unix.Poll(fds, 0); err != nil {
		return false
	}
	for _, f := range fds {
		if f.Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
			return true
		}
	}
	return false
}

// interrupted returns the signal that cancelled ctx, if one did.
func interrupted(ctx context.Context) (*signalled, bool) {
	var s *signalled
	ok := errors.As(context.Cause(ctx), &s)
	return s, ok
}
