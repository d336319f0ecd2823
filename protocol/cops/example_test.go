package cops_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/qoslab/qoslab/protocol/cops"
)

// The proxy leg: a SIP proxy (PEP) asks its policy server (PDP) "REQ AAA"
// and gets "DEC Install" with an OSP token.
func Example_proxyLeg() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0") // the PDP's TCP 3288
	ctx, cancel := context.WithCancel(context.Background())
	pdp := cops.NewPDP(cops.PDPConfig{KATimer: 30,
		Handler: func(ctx context.Context, r cops.SessionRequest) cops.SessionDecision {
			s := r.Session // here the PDP would ask the clearinghouse (OSP)
			s.Token, s.Result, s.Reason = []byte("osp-token"), 200, "authorised"
			return cops.SessionDecision{Command: cops.CommandInstall, Session: s}
		}})
	served := make(chan error)
	go func() { served <- pdp.Serve(ctx, ln) }()

	connected := make(chan struct{})
	pep := cops.NewPEP(cops.PEPConfig{Addr: ln.Addr().String(), PEPID: "sip1",
		OnConnected: func() { close(connected) }})
	ran := make(chan error)
	go func() { ran <- pep.Run(ctx) }()
	<-connected

	dec, err := pep.Request(ctx, 1, cops.KindAAA, cops.Session{CallID: "call-1", Side: cops.SideOriginating,
		Caller: "sip:alice@198.18.1.2", Callee: "sip:bob@198.18.4.2"})
	fmt.Println(dec.Command, string(dec.Session.Token), dec.Session.Result, err)
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
	router := cops.NewGateServer(cops.GateServerConfig{PEPID: "r1",
		Handler: func(ctx context.Context, cmd *cops.PCMM) cops.PCMM {
			// here the router would install an nftables rule per classifier
			return cops.PCMM{HasGateID: true, GateID: 0x2a}
		}})
	served := make(chan error)
	go func() { served <- router.Serve(ctx, ln) }()

	connected := make(chan struct{})
	gc := cops.NewGateController(cops.GateControllerConfig{Addr: ln.Addr().String(), KATimer: 30,
		OnConnected: func() { close(connected) }})
	ran := make(chan error)
	go func() { ran <- gc.Run(ctx) }()
	<-connected

	set := cops.PCMM{Command: cops.GateSet, HasGateSpec: true,
		Classifiers: []cops.Classifier{{Proto: 17,
			Src: netip.MustParseAddr("198.18.1.2"), SrcPort: 20000,
			Dst: netip.MustParseAddr("198.18.4.2"), DstPort: 30000}}}
	set.GateSpec.SetDSCP(46) // EF: TOS overwrite 0xB8, mask 0xFC
	ack, err := gc.Do(ctx, &set)
	fmt.Println(ack.Command, ack.GateID, err)

	cancel()
	<-ran
	<-served
	// Output: Gate-Set-Ack 42 <nil>
}

// The verifier's view: frame a captured TCP stream and print each message.
func ExampleFramer() {
	var stream []byte
	s := cops.Session{CallID: "call-1", Class: "EF"}
	data, _ := s.AppendTo(nil)
	req := cops.Message{Header: cops.Header{Op: cops.OpREQ, ClientType: cops.ClientTypeSession},
		Handle: 7, Context: cops.KindAAA.Context(), ClientSI: []cops.ClientSI{{Data: data}}}
	stream, _ = req.AppendTo(stream)
	ka := cops.Message{Header: cops.Header{Op: cops.OpKA}}
	stream, _ = ka.AppendTo(stream)

	var f cops.Framer
	f.Write(stream[:5]) // segments arrive in pieces
	f.Write(stream[5:])
	for {
		frame, err := f.Next()
		if frame == nil || err != nil {
			break
		}
		var m cops.Message
		if err := m.Decode(frame); err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(m.String())
	}
	// Output:
	// REQ handle=7 ctx=AAA session{call=call-1 class=EF}
	// KA
}
