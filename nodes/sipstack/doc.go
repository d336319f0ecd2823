// Package sipstack builds the SIP stack every qoslab SIP node runs (the
// proxies and both user agents): one emiago/sipgo user agent that listens
// on UDP and TCP on the same address and port, as RFC 3261 section 18
// requires of every element, and the few rules sipgo leaves to its user:
//
//   - Transport choice (section 18.1.1): a request goes over the transport
//     its next hop names (the transport parameter of the top Route, else of
//     the Request-URI, else UDP), and over TCP whenever it would be larger
//     than MaxUDP (the lab's MTU minus 200) as a datagram. Nothing is ever
//     IP-fragmented. Pin applies the choice to a built request: its
//     transport, its top Via and the local address it leaves from.
//   - Wire order: sipgo hands each received message to a goroutine of its
//     own, so a 200 read right after a 180 can reach its transaction first,
//     and the transaction then drops the 180 (RFC 6026 Accepted state).
//     Watch gives a request's owner every response to it in the order the
//     transport read them.
//   - Limits: the lab's MTU (sip.UDPMTUSize) and a read buffer that holds
//     any datagram whole (sip.TransportBufferReadSize), so an oversized
//     request is parsed and answered instead of truncated and dropped; and
//     a log handler that cuts long attributes, so a bad datagram is not
//     logged whole on every retransmission.
//
// sipgo keeps these limits in package variables; New sets them once, to
// the same values in every node and in every unit test.
package sipstack
