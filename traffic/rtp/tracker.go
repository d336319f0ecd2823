package rtp

import (
	"time"
)

// dupWindow is how many recent sequence numbers the tracker remembers to
// tell a duplicate from a late (reordered) packet. 1024 packets are 20 s
// of 20 ms audio: far more than any reordering a lab produces.
const dupWindow = 1024

// maxDropout and maxMisorder are RFC 3550 appendix A.1's bounds: a jump
// of more than maxDropout ahead, or more than maxMisorder behind, is a
// restarted sender, not loss.
const (
	maxDropout  = 3000
	maxMisorder = 100
)

// Tracker accounts for the packets of one received RTP stream (one SSRC):
// counts, loss, duplicates, reordering and the RFC 3550 interarrival
// jitter. It is a pure state machine: the caller passes each packet's
// arrival time, so tests script exact sequences and the receive loop owns
// the clock.
type Tracker struct {
	clockRate float64

	started  bool
	ssrc     uint32
	baseExt  int64 // extended sequence number of the first packet
	maxExt   int64 // highest extended sequence number seen
	seen     [dupWindow / 64]uint64
	packets  uint64 // every valid packet, duplicates included
	unique   uint64 // distinct sequence numbers
	bytes    uint64 // UDP payload bytes of every packet
	dups     uint64
	reorder  uint64
	restarts uint64
	// expectedPrior is what the runs before the last restart expected.
	expectedPrior uint64

	haveTransit bool
	transit     float64 // previous relative transit time, in timestamp units
	jitter      float64 // RFC 3550 J, in timestamp units

	first, last time.Time
	dscp        [64]uint64
}

// NewTracker returns a tracker for a stream with the given RTP clock rate
// (8000 for G.711).
func NewTracker(clockRate uint32) *Tracker {
	if clockRate == 0 {
		clockRate = 8000
	}
	return &Tracker{clockRate: float64(clockRate)}
}

// Observe accounts for one received packet: its RTP sequence number,
// timestamp and SSRC, its arrival time, the DSCP it arrived with and its
// size in bytes (UDP payload).
func (t *Tracker) Observe(ssrc uint32, seq uint16, ts uint32, arrival time.Time, dscp uint8, size int) {
	t.packets++
	t.bytes += uint64(size)
	t.dscp[dscp&0x3f]++
	if t.first.IsZero() {
		t.first = arrival
	}
	t.last = arrival

	if !t.started || ssrc != t.ssrc {
		t.restart(ssrc, seq)
		t.markSeen(t.maxExt)
		t.unique++
		t.jitterUpdate(ts, arrival)
		return
	}

	ext := t.extend(seq)
	switch {
	case ext > t.maxExt+maxDropout || ext < t.maxExt-maxMisorder:
		// The sender restarted its sequence: start over, as A.1 does
		// after two sequential packets; one is enough for a lab.
		t.restart(ssrc, seq)
		t.markSeen(t.maxExt)
		t.unique++
		t.haveTransit = false
		t.jitterUpdate(ts, arrival)
		return
	case ext > t.maxExt:
		// Forget the window slots the stream moved past.
		for s := t.maxExt + 1; s < ext && s <= t.maxExt+dupWindow; s++ {
			t.clearSeen(s)
		}
		t.maxExt = ext
	case t.isSeen(ext):
		t.dups++
		return // a duplicate says nothing new about transit time
	default:
		t.reorder++
		if ext < t.baseExt {
			// Later than the packet we took for the first: the stream
			// began earlier, and the gap between is expected too.
			t.baseExt = ext
		}
	}
	t.markSeen(ext)
	t.unique++
	t.jitterUpdate(ts, arrival)
}

// ObserveDSCPOnly counts a datagram that was not valid RTP (so it has no
// sequence number) in the DSCP histogram and byte count only.
func (t *Tracker) ObserveDSCPOnly(dscp uint8) { t.dscp[dscp&0x3f]++ }

func (t *Tracker) restart(ssrc uint32, seq uint16) {
	if t.started {
		t.restarts++
		// Keep what the earlier run expected, so its losses still count.
		t.expectedPrior += uint64(t.maxExt - t.baseExt + 1)
	}
	t.baseExt = int64(seq)
	t.started = true
	t.ssrc = ssrc
	t.maxExt = int64(seq)
	t.seen = [dupWindow / 64]uint64{}
}

// extend maps a 16-bit sequence number to the extended sequence number
// closest to the highest one seen (handles wrap-around both ways).
func (t *Tracker) extend(seq uint16) int64 {
	delta := int64(int16(seq - uint16(t.maxExt)))
	return t.maxExt + delta
}

func (t *Tracker) slot(ext int64) (int, uint64) {
	i := int(uint64(ext) % dupWindow)
	return i / 64, 1 << (i % 64)
}

func (t *Tracker) isSeen(ext int64) bool {
	if ext <= t.maxExt-dupWindow {
		return false // out of the window: treated as late, not duplicate
	}
	w, b := t.slot(ext)
	return t.seen[w]&b != 0
}

func (t *Tracker) markSeen(ext int64) { w, b := t.slot(ext); t.seen[w] |= b }

func (t *Tracker) clearSeen(ext int64) { w, b := t.slot(ext); t.seen[w] &^= b }

// jitterUpdate is RFC 3550 section 6.4.1: D(i,j) = (Rj - Ri) - (Sj - Si),
// J += (|D| - J) / 16, with arrival times in timestamp units.
func (t *Tracker) jitterUpdate(ts uint32, arrival time.Time) {
	// Relative to the first arrival, so that float64 keeps sub-sample
	// precision (absolute Unix nanoseconds would lose it).
	r := float64(arrival.Sub(t.first)) * t.clockRate / 1e9
	transit := r - float64(ts)
	if !t.haveTransit {
		t.haveTransit = true
		t.transit = transit
		return
	}
	d := transit - t.transit
	// The timestamp is 32-bit and may wrap: fold the difference.
	if d > 1<<31 {
		d -= 1 << 32
	} else if d < -(1 << 31) {
		d += 1 << 32
	}
	t.transit = transit
	if d < 0 {
		d = -d
	}
	t.jitter += (d - t.jitter) / 16
}

// Stats is a snapshot of a Tracker.
type Stats struct {
	SSRC       uint32 `json:"ssrc"`
	Packets    uint64 `json:"packets"`    // every RTP packet received, duplicates included
	Bytes      uint64 `json:"bytes"`      // UDP payload bytes received
	Expected   uint64 `json:"expected"`   // highest - first sequence number + 1
	Lost       int64  `json:"lost"`       // expected - distinct received
	Duplicates uint64 `json:"duplicates"` // packets whose sequence number was already seen
	Reordered  uint64 `json:"reordered"`  // packets that arrived after a higher sequence number
	Restarts   uint64 `json:"restarts,omitempty"`
	// JitterMillis is the RFC 3550 interarrival jitter converted to
	// milliseconds (the estimator runs in timestamp units).
	JitterMillis float64 `json:"jitter_ms"`
	// Jitter is the same estimate in timestamp units, as an RTCP RR carries it.
	Jitter uint32            `json:"jitter_ts"`
	First  time.Time         `json:"first_arrival,omitzero"`
	Last   time.Time         `json:"last_arrival,omitzero"`
	DSCP   map[string]uint64 `json:"dscp,omitempty"` // DSCP value (decimal) -> packets
}

// LossFraction is lost/expected, 0 when nothing was expected.
func (s Stats) LossFraction() float64 {
	if s.Expected == 0 || s.Lost <= 0 {
		return 0
	}
	return float64(s.Lost) / float64(s.Expected)
}

// Stats returns the current figures.
func (t *Tracker) Stats() Stats {
	s := Stats{
		SSRC:       t.ssrc,
		Packets:    t.packets,
		Bytes:      t.bytes,
		Duplicates: t.dups,
		Reordered:  t.reorder,
		Restarts:   t.restarts,
		Jitter:     uint32(t.jitter),
		First:      t.first,
		Last:       t.last,
	}
	if t.started {
		s.Expected = t.expectedPrior + uint64(t.maxExt-t.baseExt+1)
		s.Lost = int64(s.Expected) - int64(t.unique)
		s.JitterMillis = t.jitter * 1000 / t.clockRate
	}
	for v, n := range t.dscp {
		if n == 0 {
			continue
		}
		if s.DSCP == nil {
			s.DSCP = make(map[string]uint64)
		}
		s.DSCP[itoa(v)] = n
	}
	return s
}

// DSCPCount returns how many packets arrived with the given DSCP.
func (t *Tracker) DSCPCount(dscp uint8) uint64 { return t.dscp[dscp&0x3f] }

func itoa(v int) string {
	if v < 10 {
		return string(rune('0' + v))
	}
	return string([]byte{byte('0' + v/10), byte('0' + v%10)})
}
