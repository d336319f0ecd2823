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
	"github.com/gopacket/gopacket/pcapgo"
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

// ngSource reads one pcapng file. Frames borrow the reader's buffer until
// the next call (the decoder copies what it keeps).
type ngSource struct {
	r        *pcapgo.NgReader
	fallback string // link name when an interface has no name
	names    []string
}

func newNgSource(r io.Reader, fallback string) (*ngSource, error) {
	ng, err := pcapgo.NewNgReader(r, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
	if err != nil {
		return nil, fmt.Errorf("trace: read pcapng %s: %w", fallback, err)
	}
	return &ngSource{r: ng, fallback: fallback}, nil
}

func (s *ngSource) next() (Frame, error) {
	data, ci, err := s.r.ZeroCopyReadPacketData()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Frame{}, io.EOF
		}
		return Frame{}, fmt.Errorf("trace: read pcapng %s: %w", s.fallback, err)
	}
	lt := layers.LinkTypeEthernet
	if len(ci.AncillaryData) > 0 {
		if t, ok := ci.AncillaryData[0].(layers.LinkType); ok {
			lt = t
		}
	}
	return Frame{Link: s.linkName(ci.InterfaceIndex), Time: ci.Timestamp.UnixNano(), Type: lt, Data: data}, nil
}

func (s *ngSource) linkName(i int) string {
	for len(s.names) <= i {
		name := s.fallback
		if intf, err := s.r.Interface(len(s.names)); err == nil && intf.Name != "" {
			name = intf.Name
		}
		s.names = append(s.names, name)
	}
	return s.names[i]
}

// mergeSource merges several time-ordered sources by timestamp (ties keep
// file order), as mergecap does, copying each frame since its reader's
// buffer is reused.
type mergeSource struct {
	h mergeHeap
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
		if errors.Is(err, io.EOF) {
			continue
		}
		if err != nil {
			return nil, err
		}
		f.Data = append([]byte(nil), f.Data...)
		m.h = append(m.h, mergeItem{f, s, i})
	}
	heap.Init(&m.h)
	return m, nil
}

func (m *mergeSource) next() (Frame, error) {
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

// CaptureFiles resolves what `qoslab verify` was given: a pcapng file is
// used as is; a lab or run directory is searched for capture/lab.pcapng
// (the merged capture, whose packet numbers reports use), then lab.pcapng,
// then the per-link capture/*.pcapng files, merged by time. Gzipped files
// (name.pcapng.gz) are read the same way.
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
		files, _ := filepath.Glob(filepath.Join(dir, "*.pcapng"))
		gz, _ := filepath.Glob(filepath.Join(dir, "*.pcapng.gz"))
		files = append(files, gz...)
		if len(files) > 0 {
			sort.Strings(files)
			return files, nil
		}
	}
	return nil, fmt.Errorf("trace: no pcapng capture in %s", path)
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
		s, err := newNgSource(f, strings.TrimSuffix(strings.TrimSuffix(filepath.Base(name), ".gz"), ".pcapng"))
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
