package router

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/cops"
	"github.com/qoslab/qoslab/protocol/copsconn"
)

// BenchmarkPEPGateSet measures Gate-Set -> Gate-Set-Ack as the policy
// server sees it: a DEC over loopback TCP to the router's COPS gate server,
// the PEP, one nftables batch in the router namespace, the RPT back. n gates
// are installed beforehand; each iteration's gate is deleted again (with a
// Gate-Delete, outside the timer) so the table size stays n.
func BenchmarkPEPGateSet(b *testing.B) {
	for _, n := range []int{1, 1000, 10000} {
		b.Run(fmt.Sprintf("gates=%d", n), func(b *testing.B) {
			l := newNSLab(b, fmt.Sprintf("p%d", n))
			d, err := OpenDataplane(DataplaneConfig{NetNS: int(l.rt), Access: []string{"acc0"}})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			fillGates(b, d, n)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			quiet := slog.New(slog.DiscardHandler)
			srvDone := make(chan error, 1)
			go func() {
				srvDone <- copsconn.Serve(ctx, ln, copsconn.Config{Role: copsconn.PEP, ClientType: cops.ClientTypePCMM,
					PEPID: "r1", Gates: copsHandler(newPEP(d, time.Now), quiet, flow.Originating, "pol1")})
			}()
			defer func() { cancel(); <-srvDone }()
			// The policy server's side as the policy server runs it.
			gc, err := copsconn.Dial(ctx, ln.Addr().String(), copsconn.Config{Role: copsconn.PDP,
				ClientType: cops.ClientTypePCMM, KATimer: 30})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { cancel(); <-gc.Done() }()

			g := benchGate(n + 1)
			set := &cops.PCMM{Command: cops.GateSet, HasGateSpec: true,
				Classifiers: []cops.Classifier{classifierOf(g.Flow)}}
			set.GateSpec.SetDSCP(DSCPEF)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ack, err := gc.Gate(ctx, set)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if _, err := gc.Gate(ctx, &cops.PCMM{Command: cops.GateDelete, HasGateID: true, GateID: ack.GateID}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
