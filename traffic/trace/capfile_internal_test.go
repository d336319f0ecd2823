package trace

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// ngBlock builds one pcapng block in the given byte order.
func ngBlock(o ngOrder, typ uint32, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(12 + len(body))
	b := o.AppendUint32(nil, typ)
	b = o.AppendUint32(b, n)
	b = append(b, body...)
	return o.AppendUint32(b, n)
}

func ngOption(o ngOrder, code uint16, v []byte) []byte {
	b := o.AppendUint16(nil, code)
	b = o.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func ngSHB(o ngOrder) []byte {
	body := o.AppendUint32(nil, byteOrderMagic)
	body = o.AppendUint16(body, 1)
	body = o.AppendUint16(body, 0)
	body = o.AppendUint64(body, ^uint64(0))
	return ngBlock(o, blockSHB, body)
}

func ngIDB(o ngOrder, lt layers.LinkType, name string, tsresol byte) []byte {
	body := o.AppendUint16(nil, uint16(lt))
	body = o.AppendUint16(body, 0)
	body = o.AppendUint32(body, 65535)
	if name != "" {
		body = append(body, ngOption(o, optIfName, []byte(name))...)
	}
	if tsresol != 0 {
		body = append(body, ngOption(o, optIfTsresol, []byte{tsresol})...)
	}
	body = append(body, 0, 0, 0, 0)
	return ngBlock(o, blockIDB, body)
}

func ngEPB(o ngOrder, iface uint32, ts uint64, data []byte) []byte {
	body := o.AppendUint32(nil, iface)
	body = o.AppendUint32(body, uint32(ts>>32))
	body = o.AppendUint32(body, uint32(ts))
	body = o.AppendUint32(body, uint32(len(data)))
	body = o.AppendUint32(body, uint32(len(data)))
	return ngBlock(o, blockEPB, append(body, data...))
}

func readAll(t *testing.T, b []byte) ([]Frame, *capReader, error) {
	t.Helper()
	r, err := newCapReader(bytes.NewReader(b), "test", "fallback")
	if err != nil {
		return nil, nil, err
	}
	var out []Frame
	for {
		f, err := r.next()
		if errors.Is(err, io.EOF) {
			return out, r, nil
		}
		if err != nil {
			return out, r, err
		}
		f.Data = append([]byte(nil), f.Data...)
		out = append(out, f)
	}
}

// Both byte orders, both timestamp resolutions of classic pcap, and the
// pcapng blocks other writers use: a big-endian section with a binary
// timestamp resolution, Simple and obsolete Packet Blocks, then a second
// little-endian section whose interfaces start again from 0, and a
// Decryption Secrets Block carrying a TLS key log.
func TestCapReaderFormats(t *testing.T) {
	be, le := binary.BigEndian, binary.LittleEndian
	// Classic, big-endian, microseconds, raw IP.
	c := be.AppendUint32(nil, magicPcapMicro)
	c = be.AppendUint16(c, 2)
	c = be.AppendUint16(c, 4)
	c = append(c, make([]byte, 8)...)
	c = be.AppendUint32(c, 65535)
	c = be.AppendUint32(c, uint32(layers.LinkTypeRaw))
	c = be.AppendUint32(c, 1_700_000_000)
	c = be.AppendUint32(c, 250_000)
	c = be.AppendUint32(c, 3)
	c = be.AppendUint32(c, 3)
	c = append(c, 'a', 'b', 'c')
	fs, _, err := readAll(t, c)
	if err != nil || len(fs) != 1 || fs[0].Time != 1_700_000_000_250_000_000 || string(fs[0].Data) != "abc" || fs[0].Link != "fallback" || fs[0].Type != layers.LinkTypeRaw {
		t.Fatalf("classic big-endian: %+v, %v", fs, err)
	}

	var ng []byte
	ng = append(ng, ngSHB(be)...)
	ng = append(ng, ngIDB(be, layers.LinkTypeEthernet, "r1-r2", 0x80|10)...) // 2^-10 s
	ng = append(ng, ngEPB(be, 0, 1024*5+512, []byte("one"))...)
	spb := be.AppendUint32(nil, 3)
	ng = append(ng, ngBlock(be, blockSPB, append(spb, "two"...))...)
	pb := be.AppendUint16(nil, 0)
	pb = be.AppendUint16(pb, 0)
	pb = be.AppendUint32(pb, 0)
	pb = be.AppendUint32(pb, 7)
	pb = be.AppendUint32(pb, 5)
	pb = be.AppendUint32(pb, 5)
	ng = append(ng, ngBlock(be, blockPB, append(pb, "three"...))...)
	ng = append(ng, ngSHB(le)...)
	ng = append(ng, ngIDB(le, layers.LinkTypeLinuxSLL, "", 9)...)
	dsb := le.AppendUint32(nil, secretsTLSKeyLog)
	secret := "CLIENT_RANDOM 00 11"
	dsb = le.AppendUint32(dsb, uint32(len(secret)))
	ng = append(ng, ngBlock(le, blockDSB, append(dsb, secret...))...)
	ng = append(ng, ngEPB(le, 0, 42, []byte("four"))...)
	fs, r, err := readAll(t, ng)
	if err != nil || len(fs) != 4 {
		t.Fatalf("pcapng: %d frames, %v", len(fs), err)
	}
	want := []struct {
		link string
		time int64
		data string
	}{{"r1-r2", 5_500_000_000, "one"}, {"r1-r2", 5_500_000_000, "two"}, {"r1-r2", 7_000_000_000 / 1024, "three"}, {"fallback", 42, "four"}}
	for i, w := range want {
		if fs[i].Link != w.link || fs[i].Time != w.time || string(fs[i].Data) != w.data {
			t.Errorf("frame %d = %s %d %q, want %+v", i, fs[i].Link, fs[i].Time, fs[i].Data, w)
		}
	}
	if string(r.keyLog) != secret+"\n" {
		t.Errorf("key log %q", r.keyLog)
	}
	// A cut anywhere inside the last block is a CutError after 3 frames.
	for cut := len(ng) - 1; cut > len(ng)-ngEPBLen(4); cut-- {
		fs, _, err := readAll(t, ng[:cut])
		var ce *CutError
		if !errors.As(err, &ce) || len(fs) != 3 || ce.Frames != 3 {
			t.Fatalf("cut at %d: %d frames, %v", cut, len(fs), err)
		}
	}
	// A corrupt length is a cut too, not a crash or a huge allocation.
	bad := append([]byte(nil), ng...)
	le.PutUint32(bad[len(bad)-ngEPBLen(4)+4:], 0xfffffff0)
	if _, _, err := readAll(t, bad); err == nil {
		t.Fatal("corrupt block length accepted")
	}
}

func ngEPBLen(data int) int { return 12 + 20 + (data+3)&^3 }

// ngOrder is a byte order that can append.
type ngOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}
