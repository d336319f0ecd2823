package router

import (
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/qoslab/qoslab/flow"
)

// BenchmarkForwarding compares the router's forwarding rate of one gated,
// RTP-sized UDP flow with no qoslab rules in the packet path and with
// 10,000 gates installed (the blasted flow being one of them, so every
// packet is looked up, counted and re-marked EF). The two modes alternate
// in rounds inside one run, so that load from other processes on the
// machine hits both alike. "No rules" detaches the forward base chain: the
// table and its maps stay, but no hook sends a packet to them.
//
// b.N is the number of packets sent per mode, in 50 rounds. Metrics: ns/op
// and rx-pps of the gated mode, none-pps of the rule-free mode, and
// ratio-% = the median over rounds of the gated rate as a percentage of
// the rule-free rate of the same round (the machine is shared: a round
// whose two halves saw different load is an outlier, not the answer).
func BenchmarkForwarding(b *testing.B) {
	l := newNSLab(b, "f")
	sink := l.sinkSocket(b, rtpDstPort)
	src := l.sender(b, sndAddr, rtpSrcPort)
	dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(rcvAddr, rtpDstPort))

	d, err := OpenDataplane(DataplaneConfig{NetNS: int(l.rt), Access: []string{"acc0"}})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	fillGates(b, d, 10000)
	blasted := Gate{ID: 1 << 30, DSCP: DSCPEF, Flow: flow.Tuple{Proto: protoUDP, Src: netip.AddrPortFrom(sndAddr, rtpSrcPort), Dst: netip.AddrPortFrom(rcvAddr, rtpDstPort)}}
	if err := d.SetGate(blasted); err != nil {
		b.Fatal(err)
	}

	const rounds = 50
	per := b.N / rounds
	if per == 0 {
		per = 1
	}
	var none, gated blast
	ratios := make([]float64, 0, rounds)
	b.ResetTimer()
	for r := 0; r < rounds; r++ {
		hookForward(b, d, false)
		n := blastThrough(b, src, sink, dst, per)
		hookForward(b, d, true)
		g := blastThrough(b, src, sink, dst, per)
		none.add(n)
		gated.add(g)
		ratios = append(ratios, g.pps()/n.pps())
	}
	b.StopTimer()
	slices.Sort(ratios)

	c, err := d.GateCounters(blasted.ID)
	if err != nil {
		b.Fatal(err)
	}
	// Every packet delivered in the gated mode went through the gate; a
	// loaded machine may drop some before the router (input backlog).
	if c.Packets < uint64(gated.got) || c.Packets > uint64(gated.sent) {
		b.Fatalf("gate counted %d packets; %d were sent through it and %d delivered", c.Packets, gated.sent, gated.got)
	}
	b.ReportMetric(float64(gated.elapsed.Nanoseconds())/float64(gated.sent), "ns/op")
	b.ReportMetric(gated.pps(), "rx-pps")
	b.ReportMetric(none.pps(), "none-pps")
	b.ReportMetric(100*ratios[len(ratios)/2], "ratio-%")
	b.ReportMetric(100*float64(none.sent+gated.sent-none.got-gated.got)/float64(none.sent+gated.sent), "loss-%")
}

// blast is the outcome of sending datagrams through the router.
type blast struct {
	sent, got int64
	elapsed   time.Duration // first send to last datagram received
}

func (s *blast) add(o blast) {
	s.sent += o.sent
	s.got += o.got
	s.elapsed += o.elapsed
}

func (s blast) pps() float64 { return float64(s.got) / s.elapsed.Seconds() }

// blastThrough sends n datagrams as fast as the sender can and counts what
// reaches the sink. The reader goroutine is owned by this call: it ends
// when all n have arrived, or once the sink has been idle for 200 ms (some
// were lost), and the call waits for it.
func blastThrough(b *testing.B, src, sink *net.UDPConn, dst *net.UDPAddr, n int) blast {
	b.Helper()
	var got, last atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			_ = sink.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, _, err := sink.ReadFromUDP(buf); err != nil {
				return
			}
			last.Store(time.Now().UnixNano())
			if got.Add(1) == int64(n) {
				return
			}
		}
	}()
	p := make([]byte, payloadSize)
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := src.WriteToUDP(p, dst); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	if got.Load() == 0 {
		b.Fatal("nothing reached the sink")
	}
	return blast{sent: int64(n), got: got.Load(), elapsed: time.Duration(last.Load() - start.UnixNano())}
}

// hookForward attaches or detaches the data plane's forward base chain.
func hookForward(b *testing.B, d *Dataplane, on bool) {
	b.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if on {
		d.forward = d.conn.AddChain(d.forward)
		for _, exprs := range d.forwardRules() {
			d.conn.AddRule(&nftables.Rule{Table: d.table, Chain: d.forward, Exprs: exprs})
		}
	} else {
		d.conn.FlushChain(d.forward)
		d.conn.DelChain(d.forward)
	}
	if err := d.conn.Flush(); err != nil {
		b.Fatalf("hook forward=%v: %v", on, err)
	}
}

// sinkSocket is a receiver with a large buffer, so that the sink is not
// what limits the rate.
func (l *nsLab) sinkSocket(b *testing.B, port uint16) *net.UDPConn {
	b.Helper()
	return l.sinkSocketT(b, port)
}

func (l *nsLab) sinkSocketT(b testing.TB, port uint16) *net.UDPConn {
	b.Helper()
	var c *net.UDPConn
	err := inNS(l.rcv, func() error {
		var err error
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(rcvAddr, port)))
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	rc, err := c.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	_ = rc.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20) })
	return c
}
