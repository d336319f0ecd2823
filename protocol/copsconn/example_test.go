package copsconn_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/cops"
	"github.com/qoslab/qoslab/protocol/copsconn"
)

// The proxy leg: a SIP proxy (PEP) asks its policy server (PDP) "REQ AAA"
// and gets "DEC Install" with an OSP token.
func Example_proxyLeg() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0") // the policy server's TCP 3288
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error)
	go func() {
		served <- copsconn.Serve(ctx, ln, copsconn.Config{Role: copsconn.PDP, ClientType: cops.ClientTypeSession, KATimer: 30,
			OnMessage: func(c *copsconn.Conn, m *cops.Message) {
				if m.Op != cops.OpREQ {
					return
				}
				var s cops.Session
				s.Decode(m.ClientSI[0].Data) // here the PDP would ask the clearinghouse (OSP)
				s.Token, s.Result = []byte("osp-token"), 200
				data, _ := s.AppendTo(nil)
				c.Send(&cops.Message{Header: cops.Header{Op: cops.OpDEC, Flags: cops.FlagSolicited}, Handle: m.Handle,
					Decisions: []cops.Decision{{Context: m.Context, Command: cops.CommandInstall, ClientData: data}}})
			}})
	}()

	pep := copsconn.NewClient(ln.Addr().String(), copsconn.Config{Role: copsconn.PEP,
		ClientType: cops.ClientTypeSession, PEPID: "sip1"})
	ran := make(chan error)
	go func() { ran <- pep.Run(ctx) }()
	c, _ := pep.Wait(ctx)
	s := cops.Session{CallID: "call-1", Side: flow.Originating}
	req, _ := s.AppendTo(nil)
	dec, err := c.Request(ctx, 1, cops.KindAAA.Context(), req)
	var got cops.Session
	got.Decode(dec.Decisions[0].ClientData)
	fmt.Println(dec.Decisions[0].Command, string(got.Token), got.Result, err)
	pep.Delete(1, cops.ReasonTear)

	cancel()
	<-ran
	<-served
	// Output: Install osp-token 200 <nil>
}

// The router leg: the policy server dials the router, the router opens,
// and a Gate-Set marking the call's media EF is acknowledged with a gate ID.
func Example_routerLeg() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0") // the router's TCP 3918
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error)
	go func() {
		served <- copsconn.Serve(ctx, ln, copsconn.Config{Role: copsconn.PEP, ClientType: cops.ClientTypePCMM, PEPID: "r1",
			Gates: func(ctx context.Context, cmd *cops.PCMM) cops.PCMM {
				// here the router would install an nftables rule per classifier
				return cops.PCMM{HasGateID: true, GateID: 0x2a}
			}})
	}()

	c, err := copsconn.Dial(ctx, ln.Addr().String(), copsconn.Config{Role: copsconn.PDP,
		ClientType: cops.ClientTypePCMM, KATimer: 30})
	if err != nil {
		cancel()
		fmt.Println(err)
		return
	}
	set := cops.PCMM{Command: cops.GateSet, HasGateSpec: true,
		Classifiers: []cops.Classifier{{Proto: 17, Src: srcAddrEx, SrcPort: 20000, Dst: dstAddrEx, DstPort: 30000}}}
	set.GateSpec.SetDSCP(46) // EF: TOS overwrite 0xB8, mask 0xFC
	ack, err := c.Gate(ctx, &set)
	fmt.Println(ack.Command, ack.GateID, err)

	cancel()
	<-c.Done()
	<-served
	// Output: Gate-Set-Ack 42 <nil>
}

var (
	srcAddrEx = netip.MustParseAddr("198.18.1.2")
	dstAddrEx = netip.MustParseAddr("198.18.4.2")
)
