// Package cops is qoslab's COPS (RFC 2748) codec, in the manner of
// golang.org/x/net/dns/dnsmessage: the common header, every object, the
// grammar of each operation, encoding and decoding, framing of a byte
// stream, one-line renderings, the PacketCable Multimedia objects (client-
// type 0x800A) and the session data of qoslab's private client-type 0x5153
// on the proxy leg of the patent's flow (WO 01/35294, FIG. 5 and 6). It
// does no I/O: the connection (handshakes, keep-alives, Integrity,
// transaction tables) is protocol/copsconn's, which imports this package;
// the verifier (traffic/trace) uses the codec on captured streams. Nothing
// here imports another qoslab package.
//
// # What is here
//
//   - Codec: Message holds the common header and every RFC 2748 object
//     (Handle, Context, In/Out-Interface, Reason, Decision with flags,
//     stateless, replacement, client-specific and named data, LPDP
//     Decision, Error, ClientSI signaled/named, KA timer, PEPID,
//     Report-Type, PDP redirect, last PDP, accounting timer, Integrity).
//     Message.AppendTo encodes append-style without allocating;
//     Message.Decode parses in place (slices point into the buffer) and
//     checks the grammar of each operation. Errors are *ProtocolError
//     carrying the RFC error code to send back (CodeOf, Errorf); PeekHandle
//     reads the handle of a message that does not decode, so that a
//     connection can answer it.
//   - PCMM: Transaction ID and gate command types, AMID, Subscriber ID,
//     Gate ID, Gate Spec, Classifier and extended Classifier, Traffic
//     Profile (flow spec, service class name), Event Generation Info,
//     volume/time usage limits, Gate Time/Usage Info, PacketCable Error,
//     Gate State, Version Info. PCMM.AppendTo / PCMM.Decode.
//     DSCP in the Gate Spec: the TOS overwrite byte carries DSCP<<2 and the
//     mask is 0xFC, so EF (46) is 0xB8/0xFC (GateSpec.SetDSCP, DSCP).
//     Packets the router marked for a gate: Gate Usage Info carries octets;
//     PCMM.UsagePackets carries the packet count in an Opaque Data object.
//   - Session: the versioned TLV encoding of the proxy leg's session
//     information (session.go documents it octet by octet). Kind names the
//     three REQs: AAA (R-Type 0x01, M-Type 1), LDP (0x02/2), noLDP (0x02/3).
//   - Framer and ReadMessage: COPS framing of a TCP byte stream.
//   - Message.String, PCMM.String, Session.String: one-line renderings for
//     logs and the verifier.
//
// # Tests, fuzzing, benchmarks
//
//	go test ./protocol/cops/                     # unit, golden, tshark cross-check (skips without tshark)
//	go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime=30s -fuzzminimizetime=100x ./protocol/cops/
//	                                             # also FuzzPCMM, FuzzSession, FuzzFramer; seeds in testdata/fuzz
//	go test -run '^$' -bench . -benchtime=20000x ./protocol/cops/
//
// Measured on the shared 2-core lab VM (Xeon, Go 1.26, loaded by other
// builds, so the slower runs are load): encoding a typical REQ AAA (two
// media flows, OSP token, 196 octets) 67-194 ns and a PCMM Gate-Set DEC
// 75-152 ns, both with 0 allocations (guarded by testing.AllocsPerRun);
// decoding them 425-777 ns (4 allocations: the session's strings) and
// 330-499 ns (1 allocation: the service class name). Round trips over the
// connection layer: protocol/copsconn.
//
// Wireshark 4.0 decodes both legs without a malformed packet; notes from the
// cross-check: it shows the Event Generation Info flags octet as reserved,
// it fills cops.pc_mm_error_esc with the PacketCable error code (the
// sub-code is only in the text), and it decodes a named ClientSI
// (C-Type 2) as COPS-PR BER, so qoslab sends signaled ClientSI only.
package cops
