package topology

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Named namespaces are nsfs bind mounts on files in /run/netns. Other
// tools mount there too, and how they stack mounts on the directory
// decides whether an unmount by path reaches a namespace at all. This file
// makes the directory what iproute2 makes it, and finds namespaces that
// someone else's mount has hidden.

// ensureNetnsDir makes /run/netns a shared mount of its own before the
// first namespace is bound there, exactly as `ip netns add` does
// (iproute2 ip/ipnetns.c, netns_add): make it shared, and if that fails
// because it is no mount point, bind it on itself and try again. Then a
// later `ip netns add` finds a mount point and stacks nothing on top, and
// namespace mounts propagate to (and are unmounted from) every mount
// namespace that shares the directory.
func ensureNetnsDir() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return fmt.Errorf("topology: %w", err)
	}
	bound := false
	for {
		err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) || bound {
			return fmt.Errorf("topology: make %s a shared mount: %w", netnsDir, err)
		}
		if err := unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("topology: bind %s on itself: %w", netnsDir, err)
		}
		bound = true
	}
}

// mount is one line of /proc/self/mountinfo (proc(5)).
type mount struct {
	ID, Parent int
	Dev        string // major:minor
	Root       string // the mounted directory inside its filesystem ("net:[4026532]" for nsfs)
	Point      string // where it is mounted
}

// readMounts parses the calling process's mount table. Hidden mounts (a
// mount covered by another one on the same directory) are listed too.
func readMounts() ([]mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	defer f.Close()
	return parseMountinfo(f)
}

func parseMountinfo(r io.Reader) ([]mount, error) {
	var out []mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		id, err1 := strconv.Atoi(f[0])
		parent, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("topology: mountinfo line %q: bad mount id", sc.Text())
		}
		out = append(out, mount{ID: id, Parent: parent, Dev: f[2], Root: unescapeMount(f[3]), Point: unescapeMount(f[4])})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("topology: read mountinfo: %w", err)
	}
	return out, nil
}

// unescapeMount undoes the octal escapes of mountinfo (space is \040).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// coverPlan says how to make hidden namespace mounts reachable again.
type coverPlan struct {
	Hidden  []string // namespace files whose mount is covered
	Unmount int      // how many mounts to take off the top of the directory
}

// planUncover looks at the mounts on dir (the namespace directory) and at
// the mounts on the files dir/<name> for names, and finds the namespaces
// whose mount is hidden under a later mount of the directory itself: the
// state `mount --bind /run/netns /run/netns`, or an `ip netns add` on a
// directory that was no mount point, leaves behind. Unmounting dir/<name>
// then unmounts nothing (or only a copy) and the namespace lives on.
//
// A covering mount may be taken off only if it is an alias (the same
// directory of the same filesystem as what it covers) and everything
// mounted on it is also mounted, the same namespace on the same file,
// underneath: then removing it loses nobody's namespace. Otherwise the
// error says which mount is in the way.
func planUncover(ms []mount, dir string, names []string) (coverPlan, error) {
	byID := map[int]mount{}
	for _, m := range ms {
		byID[m.ID] = m
	}
	// The stack on dir, bottom first. The bottom's parent is not on dir.
	var stack []mount
	onDir := map[int]bool{}
	for _, m := range ms {
		if m.Point == dir {
			onDir[m.ID] = true
		}
	}
	for _, m := range ms {
		if onDir[m.ID] && !onDir[m.Parent] {
			stack = append(stack, m)
		}
	}
	if len(stack) > 1 {
		return coverPlan{}, fmt.Errorf("topology: %s has %d separate mount stacks", dir, len(stack))
	}
	for len(stack) > 0 {
		top := stack[len(stack)-1]
		next := -1
		for _, m := range ms {
			if m.Parent == top.ID && m.Point == dir {
				next = m.ID
			}
		}
		if next < 0 {
			break
		}
		stack = append(stack, byID[next])
	}
	level := map[int]int{} // mount id -> index in stack
	for i, m := range stack {
		level[m.ID] = i
	}
	// base returns the mount of the directory a mount on a file in dir
	// hangs from, following mounts stacked on the same file.
	base := func(m mount) (int, bool) {
		for i := 0; i < 64; i++ {
			p, ok := byID[m.Parent]
			if !ok {
				return 0, false
			}
			if p.Point != m.Point {
				l, ok := level[p.ID]
				return l, ok
			}
			m = p
		}
		return 0, false
	}
	var plan coverPlan
	lowest := len(stack)
	for _, name := range names {
		file := path.Join(dir, name)
		for _, m := range ms {
			if m.Point != file {
				continue
			}
			l, ok := base(m)
			if !ok {
				// Hangs from the filesystem that holds dir (dir was no mount
				// point when it was bound): hidden under the whole stack.
				l = -1
			}
			if l < len(stack)-1 {
				plan.Hidden = append(plan.Hidden, name)
				lowest = min(lowest, l)
				break
			}
		}
	}
	if len(plan.Hidden) == 0 {
		return coverPlan{}, nil
	}
	// Every mount above the lowest level that holds a hidden namespace
	// goes. Check that each is an alias of that level (the same directory
	// of the same filesystem) and holds no mount of its own.
	var under mount
	if lowest >= 0 {
		under = stack[lowest]
	} else if p, ok := byID[stack[0].Parent]; ok {
		// Beneath the stack: the directory inside its parent filesystem.
		under = mount{Dev: p.Dev, Root: path.Join(p.Root, strings.TrimPrefix(dir, p.Point))}
	}
	for _, c := range stack[lowest+1:] {
		if c.Dev != under.Dev || c.Root != under.Root {
			return coverPlan{}, fmt.Errorf("topology: namespaces %v are hidden under mount %d on %s, which is not the same directory (%s %s) as what it covers (%s %s); unmount it by hand",
				plan.Hidden, c.ID, dir, c.Dev, c.Root, under.Dev, under.Root)
		}
		for _, m := range ms {
			if m.Parent == c.ID && m.Point != dir && !hasTwin(ms, m, base, lowest) {
				return coverPlan{}, fmt.Errorf("topology: namespaces %v are hidden under mount %d on %s, which also holds %s (%s), mounted nowhere beneath it; unmount it by hand",
					plan.Hidden, c.ID, dir, m.Point, m.Root)
			}
		}
	}
	plan.Unmount = len(stack) - 1 - lowest
	return plan, nil
}

// hasTwin tells whether the same filesystem object m mounts is also mounted
// on the same file at stack level at or below lvl (-1: beneath the stack).
func hasTwin(ms []mount, m mount, base func(mount) (int, bool), lvl int) bool {
	for _, o := range ms {
		if o.ID == m.ID || o.Point != m.Point || o.Dev != m.Dev || o.Root != m.Root {
			continue
		}
		l, ok := base(o)
		if !ok {
			l = -1
		}
		if l <= lvl {
			return true
		}
	}
	return false
}

// uncoverNamespaces makes the mounts of the named namespaces reachable
// by path again when another mount of the namespace directory hides them
// (see planUncover), by taking the covering aliases off.
func uncoverNamespaces(names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	ms, err := readMounts()
	if err != nil {
		return nil, err
	}
	plan, err := planUncover(ms, netnsDir, names)
	if err != nil || plan.Unmount == 0 {
		return plan.Hidden, err
	}
	for i := 0; i < plan.Unmount; i++ {
		if err := unix.Unmount(netnsDir, unix.MNT_DETACH); err != nil {
			return plan.Hidden, fmt.Errorf("topology: namespaces %v are hidden under a mount of %s: unmount it: %w", plan.Hidden, netnsDir, err)
		}
	}
	return plan.Hidden, nil
}
