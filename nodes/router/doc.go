// Package router is the DiffServ edge router role (R1, R2 of the patent's
// FIG. 5): a PacketCable Multimedia policy enforcement point that turns the
// policy server's Gate-Set and Gate-Delete commands into nftables changes in
// the router's own network namespace.
//
// The data plane (Dataplane) is a table "qoslab" with a forward-hook chain.
// A gated flow is found in O(1) by a concatenated verdict map keyed on
// (source address, destination address, protocol, source port, destination
// port); the map jumps to the gate's own chain, which counts the packet in
// the gate's named counter and continues in the chain of its DSCP class,
// which rewrites the DSCP and accepts. A packet that entered on an access
// interface, matched no gate and carries a non-zero DSCP is re-marked to
// DSCP 0 (RFC 2475 boundary conditioning, the patent's theft of service
// case), unless it comes from a trusted infrastructure host with the
// signalling marking CS5.
//
// Queuing (HTB with a priority EF class on the core-facing interface) makes
// the marking matter on a congested core link.
package router
