package rtp

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// feed observes packets with the given sequence numbers, each arriving
// exactly on its 20 ms schedule (so jitter stays 0), timestamp seq*160.
func feed(tr *Tracker, seqs ...uint16) {
	for i, s := range seqs {
		tr.Observe(7, s, uint32(s)*SamplesPerPacket, t0.Add(time.Duration(s)*20*time.Millisecond+time.Duration(i)*0), 46, 172)
	}
}

func TestTrackerScriptedSequences(t *testing.T) {
	cases := []struct {
		name                   string
		seqs                   []uint16
		expected               uint64
		lost                   int64
		dups, reorder, packets uint64
	}{
		{"in order", []uint16{1, 2, 3, 4, 5}, 5, 0, 0, 0, 5},
		{"one lost", []uint16{1, 2, 4, 5}, 5, 1, 0, 0, 4},
		{"burst lost", []uint16{10, 11, 15}, 6, 3, 0, 0, 3},
		{"duplicate", []uint16{1, 2, 2, 3}, 3, 0, 1, 0, 4},
		{"late duplicate", []uint16{1, 2, 3, 2}, 3, 0, 1, 0, 4},
		{"reordered", []uint16{1, 3, 2, 4}, 4, 0, 0, 1, 4},
		{"reordered then dup", []uint16{1, 3, 2, 2, 4}, 4, 0, 1, 1, 5},
		{"wrap", []uint16{65534, 65535, 0, 1}, 4, 0, 0, 0, 4},
		{"wrap with loss and reorder", []uint16{65534, 0, 65535, 2}, 5, 1, 0, 1, 4},
		{"single", []uint16{42}, 1, 0, 0, 0, 1},
		// Fuzz found this one: a packet older than the first one seen
		// made distinct > expected (negative loss).
		{"older than the first", []uint16{5, 3, 4}, 3, 0, 0, 2, 3},
		{"older than the first with gap", []uint16{20, 4}, 17, 15, 0, 1, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := NewTracker(8000)
			feed(tr, c.seqs...)
			s := tr.Stats()
			if s.Expected != c.expected || s.Lost != c.lost || s.Duplicates != c.dups ||
				s.Reordered != c.reorder || s.Packets != c.packets {
				t.Fatalf("got expected=%d lost=%d dups=%d reorder=%d packets=%d; want %d %d %d %d %d",
					s.Expected, s.Lost, s.Duplicates, s.Reordered, s.Packets,
					c.expected, c.lost, c.dups, c.reorder, c.packets)
			}
			if s.Bytes != c.packets*172 || s.DSCP["46"] != c.packets {
				t.Fatalf("bytes=%d dscp=%v", s.Bytes, s.DSCP)
			}
		})
	}
}

func TestTrackerJitterZeroOnSchedule(t *testing.T) {
	tr := NewTracker(8000)
	for i := uint16(0); i < 100; i++ {
		feed(tr, i)
	}
	if j := tr.Stats().JitterMillis; j > 1e-9 {
		t.Fatalf("jitter %v on a perfect schedule", j)
	}
}

// TestTrackerJitterRFC3550 alternates arrivals 5 ms early and 5 ms late:
// every |D| is 10 ms = 80 timestamp units, and J converges to 80 by the
// recurrence J += (|D|-J)/16.
func TestTrackerJitterRFC3550(t *testing.T) {
	tr := NewTracker(8000)
	want := 0.0
	for i := 0; i < 400; i++ {
		off := 5 * time.Millisecond
		if i%2 == 0 {
			off = -off
		}
		tr.Observe(1, uint16(i), uint32(i)*160, t0.Add(time.Duration(i)*20*time.Millisecond+off), 0, 172)
		if i > 0 {
			want += (80 - want) / 16
		}
	}
	s := tr.Stats()
	if math.Abs(float64(s.Jitter)-math.Floor(want)) > 1 || math.Abs(s.JitterMillis-want/8) > 0.01 {
		t.Fatalf("jitter %d ts / %.3f ms, want %.3f ts", s.Jitter, s.JitterMillis, want)
	}
	if s.JitterMillis < 9.9 || s.JitterMillis > 10 {
		t.Fatalf("jitter %.3f ms, want ~10 ms", s.JitterMillis)
	}
}

func TestTrackerTimestampWrapKeepsJitter(t *testing.T) {
	tr := NewTracker(8000)
	base := uint32(math.MaxUint32 - 3*160)
	for i := 0; i < 10; i++ {
		tr.Observe(1, uint16(i), base+uint32(i)*160, t0.Add(time.Duration(i)*20*time.Millisecond), 0, 172)
	}
	if j := tr.Stats().JitterMillis; j > 1e-9 {
		t.Fatalf("jitter %v across a timestamp wrap", j)
	}
}

func TestTrackerSenderRestart(t *testing.T) {
	tr := NewTracker(8000)
	feed(tr, 1, 2, 4)               // one lost
	feed(tr, 30000, 30001)          // jump far ahead: a restarted sender
	tr.Observe(9, 5, 0, t0, 0, 172) // a new SSRC restarts too
	s := tr.Stats()
	if s.Restarts != 2 || s.Lost != 1 || s.Expected != 7 || s.SSRC != 9 {
		t.Fatalf("after restarts: %+v", s)
	}
}

func TestTrackerEmpty(t *testing.T) {
	s := NewTracker(8000).Stats()
	if s.Expected != 0 || s.Lost != 0 || s.LossFraction() != 0 || s.DSCP != nil {
		t.Fatalf("empty tracker: %+v", s)
	}
}

func TestLossFraction(t *testing.T) {
	tr := NewTracker(8000)
	feed(tr, 0, 1, 3, 4) // 1 of 5
	if f := tr.Stats().LossFraction(); math.Abs(f-0.2) > 1e-9 {
		t.Fatalf("loss fraction %v", f)
	}
}

func TestTrackerObserveDoesNotAllocate(t *testing.T) {
	tr := NewTracker(8000)
	seq := uint16(0)
	if n := testing.AllocsPerRun(1000, func() {
		tr.Observe(1, seq, uint32(seq)*160, t0, 0, 172)
		seq++
	}); n != 0 {
		t.Fatalf("Observe allocates %v times", n)
	}
}

// FuzzTracker feeds arbitrary sequence numbers and checks the invariants
// every report must keep, whatever arrives.
func FuzzTracker(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 0, 2, 0, 5, 0, 3})
	f.Add([]byte{0xff, 0xfe, 0xff, 0xff, 0, 0, 0x80, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		tr := NewTracker(8000)
		var n uint64
		for i := 0; i+1 < len(b); i += 2 {
			seq := uint16(b[i])<<8 | uint16(b[i+1])
			tr.Observe(1, seq, uint32(seq)*160, t0.Add(time.Duration(i)*time.Millisecond), b[i]>>2, 100)
			n++
		}
		s := tr.Stats()
		if s.Packets != n || s.Lost < 0 || s.Duplicates+s.Reordered > n || s.JitterMillis < 0 {
			t.Fatalf("invariants broken: %+v (n=%d)", s, n)
		}
		var d uint64
		for _, c := range s.DSCP {
			d += c
		}
		if d != n {
			t.Fatalf("dscp histogram sums to %d, want %d", d, n)
		}
	})
}
