package copsconn

import (
	"context"
	"net/netip"
	"testing"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/cops"
)

// BenchmarkRoundTripREQDEC is one Request (REQ AAA with the session data
// of a typical call out, DEC Install back) over loopback TCP to a PDP that
// answers at once.
func BenchmarkRoundTripREQDEC(b *testing.B) {
	ln := listen(b)
	serve(b, ln, (&sessionPDP{}).config())
	c := runClient(b, NewClient(ln.Addr().String(), pepConfig("bench")))
	s := cops.Session{CallID: "3aeab772-0b6e-4d1b-9c55-8f1c2ae1d3a0@qoslab", Side: flow.Originating,
		Caller: "sip:uac@198.18.1.2", Callee: "sip:uas@198.18.4.2", Class: "EF", Bandwidth: 87200,
		Token: make([]byte, 64),
		Media: []cops.MediaFlow{
			{Dir: cops.Forward, Tuple: flow.Tuple{Proto: 17, Src: netip.AddrPortFrom(srcAddr, 20000), Dst: netip.AddrPortFrom(dstAddr, 30000)}},
			{Dir: cops.Backward, Tuple: flow.Tuple{Proto: 17, Src: netip.AddrPortFrom(dstAddr, 30000), Dst: netip.AddrPortFrom(srcAddr, 20000)}}}}
	data, err := s.AppendTo(nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Request(ctx, 1, cops.KindAAA.Context(), data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoundTripGateSet is one Gate (DEC Gate-Set out, RPT
// Gate-Set-Ack back, matched by Transaction ID) over loopback TCP.
func BenchmarkRoundTripGateSet(b *testing.B) {
	ln := listen(b)
	serve(b, ln, Config{Role: PEP, ClientType: cops.ClientTypePCMM, PEPID: "r1",
		Gates: func(ctx context.Context, cmd *cops.PCMM) cops.PCMM { return cops.PCMM{HasGateID: true, GateID: 1} }})
	c := runClient(b, NewClient(ln.Addr().String(), Config{Role: PDP, ClientType: cops.ClientTypePCMM, KATimer: 30}))
	ctx := context.Background()
	p := gateSet()
	b.ReportAllocs()
	for b.Loop() {
		p.TransactionID = 0
		if _, err := c.Gate(ctx, &p); err != nil {
			b.Fatal(err)
		}
	}
}
