package topology

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where named namespaces are bind-mounted (as `ip netns` does).
const netnsDir = "/run/netns"

// inNamespace runs fn on a fresh OS thread that has joined ns. The thread
// is thrown away afterwards (the goroutine exits while still locked), so no
// other goroutine ever runs in a namespace it did not ask for.
func inNamespace(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the runtime ends the thread with the goroutine.
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// createNamespace makes a named namespace and sets its sysctls from inside
// it, before any interface exists, so that no veth ever gets an IPv6
// link-local address (no MLD or router solicitations in the captures).
func createNamespace(name string, forward bool) (netns.NsHandle, error) {
	type result struct {
		h   netns.NsHandle
		err error
	}
	rc := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// netns.NewNamed moves this thread into the new namespace; the
		// thread dies with the goroutine.
		h, err := netns.NewNamed(name)
		if err != nil {
			_ = os.Remove(filepath.Join(netnsDir, name))
			rc <- result{err: fmt.Errorf("topology: create namespace %s: %w", name, err)}
			return
		}
		if err := setSysctls(forward); err != nil {
			h.Close()
			rc <- result{err: fmt.Errorf("topology: namespace %s: %w", name, err)}
			return
		}
		rc <- result{h: h}
	}()
	r := <-rc
	return r.h, r.err
}

// setSysctls writes the sysctls of the calling thread's namespace. New
// namespaces start with ip_forward=0 and IPv6 on; set both explicitly.
func setSysctls(forward bool) error {
	fwd := "0"
	if forward {
		fwd = "1"
	}
	for _, kv := range [][2]string{
		{"net/ipv6/conf/all/disable_ipv6", "1"},
		{"net/ipv6/conf/default/disable_ipv6", "1"},
		{"net/ipv4/ip_forward", fwd},
		// Routers in a lab must not answer with redirects: every path is
		// planned, and redirects would add noise to the captures.
		{"net/ipv4/conf/all/send_redirects", "0"},
		{"net/ipv4/conf/default/send_redirects", "0"},
	} {
		// Sysctls under net/ belong to the namespace of the thread that
		// opens them, which is why this runs on a thread inside it.
		if err := os.WriteFile(filepath.Join("/proc/sys", kv[0]), []byte(kv[1]), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(kv[0], "/", "."), kv[1], err)
		}
	}
	return nil
}

// deleteNamespace unmounts and removes a named namespace. Missing is fine:
// teardown is idempotent. Every mount on the file goes, not only the top
// one: a recursive bind of the directory (`ip netns add` on a directory
// that was no mount point) stacks copies.
func deleteNamespace(name string) error {
	p := filepath.Join(netnsDir, name)
	for i := 0; ; i++ {
		err := unix.Unmount(p, unix.MNT_DETACH)
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if errors.Is(err, unix.EINVAL) {
			break // no mount (left) on the file: a crash between create and mount, or all unmounted
		}
		if err != nil {
			return fmt.Errorf("topology: delete namespace %s: unmount: %w", name, err)
		}
		if i == 64 {
			return fmt.Errorf("topology: delete namespace %s: still mounted after %d unmounts", name, i)
		}
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("topology: delete namespace %s: %w", name, err)
	}
	return nil
}

// labNamespaces lists the namespaces of one lab ("" = of every lab), found
// by their prefix: qoslab never guesses what is its own.
func labNamespaces(lab string) ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("topology: list namespaces: %w", err)
	}
	var out []string
	for _, e := range entries {
		if l, _, ok := parseNamespaceName(e.Name()); ok && (lab == "" || l == lab) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// parseNamespaceName splits "qoslab-<lab>-<node>". Node names have no '-',
// so the last '-' separates them even when the lab name has dashes.
func parseNamespaceName(ns string) (lab, node string, ok bool) {
	rest, ok := strings.CutPrefix(ns, "qoslab-")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '-')
	if i <= 0 || i == len(rest)-1 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}
