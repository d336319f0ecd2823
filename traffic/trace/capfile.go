package trace

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"github.com/gopacket/gopacket/layers"
)

// The capture file formats the verifier reads: pcapng (what the lab
// writes, draft-ietf-opsawg-pcapng), classic libpcap (what tcpdump -w and
// most tools write, https://www.tcpdump.org/manpages/pcap-savefile.5.html),
// either one gzipped, as Wireshark reads them.
const (
	magicPcapMicro   = 0xa1b2c3d4
	magicPcapNano    = 0xa1b23c4d
	blockSHB         = 0x0a0d0d0a
	blockIDB         = 0x00000001
	blockPB          = 0x00000002 // obsolete Packet Block
	blockSPB         = 0x00000003
	blockEPB         = 0x00000006
	blockDSB         = 0x0000000a // Decryption Secrets Block
	byteOrderMagic   = 0x1a2b3c4d
	secretsTLSKeyLog = 0x544c534b // "TLSK": an NSS key log
	optIfName        = 2
	optIfTsresol     = 9
	optIfTsoffset    = 14
	maxBlockLen      = 64 << 20 // larger than any sane packet block; a bigger length is corruption
	readBuffer       = 1 << 20
)

// ErrEmptyCapture is returned for a capture file with no bytes at all.
var ErrEmptyCapture = errors.New("empty file (0 bytes): no pcap or pcapng header")

// CutError says that a capture ends before its last block or record is
// whole (the file was truncated, as after a crash or a full disk) or that
// a block is corrupt: what came before is read and verified, what follows
// is not.
type CutError struct {
	Path   string
	Offset int64 // bytes of the file read whole before the cut
	Frames int   // packets read before the cut
	Reason string
}

func (e *CutError) Error() string {
	return fmt.Sprintf("capture %s is cut at byte %d after %d packets: %s", e.Path, e.Offset, e.Frames, e.Reason)
}

// capIface is one pcapng interface (or the one link of a classic file).
type capIface struct {
	name     string
	linkType layers.LinkType
	// Timestamps are units of 10^-exp (dec) or 2^-exp seconds, plus
	// offset seconds.
	exp    uint8
	binary bool
	offset int64
}

// nanos converts a timestamp in the interface's units to nanoseconds.
func (i *capIface) nanos(units uint64) int64 {
	var ns uint64
	switch {
	case i.binary:
		// units * 1e9 / 2^exp, in 128 bits.
		hi, lo := bits.Mul64(units, 1e9)
		switch {
		case i.exp == 0:
			ns = lo
		case i.exp < 64:
			ns = lo>>i.exp | hi<<(64-i.exp)
		}
	case i.exp <= 9:
		ns = units * pow10[9-i.exp]
	case i.exp <= 19:
		ns = units / pow10[i.exp-9]
	}
	return int64(ns) + i.offset*1e9
}

var pow10 = [...]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10}

// capReader reads one capture file, pcapng or classic pcap, frame by
// frame. Frames borrow the reader's buffer until the next call.
type capReader struct {
	path     string
	fallback string // link name for an interface without a name
	rd       io.Reader
	buf      []byte // read ahead; buf[r:w] is not yet consumed
	r, w     int
	rerr     error // the reader's error once it returned one
	order    binary.ByteOrder
	ng       bool
	ifaces   []capIface
	off      int64 // bytes consumed
	frames   int
	lastTime int64 // for Simple Packet Blocks, which carry none
	// keyLog collects the TLS key logs of Decryption Secrets Blocks.
	keyLog []byte
}

// newCapReader reads the file header. path names the file in errors;
// fallback names the link of an interface that has no name.
func newCapReader(r io.Reader, path, fallback string) (*capReader, error) {
	c := &capReader{path: path, fallback: fallback, rd: r, buf: make([]byte, readBuffer)}
	if err := c.fill(4); err != nil {
		return nil, err
	}
	head := c.buf[c.r:c.w]
	if len(head) == 0 {
		return nil, fmt.Errorf("trace: capture %s: %w", path, ErrEmptyCapture)
	}
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(io.MultiReader(bytes.NewReader(head), r))
		if err != nil {
			return nil, fmt.Errorf("trace: capture %s: gzip: %w", path, err)
		}
		return newCapReader(zr, path, fallback)
	}
	if len(head) < 4 {
		return nil, fmt.Errorf("trace: capture %s: %d bytes, too short for a pcap or pcapng header", path, len(head))
	}
	le, be := binary.LittleEndian.Uint32(head), binary.BigEndian.Uint32(head)
	var err error
	switch {
	case le == blockSHB:
		c.ng = true
		if _, _, err := c.nextBlock(); err != nil {
			return nil, c.headerErr(err)
		}
	case le == magicPcapMicro || le == magicPcapNano:
		c.order = binary.LittleEndian
		err = c.readPcapHeader(le == magicPcapNano)
	case be == magicPcapMicro || be == magicPcapNano:
		c.order = binary.BigEndian
		err = c.readPcapHeader(be == magicPcapNano)
	default:
		return nil, fmt.Errorf("trace: capture %s: not a pcap or pcapng file (it starts with %#08x)", path, be)
	}
	if err != nil {
		return nil, c.headerErr(err)
	}
	return c, nil
}

// headerErr turns a cut inside the file header into a plain error: with
// no header there is nothing to verify.
func (c *capReader) headerErr(err error) error {
	var cut *CutError
	if errors.As(err, &cut) {
		return fmt.Errorf("trace: capture %s: no complete file header: %s", c.path, cut.Reason)
	}
	return err
}

func (c *capReader) cut(reason string, args ...any) error {
	return &CutError{Path: c.path, Offset: c.off, Frames: c.frames, Reason: fmt.Sprintf(reason, args...)}
}

// fill reads until n bytes are buffered or the reader ends; only a read
// error other than the end is returned.
func (c *capReader) fill(n int) error {
	if c.w-c.r >= n || c.rerr != nil {
		return nil
	}
	if n > len(c.buf)-c.r {
		// Move what is left to the front, growing for a large block.
		size := len(c.buf)
		for size < n {
			size *= 2
		}
		nb := c.buf
		if size > len(c.buf) {
			nb = make([]byte, size)
		}
		c.w = copy(nb, c.buf[c.r:c.w])
		c.buf, c.r = nb, 0
	}
	for c.w-c.r < n && c.rerr == nil {
		k, err := c.rd.Read(c.buf[c.w:])
		c.w += k
		if err != nil {
			c.rerr = err
		}
	}
	if c.rerr != nil && c.rerr != io.EOF && !errors.Is(c.rerr, io.ErrUnexpectedEOF) {
		return fmt.Errorf("trace: read %s: %w", c.path, c.rerr)
	}
	return nil
}

// take returns the next n bytes (borrowed until the next call); a short
// read is a cut, none at all the end.
func (c *capReader) take(n int) ([]byte, error) {
	if c.w-c.r < n {
		if err := c.fill(n); err != nil {
			return nil, err
		}
		if have := c.w - c.r; have < n {
			if have == 0 {
				return nil, io.EOF
			}
			return nil, c.cut("the file ends %d bytes into a %d-byte block", have, n)
		}
	}
	b := c.buf[c.r : c.r+n : c.r+n]
	c.r += n
	return b, nil
}

func (c *capReader) readPcapHeader(nano bool) error {
	h, err := c.take(24)
	if err == io.EOF {
		return c.cut("the file ends inside its header")
	}
	if err != nil {
		return err
	}
	c.off += 24
	exp := uint8(6)
	if nano {
		exp = 9
	}
	lt := layers.LinkType(c.order.Uint32(h[20:]) & 0xffff)
	c.ifaces = []capIface{{name: c.fallback, linkType: lt, exp: exp}}
	return nil
}

// next returns the next packet: io.EOF at a clean end, a *CutError when
// the file stops inside a block.
func (c *capReader) next() (Frame, error) {
	if !c.ng {
		return c.nextPcap()
	}
	for {
		f, ok, err := c.nextBlock()
		if err != nil || ok {
			return f, err
		}
	}
}

func (c *capReader) nextPcap() (Frame, error) {
	h, err := c.take(16)
	if err != nil {
		return Frame{}, err
	}
	sec, frac := uint64(c.order.Uint32(h)), uint64(c.order.Uint32(h[4:]))
	incl := int(c.order.Uint32(h[8:]))
	if incl > maxBlockLen {
		return Frame{}, c.cut("record of %d bytes (corrupt length)", incl)
	}
	data, err := c.take(incl)
	if err == io.EOF {
		return Frame{}, c.cut("the file ends after a record header")
	}
	if err != nil {
		return Frame{}, err
	}
	c.off += int64(16 + incl)
	c.frames++
	ifc := &c.ifaces[0]
	t := int64(sec)*1e9 + int64(frac*pow10[9-ifc.exp])
	return Frame{Link: ifc.name, Time: t, Type: ifc.linkType, Data: data}, nil
}

// nextBlock reads one pcapng block; ok is set when it is a packet.
func (c *capReader) nextBlock() (f Frame, ok bool, err error) {
	h, err := c.take(8)
	if err != nil {
		return Frame{}, false, err
	}
	typ := binary.LittleEndian.Uint32(h)
	if typ == blockSHB {
		// A new section may switch byte order: read it from its body.
		if err := c.fill(4); err != nil {
			return Frame{}, false, err
		}
		if c.w-c.r < 4 {
			return Frame{}, false, c.cut("the file ends inside a section header")
		}
		switch binary.LittleEndian.Uint32(c.buf[c.r:]) {
		case byteOrderMagic:
			c.order = binary.LittleEndian
		case 0x4d3c2b1a:
			c.order = binary.BigEndian
		default:
			return Frame{}, false, c.cut("section header with a bad byte-order magic")
		}
		c.ifaces = c.ifaces[:0]
	}
	if c.order == nil {
		return Frame{}, false, c.cut("block before the section header")
	}
	typ = c.order.Uint32(h)
	total := int(c.order.Uint32(h[4:]))
	if total < 12 || total%4 != 0 || total > maxBlockLen {
		return Frame{}, false, c.cut("block of type %#x with a bad length %d (corrupt)", typ, total)
	}
	body, err := c.take(total - 8)
	if err == io.EOF {
		return Frame{}, false, c.cut("the file ends after a block header")
	}
	if err != nil {
		return Frame{}, false, err
	}
	if c.order.Uint32(body[len(body)-4:]) != uint32(total) {
		return Frame{}, false, c.cut("block of type %#x whose trailing length differs (corrupt)", typ)
	}
	body = body[:len(body)-4]
	switch typ {
	case blockSHB:
		if len(body) < 16 {
			return Frame{}, false, c.cut("short section header")
		}
	case blockIDB:
		if err := c.readIDB(body); err != nil {
			return Frame{}, false, err
		}
	case blockEPB:
		f, err = c.readEPB(body)
		ok = err == nil
	case blockPB:
		f, err = c.readPB(body)
		ok = err == nil
	case blockSPB:
		f, err = c.readSPB(body)
		ok = err == nil
	case blockDSB:
		if len(body) >= 8 && c.order.Uint32(body) == secretsTLSKeyLog {
			n := int(c.order.Uint32(body[4:]))
			if n <= len(body)-8 {
				c.keyLog = append(append(c.keyLog, body[8:8+n]...), '\n')
			}
		}
	}
	if err != nil {
		return Frame{}, false, err
	}
	c.off += int64(total)
	if ok {
		c.frames++
	}
	return f, ok, nil
}

func (c *capReader) readIDB(b []byte) error {
	if len(b) < 8 {
		return c.cut("short interface description block")
	}
	ifc := capIface{name: c.fallback, linkType: layers.LinkType(c.order.Uint16(b)), exp: 6}
	opts := b[8:]
	for len(opts) >= 4 {
		code, n := c.order.Uint16(opts), int(c.order.Uint16(opts[2:]))
		if code == 0 || 4+n > len(opts) {
			break
		}
		v := opts[4 : 4+n]
		switch code {
		case optIfName:
			if n > 0 {
				ifc.name = string(v)
			}
		case optIfTsresol:
			if n == 1 {
				ifc.binary, ifc.exp = v[0]&0x80 != 0, v[0]&0x7f
			}
		case optIfTsoffset:
			if n == 8 {
				ifc.offset = int64(c.order.Uint64(v))
			}
		}
		opts = opts[4+(n+3)&^3:]
	}
	if !ifc.binary && ifc.exp > 19 {
		return c.cut("interface %q with a timestamp resolution of 10^-%d", ifc.name, ifc.exp)
	}
	c.ifaces = append(c.ifaces, ifc)
	return nil
}

func (c *capReader) iface(id int) (*capIface, error) {
	if id < 0 || id >= len(c.ifaces) {
		return nil, c.cut("packet on interface %d, which no interface description block declared", id)
	}
	return &c.ifaces[id], nil
}

func (c *capReader) packet(ifc *capIface, ts uint64, data []byte) Frame {
	t := ifc.nanos(ts)
	c.lastTime = t
	return Frame{Link: ifc.name, Time: t, Type: ifc.linkType, Data: data}
}

func (c *capReader) readEPB(b []byte) (Frame, error) {
	if len(b) < 20 {
		return Frame{}, c.cut("short enhanced packet block")
	}
	ifc, err := c.iface(int(c.order.Uint32(b)))
	if err != nil {
		return Frame{}, err
	}
	ts := uint64(c.order.Uint32(b[4:]))<<32 | uint64(c.order.Uint32(b[8:]))
	n := int(c.order.Uint32(b[12:]))
	if n > len(b)-20 {
		return Frame{}, c.cut("enhanced packet block with %d captured bytes in a %d-byte block", n, len(b)+12)
	}
	return c.packet(ifc, ts, b[20:20+n]), nil
}

func (c *capReader) readPB(b []byte) (Frame, error) {
	if len(b) < 20 {
		return Frame{}, c.cut("short packet block")
	}
	ifc, err := c.iface(int(c.order.Uint16(b)))
	if err != nil {
		return Frame{}, err
	}
	ts := uint64(c.order.Uint32(b[4:]))<<32 | uint64(c.order.Uint32(b[8:]))
	n := int(c.order.Uint32(b[12:]))
	if n > len(b)-20 {
		return Frame{}, c.cut("packet block with %d captured bytes in a %d-byte block", n, len(b)+12)
	}
	return c.packet(ifc, ts, b[20:20+n]), nil
}

func (c *capReader) readSPB(b []byte) (Frame, error) {
	if len(b) < 4 {
		return Frame{}, c.cut("short simple packet block")
	}
	ifc, err := c.iface(0)
	if err != nil {
		return Frame{}, err
	}
	n := min(int(c.order.Uint32(b)), len(b)-4)
	return Frame{Link: ifc.name, Time: c.lastTime, Type: ifc.linkType, Data: b[4 : 4+n]}, nil
}
