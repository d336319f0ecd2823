// Package trace verifies a lab from its packet captures alone. It reads
// pcapng files (one interface block per link), decodes SIP (UDP and TCP),
// COPS on reassembled TCP streams (the private client-type 0x5153 on 3288
// and PacketCable Multimedia 0x800A on 3918), OSP XML carried in HTTP on TCP
// 1080 and RTP flows announced by SDP. It rebuilds every call, labels each
// message with its docs/FLOW.md step (package flow), checks every order
// constraint and every DSCP rule, and reports each failure with the call,
// step, what was expected, what was seen, the packet number and the link, so
// that a person can find it in Wireshark.
//
// The work is split into phases that are each a small file: reading
// (capture.go), decoding one frame (decode.go), TCP reassembly (stream.go),
// protocol parsers (sip.go, sdp.go, cops.go, osp.go), merging sightings of
// the same message seen on several links (message.go), the call model
// (call.go), step labelling (label.go), order and variant checks (order.go),
// DSCP rules (dscp.go) and the report (report.go).
package trace
