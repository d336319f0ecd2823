package trace

import (
	"container/heap"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gopacket/gopacket/layers"
)

// Frame is one captured packet: its number in the merged capture (from 1,
// as Wireshark counts), the link it was captured on, its timestamp in
// nanoseconds since the epoch, its link type and its bytes.
type Frame struct {
	No   int
	Link string
	Time int64
	Type layers.LinkType
	Data []byte
}

// frameSource yields frames in capture order; io.EOF ends it.
type frameSource interface {
	next() (Frame, error)
}

// mergeSource merges several time-ordered sources by timestamp (ties keep
// file order), as mergecap does, copying each frame since its reader's
// buffer is reused.
type mergeSource struct {
	h   mergeHeap
	cut error // a file cut before its first frame: reported at once
}

type mergeItem struct {
	f   Frame
	src frameSource
	ord int
}

type mergeHeap []mergeItem

// Len, Less, Swap, Push and Pop implement container/heap.
func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(i, j int) bool {
	if h[i].f.Time != h[j].f.Time {
		return h[i].f.Time < h[j].f.Time
	}
	return h[i].ord < h[j].ord
}
func (h mergeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(mergeItem)) }
func (h *mergeHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

func newMergeSource(srcs []frameSource) (*mergeSource, error) {
	m := &mergeSource{}
	for i, s := range srcs {
		f, err := s.next()
		var cut *CutError
		switch {
		case errors.Is(err, io.EOF):
			continue
		case errors.As(err, &cut):
			m.cut = err
			continue
		case err != nil:
			return nil, err
		}
		f.Data = append([]byte(nil), f.Data...)
		m.h = append(m.h, mergeItem{f, s, i})
	}
	heap.Init(&m.h)
	return m, nil
}

func (m *mergeSource) next() (Frame, error) {
	if m.cut != nil {
		return Frame{}, m.cut
	}
	if len(m.h) == 0 {
		return Frame{}, io.EOF
	}
	out := m.h[0].f
	f, err := m.h[0].src.next()
	switch {
	case errors.Is(err, io.EOF):
		heap.Pop(&m.h)
	case err != nil:
		return Frame{}, err
	default:
		f.Data = append([]byte(nil), f.Data...)
		m.h[0].f = f
		heap.Fix(&m.h, 0)
	}
	return out, nil
}

// captureExts are the file names CaptureFiles picks in a directory.
var captureExts = []string{".pcapng", ".pcap", ".pcapng.gz", ".pcap.gz"}

// CaptureFiles resolves what `qoslab verify` was given: a capture file
// (pcapng or classic pcap, possibly gzipped) is used as is; a lab or run
// directory is searched for capture/lab.pcapng (the merged capture, whose
// packet numbers reports use), then lab.pcapng, then the per-link capture
// files, merged by time.
func CaptureFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	for _, p := range []string{filepath.Join(path, "capture", "lab.pcapng"), filepath.Join(path, "lab.pcapng")} {
		for _, name := range []string{p, p + ".gz"} {
			if _, err := os.Stat(name); err == nil {
				return []string{name}, nil
			}
		}
	}
	for _, dir := range []string{filepath.Join(path, "capture"), path} {
		var files []string
		for _, ext := range captureExts {
			m, _ := filepath.Glob(filepath.Join(dir, "*"+ext))
			files = append(files, m...)
		}
		if len(files) > 0 {
			sort.Strings(files)
			return files, nil
		}
	}
	return nil, fmt.Errorf("trace: no pcapng or pcap capture in %s", absPath(path))
}

// absPath names a file in errors: the whole path, so that a report read
// elsewhere still says which file it was.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// linkName is the link a file's interfaces are named after when the file
// does not name them: its base name without extensions ("r1-r2.pcap").
func linkName(path string) string {
	base := filepath.Base(path)
	for _, ext := range captureExts {
		if strings.HasSuffix(base, ext) {
			return strings.TrimSuffix(base, ext)
		}
	}
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// openFiles opens the capture files as one merged source; close releases
// them.
func openFiles(files []string) (src frameSource, closeAll func(), err error) {
	var fs []*os.File
	closeAll = func() {
		for _, f := range fs {
			f.Close()
		}
	}
	var srcs []frameSource
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("trace: %w", err)
		}
		fs = append(fs, f)
		s, err := newCapReader(f, absPath(name), linkName(name))
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		srcs = append(srcs, s)
	}
	if len(srcs) == 1 {
		return srcs[0], closeAll, nil
	}
	m, err := newMergeSource(srcs)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return m, closeAll, nil
}
