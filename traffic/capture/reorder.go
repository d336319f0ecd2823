package capture

import (
	"container/heap"
	"time"

	"github.com/gopacket/gopacket"
)

// reorderDelay is how long a packet waits in the merged file's reorder
// buffer. Each link is read by its own goroutine, so packets reach the
// merged writer a little out of time order; Wireshark shows a file in file
// order, and a ladder read from it must not run backwards. A packet is
// written once it is older than this, unless a link's reader was
// descheduled for longer still.
const reorderDelay = 50 * time.Millisecond

// pending is one packet waiting for its turn in the merged file.
type pending struct {
	ci   gopacket.CaptureInfo
	data []byte
	seq  uint64 // arrival order, to keep equal timestamps stable
}

// byTime is a min-heap of pending packets by capture timestamp.
type byTime []pending

func (h byTime) Len() int { return len(h) }
func (h byTime) Less(i, j int) bool {
	if !h[i].ci.Timestamp.Equal(h[j].ci.Timestamp) {
		return h[i].ci.Timestamp.Before(h[j].ci.Timestamp)
	}
	return h[i].seq < h[j].seq
}
func (h byTime) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *byTime) Push(x any)   { *h = append(*h, x.(pending)) }
func (h *byTime) Pop() any {
	old := *h
	p := old[len(old)-1]
	*h = old[:len(old)-1]
	return p
}

// reorder holds packets until they are older than reorderDelay.
type reorder struct {
	h   byTime
	seq uint64
}

// add keeps a copy of data (the caller's buffer is reused).
func (r *reorder) add(ci gopacket.CaptureInfo, data []byte) {
	r.seq++
	heap.Push(&r.h, pending{ci: ci, data: append([]byte(nil), data...), seq: r.seq})
}

// due pops, in time order, every packet captured before cutoff (all of
// them for the zero time).
func (r *reorder) due(cutoff time.Time, fn func(gopacket.CaptureInfo, []byte)) {
	for r.h.Len() > 0 && (cutoff.IsZero() || r.h[0].ci.Timestamp.Before(cutoff)) {
		p := heap.Pop(&r.h).(pending)
		fn(p.ci, p.data)
	}
}
