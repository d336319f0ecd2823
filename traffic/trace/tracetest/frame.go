package tracetest

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// segment is what one frame carries above IP.
type segment struct {
	src, dst netip.AddrPort
	tcp      bool
	seq, ack uint32
	syn, fin bool
	payload  []byte
}

func mac(link, end int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x51, 0x53, 0, byte(link), byte(end)}
}

// frame builds the Ethernet frame of a segment on one hop.
func frame(h hop, ttl uint8, dscp uint8, s segment, id uint16) ([]byte, error) {
	eth := &layers.Ethernet{SrcMAC: mac(h.index, 1), DstMAC: mac(h.index, 2), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{
		Version: 4, TOS: dscp << 2, Id: id, TTL: ttl, Flags: layers.IPv4DontFragment,
		SrcIP: s.src.Addr().AsSlice(), DstIP: s.dst.Addr().AsSlice(),
	}
	var l4 gopacket.SerializableLayer
	if s.tcp {
		ip.Protocol = layers.IPProtocolTCP
		t := &layers.TCP{
			SrcPort: layers.TCPPort(s.src.Port()), DstPort: layers.TCPPort(s.dst.Port()),
			Seq: s.seq, Ack: s.ack, SYN: s.syn, FIN: s.fin, ACK: !s.syn || s.ack != 0, PSH: len(s.payload) > 0, Window: 65535,
		}
		if err := t.SetNetworkLayerForChecksum(ip); err != nil {
			return nil, err
		}
		l4 = t
	} else {
		ip.Protocol = layers.IPProtocolUDP
		u := &layers.UDP{SrcPort: layers.UDPPort(s.src.Port()), DstPort: layers.UDPPort(s.dst.Port())}
		if err := u.SetNetworkLayerForChecksum(ip); err != nil {
			return nil, err
		}
		l4 = u
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, l4, gopacket.Payload(s.payload)); err != nil {
		return nil, fmt.Errorf("tracetest: serialize: %w", err)
	}
	return buf.Bytes(), nil
}

// SetDSCP rewrites the DSCP of an Ethernet/IPv4 frame in place and fixes
// the header checksum, as a router re-marking it would.
func SetDSCP(data []byte, dscp uint8) error {
	const ipOff = 14
	if len(data) < ipOff+20 || data[12] != 0x08 || data[13] != 0x00 {
		return fmt.Errorf("tracetest: not an Ethernet/IPv4 frame")
	}
	ip := data[ipOff:]
	ip[1] = dscp<<2 | ip[1]&0x03
	ihl := int(ip[0]&0x0f) * 4
	ip[10], ip[11] = 0, 0
	var sum uint32
	for i := 0; i < ihl; i += 2 {
		sum += uint32(ip[i])<<8 | uint32(ip[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	c := ^uint16(sum)
	ip[10], ip[11] = byte(c>>8), byte(c)
	return nil
}
