package router

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/qoslab/qoslab/flow"
)

// benchGate is gate number i of a benchmark: distinct source ports and
// addresses from 10.x, so any number of them coexist.
func benchGate(i int) Gate {
	return Gate{
		ID:   uint32(i + 1),
		DSCP: DSCPEF,
		Flow: flow.Tuple{
			Proto: protoUDP,
			Src:   netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(1024+i%60000)),
			Dst:   netip.AddrPortFrom(rcvAddr, rtpDstPort),
		},
	}
}

// fillGates installs n benchmark gates.
func fillGates(b *testing.B, d *Dataplane, n int) {
	b.Helper()
	for i := 0; i < n; i++ {
		if err := d.SetGate(benchGate(i)); err != nil {
			b.Fatalf("gate %d: %v", i, err)
		}
	}
}

// BenchmarkDataplaneSetGate is the data-plane part of Gate-Set -> Gate-Set-Ack:
// one atomic batch that adds a gate's chain, counter, rule and map element,
// with n gates already installed. Each iteration's gate is deleted again
// outside the timer, so the table size stays n.
func BenchmarkDataplaneSetGate(b *testing.B) {
	for _, n := range []int{1, 1000, 10000} {
		b.Run(fmt.Sprintf("gates=%d", n), func(b *testing.B) {
			l := newNSLab(b, fmt.Sprintf("s%d", n))
			d, err := OpenDataplane(DataplaneConfig{NetNS: int(l.rt), Access: []string{"acc0"}})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			fillGates(b, d, n)
			g := benchGate(n + 1)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := d.SetGate(g); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if _, err := d.DeleteGate(g.ID); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
