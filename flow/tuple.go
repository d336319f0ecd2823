package flow

import (
	"fmt"
	"net/netip"
)

// Tuple is a media 5-tuple: the packets of one direction of a stream, as
// a REQ LDP carries them (setup step 13) and a gate classifies them. A
// source port of 0 is any port, as in a PacketCable classifier.
type Tuple struct {
	Proto    uint8 // IP protocol number: 17 UDP, 6 TCP
	Src, Dst netip.AddrPort
}

// String renders "udp 198.18.1.2:20000 -> 198.18.4.2:30000".
func (t Tuple) String() string {
	proto := fmt.Sprintf("proto-%d", t.Proto)
	switch t.Proto {
	case 17:
		proto = "udp"
	case 6:
		proto = "tcp"
	}
	return fmt.Sprintf("%s %s -> %s", proto, t.Src, t.Dst)
}
