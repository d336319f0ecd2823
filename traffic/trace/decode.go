package trace

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/ip4defrag"
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

// packet is one decoded frame: its frame metadata, the IP header fields the
// rules use, and the transport payload (borrowed from the frame).
type packet struct {
	Frame
	Tuple
	DSCP    uint8
	Payload []byte
	// TCP only.
	Seq, Ack           uint32
	SYN, FIN, RST, ACK bool
}

// decoder turns frames into packets. It owns one DecodingLayerParser (about
// ten times faster than gopacket.NewPacket) and one IPv4 defragmenter per
// link, since a fragmented datagram is seen once on each link it crosses.
type decoder struct {
	eth     layers.Ethernet
	sll     layers.LinuxSLL
	dot1q   layers.Dot1Q
	ip4     layers.IPv4
	ip6     layers.IPv6
	udp     layers.UDP
	tcp     layers.TCP
	payload gopacket.Payload
	parsers map[layers.LinkType]*gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
	defrag  map[string]*ip4defrag.IPv4Defragmenter
}

func newDecoder() *decoder {
	d := &decoder{parsers: map[layers.LinkType]*gopacket.DecodingLayerParser{}, defrag: map[string]*ip4defrag.IPv4Defragmenter{}}
	all := []gopacket.DecodingLayer{&d.eth, &d.sll, &d.dot1q, &d.ip4, &d.ip6, &d.udp, &d.tcp, &d.payload}
	for lt, first := range map[layers.LinkType]gopacket.LayerType{
		layers.LinkTypeEthernet: layers.LayerTypeEthernet,
		layers.LinkTypeLinuxSLL: layers.LayerTypeLinuxSLL,
		layers.LinkTypeRaw:      layers.LayerTypeIPv4,
		layers.LinkTypeIPv4:     layers.LayerTypeIPv4,
	} {
		p := gopacket.NewDecodingLayerParser(first, all...)
		p.IgnoreUnsupported = true
		d.parsers[lt] = p
	}
	return d
}

// decode returns the packet and whether it is an IP packet carrying UDP or
// TCP the verifier can use. Fragments are held until their datagram is
// complete; the completing fragment's frame stands for the datagram.
func (d *decoder) decode(f Frame) (packet, bool) {
	p, ok := d.parsers[f.Type]
	if !ok {
		return packet{}, false
	}
	// A truncated or malformed frame is not an error of the capture as a
	// whole: decode what is there, as Wireshark does, and skip the rest.
	_ = p.DecodeLayers(f.Data, &d.decoded)
	pk := packet{Frame: f}
	var haveIP bool
	var transport gopacket.LayerType
	for _, lt := range d.decoded {
		switch lt {
		case layers.LayerTypeIPv4:
			if d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
				return d.reassemble(f)
			}
			pk.Src = netip.AddrPortFrom(addr4(d.ip4.SrcIP), 0)
			pk.Dst = netip.AddrPortFrom(addr4(d.ip4.DstIP), 0)
			pk.DSCP = d.ip4.TOS >> 2
			haveIP = true
		case layers.LayerTypeIPv6:
			s, _ := netip.AddrFromSlice(d.ip6.SrcIP)
			t, _ := netip.AddrFromSlice(d.ip6.DstIP)
			pk.Src, pk.Dst = netip.AddrPortFrom(s, 0), netip.AddrPortFrom(t, 0)
			pk.DSCP = d.ip6.TrafficClass >> 2
			haveIP = true
		case layers.LayerTypeUDP, layers.LayerTypeTCP:
			transport = lt
		}
	}
	if !haveIP || transport == 0 {
		return packet{}, false
	}
	d.fillTransport(&pk, transport)
	return pk, true
}

func (d *decoder) fillTransport(pk *packet, lt gopacket.LayerType) {
	if lt == layers.LayerTypeUDP {
		pk.Proto = protoUDP
		pk.Src = netip.AddrPortFrom(pk.Src.Addr(), uint16(d.udp.SrcPort))
		pk.Dst = netip.AddrPortFrom(pk.Dst.Addr(), uint16(d.udp.DstPort))
		pk.Payload = d.udp.Payload
		return
	}
	pk.Proto = protoTCP
	pk.Src = netip.AddrPortFrom(pk.Src.Addr(), uint16(d.tcp.SrcPort))
	pk.Dst = netip.AddrPortFrom(pk.Dst.Addr(), uint16(d.tcp.DstPort))
	pk.Payload = d.tcp.Payload
	pk.Seq, pk.Ack, pk.SYN, pk.FIN, pk.RST, pk.ACK = d.tcp.Seq, d.tcp.Ack, d.tcp.SYN, d.tcp.FIN, d.tcp.RST, d.tcp.ACK
}

// reassemble feeds an IPv4 fragment to its link's defragmenter.
func (d *decoder) reassemble(f Frame) (packet, bool) {
	df, ok := d.defrag[f.Link]
	if !ok {
		df = ip4defrag.NewIPv4Defragmenter()
		d.defrag[f.Link] = df
	}
	// The defragmenter keeps the layer: give it its own copy.
	frag := &layers.IPv4{}
	if err := frag.DecodeFromBytes(append([]byte(nil), d.ip4.Contents...), gopacket.NilDecodeFeedback); err != nil {
		return packet{}, false
	}
	frag.Payload = append([]byte(nil), d.ip4.Payload...)
	whole, err := df.DefragIPv4WithTimestamp(frag, time.Unix(0, f.Time))
	if err != nil || whole == nil {
		return packet{}, false
	}
	pk := packet{Frame: f, DSCP: whole.TOS >> 2}
	pk.Src = netip.AddrPortFrom(addr4(whole.SrcIP), 0)
	pk.Dst = netip.AddrPortFrom(addr4(whole.DstIP), 0)
	switch whole.Protocol {
	case layers.IPProtocolUDP:
		if d.udp.DecodeFromBytes(whole.Payload, gopacket.NilDecodeFeedback) != nil {
			return packet{}, false
		}
		d.fillTransport(&pk, layers.LayerTypeUDP)
	case layers.IPProtocolTCP:
		if d.tcp.DecodeFromBytes(whole.Payload, gopacket.NilDecodeFeedback) != nil {
			return packet{}, false
		}
		d.fillTransport(&pk, layers.LayerTypeTCP)
	default:
		return packet{}, false
	}
	return pk, true
}

func addr4(ip []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}
