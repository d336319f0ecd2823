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
			srv := cops.NewGateServer(cops.GateServerConfig{PEPID: "r1",
				Handler: copsHandler(newPEP(d, time.Now), quiet, flow.Originating, "pol1")})
			srvDone := make(chan error, 1)
			go func() { srvDone <- srv.Serve(ctx, ln) }()
			defer func() { cancel(); <-srvDone }()

			up := make(chan struct{}, 1)
			gc := cops.NewGateController(cops.GateControllerConfig{Addr: ln.Addr().String(), KATimer: 30,
				OnConnected: func() {
					select {
					case up <- struct{}{}:
					default:
					}
				}})
			gcDone := make(chan error, 1)
			go func() { gcDone <- gc.Run(ctx) }()
			defer func() { cancel(); <-gcDone }()
			<-up

			g := benchGate(n + 1)
			set := &cops.PCMM{Command: cops.GateSet, HasGateSpec: true,
				Classifiers: []cops.Classifier{classifierOf(g.Flow)}}
			set.GateSpec.SetDSCP(DSCPEF)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ack, err := gc.Do(ctx, set)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if _, err := gc.Do(ctx, &cops.PCMM{Command: cops.GateDelete, HasGateID: true, GateID: ack.GateID}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
