// Package router is the DiffServ edge router role (R1, R2 of the patent's
// FIG. 5): a PacketCable Multimedia policy enforcement point that turns the
// policy server's Gate-Set and Gate-Delete commands into nftables changes in
// the router's own network namespace.
//
// # Data plane
//
// Dataplane owns the table "qoslab" (family ip). Its forward-hook chain
// (priority mangle) loads each packet's flow key (ip saddr . ip daddr .
// meta l4proto . th sport . th dport) into consecutive registers and looks
// it up in the hash map "gates", whose elements carry the gate's DSCP class
// as data and a counter each; the class is then looked up in the verdict
// map "classes", which jumps to the class chain ("class-ef": rewrite the
// DSCP keeping ECN, fix the IPv4 checksum, accept). A second map,
// "gates_anysport", holds classifiers that leave the source port open.
// Per-packet work is two hash lookups whatever the number of gates. The
// gate maps are sized (65,536 gates each), which gets them the kernel's
// fixed-size hash: its lookups are cheaper than the resizable hash's, worth
// a few percent of forwarding rate.
//
// The gate maps hold data, not verdicts, on purpose: when an element with a
// jump verdict is added, the kernel re-validates every element of the map
// at commit, which made a Gate-Set cost 4 ms with 10,000 gates; data
// elements are not validated, and Gate-Set stays flat (about 0.1 ms).
// A gate's counter is read with one GETSETELEM for its key.
//
// A packet that arrived on an access interface, matched no gate and carries
// a non-zero DSCP is re-marked to DSCP 0 and counted in the named counter
// "bleached" (RFC 2475 boundary conditioning, the theft-of-service case);
// trusted infrastructure hosts keep their CS5 signalling marking.
//
// Every gate change is one atomic netlink batch. Installing an identical
// gate again changes nothing; Gate-Set for an installed gate id replaces
// it, and its counters carry over. OpenDataplane deletes any old table
// first, so a restarted router starts clean and the policy server
// re-installs the gates of calls in progress.
//
// # Queuing
//
// On the core-facing interface an HTB root shapes to the link rate, with an
// EF class (priority 0, guaranteed rate) fed by a u32 filter on DSCP 46 and
// a best-effort default class, so that the marking matters on a congested
// core link.
//
// # Policy enforcement point
//
// Run listens on TCP 3918 as a PCMM PEP of protocol/copsconn, the COPS
// connection layer the policy servers and proxies run too (the router sends
// OPN when the policy server connects, and keep-alives), and hands each gate
// command to the PEP (pep.go), which answers Gate-Set-Ack with the gate id, Gate-Delete-Ack and
// Gate-Info-Ack with the octets (Gate Usage Info) and packets (qoslab's
// Opaque Data) the gate marked and the seconds since it was committed, and
// ...-Err with a PacketCable Error. Every gate message is logged with
// nodes.LogMessage and its docs/FLOW.md step (R1: setup 19/20, teardown 5/6;
// R2: setup 14/15, teardown 14/15). When the Gate-Set carries the SIP
// Call-ID as NUL-padded text in Opaque Data, the router logs it with the
// gate's messages.
//
// Role parameters: trusted (node names), side (originating|terminating,
// default from the attached user agent), core_rate (default 100mbit, "off"
// for no HTB), ef_rate (default 30mbit).
package router
