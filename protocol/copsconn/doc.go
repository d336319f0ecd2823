// Package copsconn is qoslab's one COPS connection layer (RFC 2748): the
// connection that the SIP proxies, the policy servers and the routers all
// run, on both legs of the patent's flow (WO 01/35294, FIG. 5 and 6). The
// wire format is protocol/cops's; this package owns everything about a
// connection:
//
//   - the handshake by role, whichever end dialled: the PEP sends OPN
//     (the proxy, which dials; the router, which listens), the PDP answers
//     CAT with the keep-alive timer or CC with the reason; on PacketCable
//     Multimedia the router then sends its configuration REQ;
//   - keep-alives (the PEP sends them at a random 1/4 to 3/4 of the timer
//     after its last message, the PDP echoes) and dead-peer detection (no
//     message for a whole timer: CC Communication failure), KA floods;
//   - Client-Close with the RFC 2748 error code on every protocol error,
//     and one write deadline for every send;
//   - malformed but well-framed messages that have an answer get it and
//     the connection survives: a REQ a PDP cannot decode gets a DEC with
//     the Error object, a DEC a PEP cannot decode an RPT Failure;
//   - Message Integrity (HMAC-MD5-96 with Key ID and sequence numbers,
//     RFC 2748 2.2.16), off without keys; a bad digest, an unknown key or
//     a replayed sequence number close with Error 14, a missing Integrity
//     object with 15;
//   - admission: Config.Admit sees the peer (address, PEPID, Integrity key)
//     after its first handshake message and may refuse it with CC;
//   - SSQ/SSC, and the transaction tables: a PEP's Requests matched to
//     their solicited DEC by handle and context, its open requests re-sent
//     on SSQ and after a reconnect; a PCMM PDP's gate commands matched to
//     the router's RPT by Transaction ID (with a timeout), and a PCMM PEP's
//     gate command handler (Config.Gates) answered with RPTs.
//
// Accept runs a connection a listener accepted, Serve a whole listener,
// Dial one outgoing connection and Client keeps an outgoing one up,
// redialling with backoff.
//
// # The four ends in the lab
//
//	// SIP proxy: PEP, session client-type 0x5153, dials the policy server
//	cl := copsconn.NewClient("198.18.3.2:3288", copsconn.Config{Role: copsconn.PEP,
//		ClientType: cops.ClientTypeSession, PEPID: "sip1", OnMessage: unsolicitedDEC})
//	go cl.Run(ctx)
//	c, _ := cl.Wait(ctx)
//	dec, err := c.Request(ctx, h, cops.KindAAA.Context(), sessionBytes)
//
//	// policy server, proxy leg: PDP, listens on TCP 3288
//	copsconn.Serve(ctx, ln, copsconn.Config{Role: copsconn.PDP, ClientType: cops.ClientTypeSession,
//		KATimer: 30, OnOpen: register, OnMessage: reqOrDRQ, OnClose: dropCalls})
//
//	// policy server, router leg: PDP, PCMM, dials the router
//	rl := copsconn.NewClient("198.18.1.1:3918", copsconn.Config{Role: copsconn.PDP,
//		ClientType: cops.ClientTypePCMM, OnOpen: routerUp, OnClose: routerDown})
//	err := c.StartGate(&gateSet, 3*time.Second, func(reply cops.PCMM, err error) { ... })
//
//	// router: PEP, PCMM, listens on TCP 3918 and sends OPN
//	copsconn.Serve(ctx, ln, copsconn.Config{Role: copsconn.PEP, ClientType: cops.ClientTypePCMM,
//		PEPID: "r1", Gates: func(ctx context.Context, cmd *cops.PCMM) cops.PCMM { ... }})
//
// # Shape
//
// A Conn has two goroutines: a reader that frames, decodes and verifies,
// and a loop that owns keep-alive timing and dispatch; any goroutine may
// send (writes are serialised). The callbacks of Config run on the loop, in
// arrival order. The keep-alive timing is a pure state machine
// (keepalive.go), tested on its own; the connection tests run on net.Pipe
// inside testing/synctest bubbles, so keep-alive timers pass in fake time.
//
//	go test ./protocol/copsconn/
//	go test -run '^$' -bench . -benchtime=20000x ./protocol/copsconn/   # REQ/DEC and Gate-Set/Ack round trips
package copsconn
