// Package pdp is the policy server role (POL1, POL2 in docs/FLOW.md): a COPS PDP
// for its SIP proxy, a PacketCable Multimedia policy server for its edge
// router and an OSP client of the clearinghouse.
//
// # Shape
//
// The per-call logic is the pure state machine Machine (machine.go; events
// in events.go, actions in actions.go), in the style of etcd/raft's RawNode:
// it owns no goroutines, clocks or randomness, so every docs/FLOW.md path is a
// unit test (machine_test.go) and a fuzz target (fuzz_test.go). Run
// (run.go) is the driver: one loop goroutine (loop.go) steps the machine
// and performs its actions against
//
//   - the proxy leg (proxyleg.go): a COPS PDP on TCP 3288, client-type
//     0x5153, REQ AAA / LDP / noLDP and DRQ in, DEC Install / Remove out;
//   - the router leg (routerleg.go): a PacketCable Multimedia PDP that
//     dials the router on TCP 3918 (and again with backoff), sends
//     Gate-Set / Gate-Delete / Gate-Info and turns the answers, or their
//     absence within gate-timeout, into events;
//
// Both legs are thin adapters over protocol/copsconn, the COPS connection
// layer the proxies and routers run too: it does the handshakes,
// keep-alives, Client-Close with the RFC 2748 error, Integrity, and the
// matching of gate answers by Transaction ID. A malformed REQ gets a DEC
// with the Error object there, and the connection and its other calls go
// on. The loop also talks to
//
//   - the clearinghouse (clearinghouse.go): OSP over HTTP, or without one
//     the policy rules of nodes/authz and the usage store of nodes/usage;
//   - the usage spool (spool.go, spool.db: SQLite, WAL, synchronous FULL)
//     and the gate book (gatebook.go, gates.db).
//
// # Behaviour worth knowing
//
//   - Side: the REQ's session information says which side the call is on.
//     The originating side gates the caller's media, the terminating side
//     the callee's, both with the DSCP of the class the clearinghouse
//     granted (EF by default). Every logged message carries its docs/FLOW.md
//     step for that side.
//   - Fail closed: a clearinghouse that does not answer makes the AAA a
//     DEC Remove with result 503; a refusal carries the clearinghouse's
//     status and reason; a router that refuses, or does not answer within
//     gate-timeout, makes the LDP a DEC Remove with result 503.
//   - Usage is written to the spool before the DEC that ends the call, then
//     delivered with exponential backoff until confirmed; a restart resumes
//     the spool. Records carry start, connect and end times, the duration,
//     the granted class and rate, and the packets and bytes the router
//     marked (from the Gate-Delete-Ack).
//   - A lost proxy connection (or a DRQ) ends its calls: gates deleted,
//     usage reported, no DEC.
//   - A router that reconnects gets the gates of the calls in progress
//     again, under their old ids. Gates no call owns any more (left by a
//     previous run of the policy server, or whose Gate-Delete got no
//     answer) are deleted at the router's next connection.
package pdp
