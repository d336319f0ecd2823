// Package tracetest writes synthetic lab captures for testing and
// benchmarking the trace verifier without a lab: calls that follow docs/FLOW.md
// exactly, built with the real codecs (sipgo's sip package for SIP,
// protocol/cops for COPS and PCMM, protocol/osp for OSP, pion/rtp for RTP),
// carried on the right links of a topology with the right addresses, TCP
// handshakes and sequence numbers, and written as pcapng with one interface
// per link. Edits (swap two steps, drop a message, clear a DSCP) make the
// broken captures the verifier must refuse.
package tracetest
