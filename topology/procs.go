package topology

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// nsInode identifies a network namespace: the inode of its nsfs file.
func nsInode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// processesIn lists the pids of every process whose network namespace is
// one of inodes. This finds a lab's processes exactly, even after a crash
// lost the pid files, without guessing from names.
func processesIn(inodes map[uint64]bool) []int {
	if len(inodes) == 0 {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		ino, err := nsInode(filepath.Join("/proc", e.Name(), "ns", "net"))
		if err == nil && inodes[ino] {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cmdlineHas reports whether a running process's command line contains
// every word of want: a pid from a pid file is signalled only if it still
// is the process we started (pids are reused).
func cmdlineHas(pid int, want ...string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00")
	for _, w := range want {
		found := false
		for _, a := range args {
			found = found || a == w
		}
		if !found {
			return false
		}
	}
	return true
}

// alive reports whether pid runs and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses, which may itself
	// contain spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

// stopProcesses sends SIGTERM to every pid, waits up to grace for all of
// them to exit, then SIGKILLs what is left and waits for that too.
func stopProcesses(pids []int, grace time.Duration) error {
	if len(pids) == 0 {
		return nil
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	left := waitGone(pids, grace)
	if len(left) == 0 {
		return nil
	}
	for _, pid := range left {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if left = waitGone(left, 2*time.Second); len(left) > 0 {
		return fmt.Errorf("topology: processes %v did not exit after SIGKILL", left)
	}
	return nil
}

// waitGone waits until none of pids is alive or the timeout passes, and
// returns those still alive. It polls through pidfds, so it works for
// processes that are not our children (a lab brought up by another qoslab).
func waitGone(pids []int, timeout time.Duration) []int {
	deadline := time.Now().Add(timeout)
	fdOf := map[int]int{}
	for _, pid := range pids {
		if fd, err := unix.PidfdOpen(pid, 0); err == nil {
			fdOf[pid] = fd
		}
	}
	defer func() {
		for _, fd := range fdOf {
			unix.Close(fd)
		}
	}()
	for {
		var left []int
		var fds []unix.PollFd
		for _, pid := range pids {
			if fd, ok := fdOf[pid]; ok && alive(pid) {
				left = append(left, pid)
				fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
			}
		}
		remaining := time.Until(deadline)
		if len(left) == 0 || remaining <= 0 {
			return left
		}
		// A pidfd turns readable when its process exits. A zombie child of
		// ours is readable yet alive() already counts it gone; the short
		// timeout covers a child that exits between the two checks.
		if _, err := unix.Poll(fds, int(min(remaining, 5*time.Millisecond)/time.Millisecond)+1); err != nil && !errors.Is(err, unix.EINTR) {
			time.Sleep(time.Millisecond)
		}
	}
}
