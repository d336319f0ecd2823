package rtp

import (
	"testing"

	"github.com/pion/rtp"
)

func TestStreamNumbersPackets(t *testing.T) {
	s := NewStream(PCMA, 0xdeadbeef, 65534, 0xffffff00)
	payload := make([]byte, PayloadSize)
	var prev rtp.Header
	for i := 0; i < 5; i++ {
		b := s.AppendPacket(nil, payload)
		var p rtp.Packet
		if err := p.Unmarshal(b); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if p.Version != 2 || p.PayloadType != 8 || p.SSRC != 0xdeadbeef || len(p.Payload) != PayloadSize {
			t.Fatalf("packet %d header %+v", i, p.Header)
		}
		if want := i == 0; p.Marker != want {
			t.Errorf("packet %d marker=%v, want %v", i, p.Marker, want)
		}
		if i > 0 {
			if p.SequenceNumber != prev.SequenceNumber+1 {
				t.Errorf("packet %d seq %d after %d", i, p.SequenceNumber, prev.SequenceNumber)
			}
			if p.Timestamp != prev.Timestamp+SamplesPerPacket {
				t.Errorf("packet %d ts %d after %d", i, p.Timestamp, prev.Timestamp)
			}
		}
		prev = p.Header
	}
	if prev.SequenceNumber != 2 { // 65534, 65535, 0, 1, 2: wraps
		t.Errorf("last seq %d, want 2", prev.SequenceNumber)
	}
	if s.Packets() != 5 || s.Octets() != 5*PayloadSize {
		t.Errorf("counts %d/%d", s.Packets(), s.Octets())
	}
}

func TestStreamTalkspurtAfterSilence(t *testing.T) {
	s := NewStream(PCMU, 1, 10, 1000)
	payload := make([]byte, PayloadSize)
	s.AppendPacket(nil, payload)
	s.Skip(3) // 60 ms of suppressed silence
	s.StartTalkspurt()
	var p rtp.Packet
	if err := p.Unmarshal(s.AppendPacket(nil, payload)); err != nil {
		t.Fatal(err)
	}
	if !p.Marker || p.SequenceNumber != 11 || p.Timestamp != 1000+4*SamplesPerPacket {
		t.Fatalf("after silence: marker=%v seq=%d ts=%d", p.Marker, p.SequenceNumber, p.Timestamp)
	}
	if err := p.Unmarshal(s.AppendPacket(nil, payload)); err != nil {
		t.Fatal(err)
	}
	if p.Marker {
		t.Fatal("marker on the second packet of a talkspurt")
	}
}

func TestStreamAppendDoesNotAllocate(t *testing.T) {
	s := NewStream(PCMU, 1, 1, 1)
	payload := make([]byte, PayloadSize)
	buf := make([]byte, 0, 12+PayloadSize)
	if n := testing.AllocsPerRun(100, func() { buf = s.AppendPacket(buf[:0], payload) }); n != 0 {
		t.Fatalf("AppendPacket allocates %v times", n)
	}
}

func TestG711Encoders(t *testing.T) {
	// Reference points from ITU-T G.711 tables.
	for _, c := range []struct {
		in     int16
		mu, al byte
	}{
		{0, 0xff, 0xd5},
		{-1, 0x7f, 0x55},
		{32767, 0x80, 0xaa},
		{-32768, 0x00, 0x2a},
	} {
		if got := linearToULaw(c.in); got != c.mu {
			t.Errorf("ulaw(%d)=%#x want %#x", c.in, got, c.mu)
		}
		if got := linearToALaw(c.in); got != c.al {
			t.Errorf("alaw(%d)=%#x want %#x", c.in, got, c.al)
		}
	}
	if f := toneFrame(PCMU); len(f) != PayloadSize {
		t.Fatalf("tone frame %d bytes", len(f))
	}
}
