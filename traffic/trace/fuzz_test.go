package trace

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"errors"
	"io"
	"os"

	"github.com/gopacket/gopacket/layers"
)

// sampleFile is a small synthetic capture (one call, tracetest.Spec{Media:
// 1}), the seed of the fuzzers; TestSampleCapture keeps it up to date.
const sampleFile = "testdata/sample.pcapng"

// sampleFrames reads the sample capture's frames.
func sampleFrames(t testing.TB) [][]byte {
	b, err := os.ReadFile(sampleFile)
	if err != nil {
		t.Fatal(err)
	}
	src, err := newCapReader(bytes.NewReader(b), "sample", "sample")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		f, err := src.next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]byte(nil), f.Data...))
	}
}

// framesInput packs frames as the fuzzers read them: a 2-byte length and
// the bytes, repeated.
func framesInput(frames ...[]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b
}

// FuzzAnalyzeFrames feeds arbitrary Ethernet frames through the whole
// pass (decode, reassembly, SIP/COPS/OSP/RTP parsing, call rebuild) and
// the checks. Nothing may panic, whatever the bytes.
func FuzzAnalyzeFrames(f *testing.F) {
	all := sampleFrames(f)
	for _, p := range all {
		f.Add(framesInput(p))
	}
	f.Add(framesInput(all...))
	f.Fuzz(func(t *testing.T, in []byte) {
		var frames sliceSource
		for no := 1; len(in) >= 2; no++ {
			n := int(binary.BigEndian.Uint16(in))
			in = in[2:]
			if n > len(in) {
				n = len(in)
			}
			frames = append(frames, Frame{Link: []string{"r1-sip1", "r1-r2"}[no%2], Time: int64(no), Type: layers.LinkTypeEthernet, Data: in[:n]})
			in = in[n:]
		}
		a := newAnalyzer(DefaultTopology(), Options{RequireMedia: true})
		if err := a.run(context.Background(), &frames); err != nil {
			t.Fatal(err)
		}
		a.finish()
	})
}

// sliceSource yields frames from a slice.
type sliceSource []Frame

func (s *sliceSource) next() (Frame, error) {
	if len(*s) == 0 {
		return Frame{}, io.EOF
	}
	f := (*s)[0]
	*s = (*s)[1:]
	return f, nil
}

// FuzzVerifyReader reads arbitrary bytes as a pcapng file: an error or a
// report, never a panic.
func FuzzVerifyReader(f *testing.F) {
	b, err := os.ReadFile(sampleFile)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:100])
	f.Add(b[:len(b)-7]) // cut inside the last block
	// The same frames as a classic libpcap file.
	le := binary.LittleEndian
	classic := le.AppendUint32(nil, magicPcapNano)
	classic = le.AppendUint16(classic, 2)
	classic = le.AppendUint16(classic, 4)
	classic = append(classic, make([]byte, 8)...)
	classic = le.AppendUint32(classic, 262144)
	classic = le.AppendUint32(classic, uint32(layers.LinkTypeEthernet))
	for i, fr := range sampleFrames(f) {
		classic = le.AppendUint32(classic, 1_700_000_000)
		classic = le.AppendUint32(classic, uint32(i*1000))
		classic = le.AppendUint32(classic, uint32(len(fr)))
		classic = le.AppendUint32(classic, uint32(len(fr)))
		classic = append(classic, fr...)
	}
	f.Add(classic)
	f.Fuzz(func(t *testing.T, in []byte) {
		VerifyReader(context.Background(), bytes.NewReader(in), "fuzz", nil, Options{})
	})
}

// FuzzStream cuts arbitrary segments, in any order, into COPS and text
// messages; the messages it returns must be exactly the bytes it was given
// in sequence order.
func FuzzStream(f *testing.F) {
	f.Add([]byte("\x10\x01\x51\x53\x00\x00\x00\x08"), uint32(1), uint8(3))
	f.Add([]byte("POST /osp HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), uint32(0xfffffff0), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, isn uint32, cut uint8) {
		for _, fr := range []framer{frameCOPS, frameText} {
			s := newStream(fr)
			s.add(&packet{seq: isn, flags: flagSYN}, nil)
			step := int(cut%16) + 1
			// Send the segments last first, then the first again (a
			// retransmission), to exercise out-of-order and overlap.
			var segs []packet
			for off := 0; off < len(data); off += step {
				end := min(off+step, len(data))
				segs = append(segs, packet{seq: isn + 1 + uint32(off), payload: data[off:end]})
			}
			var got []byte
			take := func(msgs []tcpMessage) {
				for _, m := range msgs {
					got = append(got, m.data...)
				}
			}
			for i := len(segs) - 1; i >= 0; i-- {
				msgs, _ := s.add(&segs[i], nil)
				take(msgs)
			}
			if len(segs) > 0 {
				msgs, _ := s.add(&segs[0], nil)
				take(msgs)
			}
			if !bytes.HasPrefix(data, got) {
				t.Fatalf("messages %q are not a prefix of the stream %q", got, data)
			}
		}
	})
}

// FuzzParseSIP parses arbitrary datagrams as SIP.
func FuzzParseSIP(f *testing.F) {
	for _, p := range sampleFrames(f) {
		if len(p) > 42 && p[23] == 17 {
			f.Add(p[42:])
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := parseSIP(in)
		if err == nil && s.CallID == "" {
			t.Fatal("a SIP message without Call-ID was accepted")
		}
	})
}
