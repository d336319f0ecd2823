package cops

import (
	"bytes"
	"testing"
)

// addSeeds adds the encoding of every sample message.
func addSeeds(f *testing.F) {
	for _, m := range sampleMessages() {
		b, err := m.AppendTo(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzDecode: whatever decodes must re-encode, and the re-encoding must
// decode to the same bytes again (decode -> encode -> decode is stable), and
// String must not panic. The client data inside is fuzzed too.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := m.Decode(b); err != nil {
			if CodeOf(err) == ErrUnspecified {
				t.Fatalf("decode error without an RFC code: %v", err)
			}
			return
		}
		_ = m.String()
		b2, err := m.AppendTo(nil)
		if err != nil {
			t.Fatalf("decoded but does not re-encode: %v\n% x", err, b)
		}
		var m2 Message
		if err := m2.Decode(b2); err != nil {
			t.Fatalf("re-encoding does not decode: %v\n% x", err, b2)
		}
		b3, _ := m2.AppendTo(nil)
		if !bytes.Equal(b2, b3) {
			t.Fatalf("unstable encoding:\n% x\n% x", b2, b3)
		}
	})
}

// FuzzPCMM: PCMM objects decode -> encode -> decode stable.
func FuzzPCMM(f *testing.F) {
	for _, p := range []PCMM{fullPCMM(), sampleGateSet()} {
		b, _ := p.AppendTo(nil)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p PCMM
		if p.Decode(b) != nil {
			return
		}
		_ = p.String()
		b2, err := p.AppendTo(nil)
		if err != nil {
			t.Fatalf("decoded but does not re-encode: %v\n% x", err, b)
		}
		var p2 PCMM
		if err := p2.Decode(b2); err != nil {
			t.Fatalf("re-encoding does not decode: %v\n% x", err, b2)
		}
		if b3, _ := p2.AppendTo(nil); !bytes.Equal(b2, b3) {
			t.Fatalf("unstable encoding:\n% x\n% x", b2, b3)
		}
	})
}

// FuzzSession: session data decode -> encode -> decode stable.
func FuzzSession(f *testing.F) {
	s := sampleSession()
	b, _ := s.AppendTo(nil)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Session
		if s.Decode(b) != nil {
			return
		}
		_ = s.String()
		b2, err := s.AppendTo(nil)
		if err != nil {
			t.Fatalf("decoded but does not re-encode: %v", err)
		}
		var s2 Session
		if err := s2.Decode(b2); err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		if b3, _ := s2.AppendTo(nil); !bytes.Equal(b2, b3) {
			t.Fatalf("unstable encoding")
		}
	})
}

// FuzzFramer: any split of a stream into writes yields the same frames as
// reading it whole, and the framer never returns a frame that PeekLength
// rejects.
func FuzzFramer(f *testing.F) {
	var stream []byte
	for _, m := range sampleMessages() {
		stream, _ = m.AppendTo(stream)
	}
	f.Add(append([]byte{7}, stream...))
	f.Add([]byte{1, 0x10, 9, 0, 0, 0, 0, 0, 8, 0x20})
	// The first octet is the chunk size, the rest the stream (one []byte
	// argument: the fuzzing engine stalled with a ([]byte, uint8) pair).
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		chunk, stream := in[0], in[1:]
		whole := frames(stream, len(stream)+1)
		split := frames(stream, int(chunk)+1)
		if len(whole) != len(split) {
			t.Fatalf("%d frames whole, %d split in chunks of %d", len(whole), len(split), int(chunk)+1)
		}
		for i := range whole {
			if !bytes.Equal(whole[i], split[i]) {
				t.Fatalf("frame %d differs", i)
			}
			if n, err := PeekLength(whole[i]); err != nil || n != len(whole[i]) {
				t.Fatalf("frame %d: %d %v", i, n, err)
			}
		}
	})
}

// frames feeds stream to a Framer in chunks and collects the frames.
func frames(stream []byte, chunk int) [][]byte {
	var f Framer
	var out [][]byte
	for i := 0; i < len(stream); i += chunk {
		f.Write(stream[i:min(i+chunk, len(stream))])
		for {
			fr, err := f.Next()
			if err != nil || fr == nil {
				break
			}
			out = append(out, append([]byte(nil), fr...))
		}
	}
	return out
}
