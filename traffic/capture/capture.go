// Package capture records lab links to pcapng: one file per link and one
// merged file with an interface block per link, written by pcapgo from
// AF_PACKET sockets opened inside the links' namespaces. It needs no
// libpcap and no tcpdump.
package capture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/vishvananda/netns"
)

// MergedFile is the name of the merged capture in the output directory.
const MergedFile = "lab.pcapng"

// Link is one link to capture: the interface of one of its ends.
type Link struct {
	Name      string // pcapng interface name and file name: <name>.pcapng
	Namespace string // named network namespace of the captured end
	Iface     string
}

// flushEvery bounds how stale the files on disk are while a capture runs,
// so a lab can be inspected without stopping it.
const flushEvery = 100 * time.Millisecond

// Run opens one AF_PACKET socket per link, calls ready once all are open,
// and writes every packet until ctx is done or every link is gone (the
// lab's namespaces were removed under it). Files are complete and flushed
// when Run returns.
func Run(ctx context.Context, links []Link, dir string, ready func()) (err error) {
	if len(links) == 0 {
		return errors.New("capture: no links")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	merged, err := newFile(filepath.Join(dir, MergedFile), links)
	if err != nil {
		return err
	}
	merged.reorder = &reorder{}
	defer func() { err = errors.Join(err, merged.close()) }()

	taps, err := openTaps(links, dir)
	defer func() {
		for _, t := range taps {
			if t != nil {
				err = errors.Join(err, t.close())
			}
		}
	}()
	if err != nil {
		return err
	}
	ready()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var live sync.WaitGroup
	for _, t := range taps {
		wg.Add(1)
		live.Add(1)
		go func() {
			defer wg.Done()
			defer live.Done()
			t.copyTo(merged)
		}()
	}
	go func() { live.Wait(); cancel() }() // every link gone: nothing left to record
	go watchNamespaces(ctx, links, cancel)

	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			// Drain before closing: a node logs a message only after the
			// kernel handed it to the capture socket too, so what any node
			// has seen is in a socket queue now, and must reach the files.
			// A read deadline in the past stops every copy loop, which
			// then drains its socket without waiting.
			for _, t := range taps {
				t.stopping.Store(true)
				_ = t.handle.f.SetReadDeadline(time.Now())
			}
			wg.Wait()
			closeHandles(taps)
			return nil
		case <-tick.C:
			merged.flush()
			for _, t := range taps {
				t.out.flush()
			}
		}
	}
}

// watchNamespaces cancels the capture once none of its namespaces exists:
// a capture must never keep a torn-down lab's namespaces alive (its
// sockets pin them).
func watchNamespaces(ctx context.Context, links []Link, cancel func()) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			gone := 0
			for _, l := range links {
				if _, err := os.Stat(filepath.Join("/run/netns", l.Namespace)); errors.Is(err, os.ErrNotExist) {
					gone++
				}
			}
			if gone == len(links) {
				cancel()
				return
			}
		}
	}
}

// tap is one link's socket and its own file.
type tap struct {
	link     Link
	id       int // interface id in the merged file
	handle   *packetSocket
	out      *file
	dropped  uint64      // read just before the socket closes
	stopping atomic.Bool // the capture is stopping: drain, then end
}

// openTaps opens every link's socket at once: binding a packet socket
// waits for an RCU grace period (~10 ms), so in sequence eight links would
// cost the lab's whole bring-up budget.
func openTaps(links []Link, dir string) ([]*tap, error) {
	taps := make([]*tap, len(links))
	errs := make([]error, len(links))
	var wg sync.WaitGroup
	for i, l := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			taps[i], errs[i] = openTap(l, i, dir)
		}()
	}
	wg.Wait()
	return taps, errors.Join(errs...)
}

func openTap(l Link, id int, dir string) (*tap, error) {
	ns, err := netns.GetFromName(l.Namespace)
	if err != nil {
		return nil, fmt.Errorf("capture: link %s: namespace %s: %w", l.Name, l.Namespace, err)
	}
	defer ns.Close()
	type result struct {
		h   *packetSocket
		err error
	}
	rc := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // the thread dies with the goroutine
		if err := netns.Set(ns); err != nil {
			rc <- result{err: err}
			return
		}
		// The socket belongs to the namespace it was opened in; reading it
		// later from any thread is fine.
		h, err := openPacketSocket(l.Iface)
		rc <- result{h, err}
	}()
	r := <-rc
	if r.err != nil {
		return nil, fmt.Errorf("capture: link %s: open %s in %s: %w", l.Name, l.Iface, l.Namespace, r.err)
	}
	out, err := newFile(filepath.Join(dir, l.Name+".pcapng"), []Link{l})
	if err != nil {
		r.h.close()
		return nil, err
	}
	return &tap{link: l, id: id, handle: r.h, out: out}, nil
}

// copyTo reads packets until the socket is closed or its interface is gone.
func (t *tap) copyTo(merged *file) {
	for {
		data, ci, err := t.handle.read()
		if err != nil {
			if t.stopping.Load() {
				_ = t.handle.drain(func(data []byte, ci gopacket.CaptureInfo) { t.record(merged, ci, data) })
			}
			return
		}
		t.record(merged, ci, data)
	}
}

// record writes one packet to the link's file and to the merged file.
func (t *tap) record(merged *file, ci gopacket.CaptureInfo, data []byte) {
	ci.InterfaceIndex = 0
	t.out.write(ci, data)
	ci.InterfaceIndex = t.id
	merged.write(ci, data)
}

// close records the kernel's drop count in the link's file and in the
// capture log: a capture that lost packets must say so.
func (t *tap) close() error {
	if d := t.dropped; d > 0 {
		fmt.Fprintf(os.Stderr, "capture: link %s: the kernel dropped %d packets\n", t.link.Name, d)
	}
	t.handle.close() // a second close is harmless
	return t.out.close()
}

// closeHandles closes every socket at once: like bind, closing a packet
// socket waits for an RCU grace period.
func closeHandles(taps []*tap) {
	var wg sync.WaitGroup
	for _, t := range taps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.dropped += t.handle.drops()
			t.handle.close()
		}()
	}
	wg.Wait()
}

// file is a pcapng file safe for concurrent use. The pcapgo writer is not.
// A file with a reorder buffer (the merged one) writes packets in
// timestamp order, at flush.
type file struct {
	mu      sync.Mutex
	f       *os.File
	w       *pcapgo.NgWriter
	reorder *reorder
	err     error // the first write error, reported by close
}

func newFile(path string, links []Link) (*file, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	intf := func(l Link) pcapgo.NgInterface {
		return pcapgo.NgInterface{
			Name:                l.Name,
			Description:         fmt.Sprintf("%s in %s", l.Iface, l.Namespace),
			LinkType:            layers.LinkTypeEthernet,
			SnapLength:          262144,
			TimestampResolution: 9, // nanoseconds
		}
	}
	w, err := pcapgo.NewNgWriterInterface(f, intf(links[0]), pcapgo.NgWriterOptions{
		SectionInfo: pcapgo.NgSectionInfo{Application: "qoslab capture"},
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("capture: %s: %w", path, err)
	}
	for _, l := range links[1:] {
		if _, err := w.AddInterface(intf(l)); err != nil {
			f.Close()
			return nil, fmt.Errorf("capture: %s: %w", path, err)
		}
	}
	return &file{f: f, w: w}, nil
}

func (f *file) write(ci gopacket.CaptureInfo, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reorder != nil {
		f.reorder.add(ci, data)
		return
	}
	f.keep(f.w.WritePacket(ci, data))
}

// keep remembers the first error: a capture that could not write (disk
// full) must not end as if it were complete. The caller holds f.mu.
func (f *file) keep(err error) {
	if err != nil && f.err == nil {
		f.err = fmt.Errorf("capture: %s: %w", f.f.Name(), err)
	}
}

func (f *file) flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writeDue(time.Now().Add(-reorderDelay))
	f.keep(f.w.Flush())
}

// writeDue writes the buffered packets captured before cutoff (all for the
// zero time). The caller holds f.mu.
func (f *file) writeDue(cutoff time.Time) {
	if f.reorder != nil {
		f.reorder.due(cutoff, func(ci gopacket.CaptureInfo, data []byte) { f.keep(f.w.WritePacket(ci, data)) })
	}
}

func (f *file) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writeDue(time.Time{})
	return errors.Join(f.err, f.w.Flush(), f.f.Close())
}
