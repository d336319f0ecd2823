// Package pdp is the policy server role (POL1, POL2 in FLOW.md): a COPS PDP
// for its SIP proxy, a PacketCable Multimedia policy server for its edge
// router and an OSP client of the clearinghouse.
//
// The per-call logic is the pure state machine Machine (events in, actions
// out, in the style of etcd/raft's RawNode): it owns no goroutines, clocks
// or randomness, so every FLOW.md path is a unit test. Run is the driver
// that wires it to sockets, the clearinghouse and the durable usage spool.
package pdp
