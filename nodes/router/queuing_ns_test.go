package router

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/qoslab/qoslab/flow"
)

// TestQueuingProtectsEFUnderCongestion overloads a 10 Mbit/s core link with
// best-effort traffic while a gated flow sends a trickle: every EF packet
// must arrive, while the best-effort queue overflows. This is what makes
// the marking matter.
func TestQueuingProtectsEFUnderCongestion(t *testing.T) {
	l := newNSLab(t, "c")
	d := openTestDataplane(t, l)
	h, err := netlink.NewHandleAt(l.rt)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := installQueuing(h, QueuingConfig{Iface: "core0", LinkRate: 10e6, EFRate: 2e6}); err != nil {
		t.Fatal(err)
	}
	const bePort = rtpDstPort + 100
	efSink := l.sinkSocketT(t, rtpDstPort)
	beSink := l.sinkSocketT(t, bePort)
	media := l.sender(t, sndAddr, rtpSrcPort)
	bulk := l.sender(t, sndAddr, rtpSrcPort+100)
	if err := d.SetGate(Gate{ID: 1, DSCP: DSCPEF, Flow: flow.Tuple{Proto: protoUDP, Src: netip.AddrPortFrom(sndAddr, rtpSrcPort), Dst: netip.AddrPortFrom(rcvAddr, rtpDstPort)}}); err != nil {
		t.Fatal(err)
	}

	// 3,000 x 1,200-byte best-effort datagrams (29 Mbit) as fast as the
	// sender goes, with one media packet after every 30 of them.
	const beN, every = 3000, 30
	big := make([]byte, 1200)
	small := make([]byte, payloadSize)
	efDst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(rcvAddr, rtpDstPort))
	beDst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(rcvAddr, bePort))
	efSent := 0
	for i := 0; i < beN; i++ {
		if _, err := bulk.WriteToUDP(big, beDst); err != nil {
			t.Fatal(err)
		}
		if i%every == 0 {
			if _, err := media.WriteToUDP(small, efDst); err != nil {
				t.Fatal(err)
			}
			efSent++
		}
	}
	efGot := drain(efSink, time.Second)
	beGot := drain(beSink, time.Second)
	// On a loaded machine the sender can overrun the router's input
	// backlog before any queuing happens; what reached the router's
	// forward hook is what the gate counted, and all of that must get
	// through the congested link.
	c, err := d.GateCounters(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("EF %d sent, %d reached the router, %d delivered; best effort %d/%d delivered", efSent, c.Packets, efGot, beGot, beN)
	if c.Packets == 0 || uint64(efGot) != c.Packets {
		t.Errorf("EF: %d of the %d packets that reached the router were delivered through the congested core link", efGot, c.Packets)
	}
	if beGot >= beN {
		t.Errorf("best effort: all %d packets delivered; the link was not congested, the test proves nothing", beN)
	}
}

// drain counts datagrams until the socket has been idle for idle.
func drain(c *net.UDPConn, idle time.Duration) int {
	buf := make([]byte, 2048)
	n := 0
	for {
		_ = c.SetReadDeadline(time.Now().Add(idle))
		if _, _, err := c.ReadFromUDP(buf); err != nil {
			return n
		}
		n++
	}
}
