// Package trace verifies a lab from its packet captures alone. It reads
// pcapng files (one interface block per link), decodes SIP (UDP and TCP),
// COPS on reassembled TCP streams (the private client-type 0x5153 on 3288
// and PacketCable Multimedia 0x800A on 3918), OSP XML carried in HTTP on TCP
// 1080 (decrypted with the sessions' key logs when it runs over TLS) and
// RTP flows announced by SDP. It rebuilds every call, labels each
// message with its docs/FLOW.md step (package flow), checks every order
// constraint and every DSCP rule, and reports each failure with the call,
// step, what was expected, what was seen, the packet number and the link, so
// that a person can find it in Wireshark.
//
// It reads the capture once and keeps only what is open: calls are judged
// as soon as they are over, so memory is bounded by the calls in flight,
// not by the size of the file. The work is split into phases that are
// each a small file: reading (capfile.go, capture.go), decoding one frame
// (decode.go, defrag.go), TCP reassembly (stream.go), protocol parsers
// (sip.go, text.go, cops.go, osp.go, osppeek.go), TLS decryption with key
// logs (tls.go, keylog.go), the pass and the merging
// of sightings of one message on several links (analyze.go, message.go),
// the call model (call.go), media ownership and the RTP path (media.go),
// step labelling (label.go), order and variant checks (order.go), DSCP
// rules (dscp.go), node logs (logs.go) and the report (report.go).
package trace
