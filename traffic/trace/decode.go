package trace

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/gopacket/gopacket/layers"
)

// Transport protocol numbers the verifier looks at.
const (
	protoTCP = 6
	protoUDP = 17
)

// DSCP values the rules name.
const (
	DSCPBestEffort = 0
	DSCPEF         = 46
)

// Tuple is a transport 5-tuple.
type Tuple struct {
	Src, Dst netip.AddrPort
	Proto    uint8
}

// MarshalText renders the tuple as String does, for JSON reports.
func (t Tuple) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads what MarshalText wrote, so reports round-trip.
func (t *Tuple) UnmarshalText(b []byte) error {
	proto, rest, ok := strings.Cut(string(b), " ")
	src, dst, ok2 := strings.Cut(rest, "->")
	if !ok || !ok2 || (proto != "udp" && proto != "tcp") {
		return fmt.Errorf("trace: bad tuple %q", b)
	}
	var err error
	if t.Src, err = netip.ParseAddrPort(src); err != nil {
		return fmt.Errorf("trace: tuple %q: %w", b, err)
	}
	if t.Dst, err = netip.ParseAddrPort(dst); err != nil {
		return fmt.Errorf("trace: tuple %q: %w", b, err)
	}
	t.Proto = protoUDP
	if proto == "tcp" {
		t.Proto = protoTCP
	}
	return nil
}

// String renders "udp 198.18.1.2:20000->198.18.4.2:30000".
func (t Tuple) String() string {
	p := "udp"
	if t.Proto == protoTCP {
		p = "tcp"
	}
	return fmt.Sprintf("%s %s->%s", p, t.Src, t.Dst)
}

// endpoint is an address and port without pointers (netip.Addr holds
// one), so that the tables and queues of the RTP path cost the garbage
// collector nothing. IPv4 is kept as an IPv4-mapped IPv6 address.
type endpoint struct {
	ip   [16]byte
	port uint16
}

func endpointOf(ap netip.AddrPort) endpoint {
	return endpoint{ip: ap.Addr().As16(), port: ap.Port()}
}

func (e endpoint) addr() netip.Addr { return netip.AddrFrom16(e.ip).Unmap() }

func (e endpoint) addrPort() netip.AddrPort { return netip.AddrPortFrom(e.addr(), e.port) }

func (e endpoint) valid() bool { return e != endpoint{} }

// v4mapped is the prefix of an IPv4-mapped IPv6 address.
var v4mapped = [12]byte{10: 0xff, 11: 0xff}

func endpoint4(ip []byte, port uint16) endpoint {
	var e endpoint
	copy(e.ip[:12], v4mapped[:])
	copy(e.ip[12:], ip)
	e.port = port
	return e
}

// TCP flags the reassembly looks at.
const (
	flagFIN = 1 << iota
	flagSYN
	flagRST
	flagACK
)

// packet is one decoded frame: its frame metadata, the IP header fields
// the rules use, and the transport payload (borrowed from the frame, or
// from the defragmenter for a reassembled datagram).
type packet struct {
	Frame
	src, dst endpoint
	proto    uint8
	dscp     uint8
	flags    uint8 // TCP
	seq, ack uint32
	payload  []byte
}

func (p *packet) syn() bool    { return p.flags&flagSYN != 0 }
func (p *packet) fin() bool    { return p.flags&flagFIN != 0 }
func (p *packet) rst() bool    { return p.flags&flagRST != 0 }
func (p *packet) hasAck() bool { return p.flags&flagACK != 0 }

// tuple is the packet's 5-tuple as reports print it.
func (p *packet) tuple() Tuple {
	return Tuple{Src: p.src.addrPort(), Dst: p.dst.addrPort(), Proto: p.proto}
}

// decoder turns frames into packets by slicing the headers in place
// (Ethernet, 802.1Q, Linux cooked, raw IP; IPv4, IPv6; UDP, TCP): no
// gopacket layer objects, no allocation. IPv4 fragments go to the
// defragmenter, one per link, since a fragmented datagram is seen once on
// each link it crosses.
type decoder struct {
	defrag *defragmenter
}

func newDecoder() *decoder { return &decoder{defrag: newDefragmenter()} }

// decode fills pk and tells whether the frame is an IP packet carrying
// UDP or TCP. A truncated or malformed frame is skipped, as Wireshark
// skips what it cannot dissect; it is not an error of the capture.
func (d *decoder) decode(f Frame, link uint16, pk *packet) bool {
	b := f.Data
	var et uint16
	switch f.Type {
	case layers.LinkTypeEthernet:
		if len(b) < 14 {
			return false
		}
		et, b = binary.BigEndian.Uint16(b[12:]), b[14:]
		for (et == 0x8100 || et == 0x88a8) && len(b) >= 4 {
			et, b = binary.BigEndian.Uint16(b[2:]), b[4:]
		}
	case layers.LinkTypeLinuxSLL:
		if len(b) < 16 {
			return false
		}
		et, b = binary.BigEndian.Uint16(b[14:]), b[16:]
	case linkTypeLinuxSLL2:
		if len(b) < 20 {
			return false
		}
		et, b = binary.BigEndian.Uint16(b), b[20:]
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, linkTypeRawAlt:
		if len(b) == 0 {
			return false
		}
		switch b[0] >> 4 {
		case 4:
			et = 0x0800
		case 6:
			et = 0x86dd
		}
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(b) < 4 {
			return false
		}
		fam := binary.LittleEndian.Uint32(b)
		if f.Type == layers.LinkTypeLoop || fam > 0xffff {
			fam = binary.BigEndian.Uint32(b)
		}
		switch fam {
		case 2:
			et = 0x0800
		case 10, 24, 28, 30:
			et = 0x86dd
		}
		b = b[4:]
	default:
		return false
	}
	*pk = packet{Frame: f}
	switch et {
	case 0x0800:
		return d.ipv4(b, link, pk)
	case 0x86dd:
		return d.ipv6(b, pk)
	}
	return false
}

// Link types gopacket does not name.
const (
	linkTypeLinuxSLL2 layers.LinkType = 276
	linkTypeRawAlt    layers.LinkType = 12 // DLT_RAW on some systems
)

func (d *decoder) ipv4(b []byte, link uint16, pk *packet) bool {
	if len(b) < 20 || b[0]>>4 != 4 {
		return false
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || total < ihl || len(b) < ihl {
		return false
	}
	if total < len(b) {
		b = b[:total] // Ethernet padding
	}
	pk.dscp = b[1] >> 2
	pk.src, pk.dst = endpoint4(b[12:16], 0), endpoint4(b[16:20], 0)
	proto := b[9]
	frag := binary.BigEndian.Uint16(b[6:])
	payload := b[ihl:]
	if frag&0x3fff != 0 { // more fragments, or an offset
		whole, ok := d.defrag.add(link, pk, binary.BigEndian.Uint16(b[4:]), proto, int(frag&0x1fff)*8, frag&0x2000 != 0, payload)
		if !ok {
			return false
		}
		payload = whole
	}
	return transport(proto, payload, pk)
}

func (d *decoder) ipv6(b []byte, pk *packet) bool {
	if len(b) < 40 || b[0]>>4 != 6 {
		return false
	}
	pk.dscp = (b[0]<<4 | b[1]>>4) >> 2
	copy(pk.src.ip[:], b[8:24])
	copy(pk.dst.ip[:], b[24:40])
	if n := 40 + int(binary.BigEndian.Uint16(b[4:])); n < len(b) {
		b = b[:n]
	}
	next, b := b[6], b[40:]
	for {
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(b) < 8 {
				return false
			}
			n := (int(b[1]) + 1) * 8
			if len(b) < n {
				return false
			}
			next, b = b[0], b[n:]
		case 51: // authentication header
			if len(b) < 8 {
				return false
			}
			n := (int(b[1]) + 2) * 4
			if len(b) < n {
				return false
			}
			next, b = b[0], b[n:]
		default:
			return transport(next, b, pk)
		}
	}
}

// transport slices the UDP or TCP header.
func transport(proto byte, b []byte, pk *packet) bool {
	switch proto {
	case protoUDP:
		if len(b) < 8 {
			return false
		}
		if n := int(binary.BigEndian.Uint16(b[4:])); n >= 8 && n < len(b) {
			b = b[:n]
		}
		pk.proto = protoUDP
		pk.src.port, pk.dst.port = binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
		pk.payload = b[8:]
		return true
	case protoTCP:
		if len(b) < 20 {
			return false
		}
		off := int(b[12]>>4) * 4
		if off < 20 || off > len(b) {
			return false
		}
		pk.proto = protoTCP
		pk.src.port, pk.dst.port = binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
		pk.seq, pk.ack = binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:])
		fl := b[13]
		pk.flags = fl&0x01*flagFIN | fl>>1&1*flagSYN | fl>>2&1*flagRST | fl>>4&1*flagACK
		pk.payload = b[off:]
		return true
	}
	return false
}
