package capture

import (
	"testing"
	"time"

	"github.com/gopacket/gopacket"
)

func TestReorderWritesInTimeOrder(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var r reorder
	for _, ms := range []int{30, 10, 20, 10, 50} {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(ms) * time.Millisecond)}
		r.add(ci, []byte{byte(ms)})
	}
	var got []byte
	collect := func(_ gopacket.CaptureInfo, d []byte) { got = append(got, d[0]) }
	r.due(t0.Add(25*time.Millisecond), collect)
	if string(got) != string([]byte{10, 10, 20}) {
		t.Fatalf("before 25 ms: %v, want [10 10 20]", got)
	}
	r.due(time.Time{}, collect)
	if string(got) != string([]byte{10, 10, 20, 30, 50}) {
		t.Fatalf("all: %v, want [10 10 20 30 50]", got)
	}
}

func TestReorderCopiesData(t *testing.T) {
	var r reorder
	buf := []byte{1}
	r.add(gopacket.CaptureInfo{Timestamp: time.Unix(1, 0)}, buf)
	buf[0] = 2 // the capture reuses its read buffer
	r.due(time.Time{}, func(_ gopacket.CaptureInfo, d []byte) {
		if d[0] != 1 {
			t.Fatalf("buffered packet changed with the caller's buffer: %v", d)
		}
	})
}
