// Package ua holds qoslab's SIP user agents: the UAC (role "uac"), which
// places calls when told to over its control socket, and the UAS (role
// "uas"), which answers them. Both run on emiago/sipgo (nodes/sipstack:
// UDP and TCP on one address, TCP for requests above 1300 bytes), offer and
// answer G.711 (PCMU, PCMA, a=ptime:20) with pion/sdp, and carry real
// media through traffic/rtp.
//
// The UAS answers an INVITE with 180 Ringing carrying its SDP answer, then
// 200 OK with the same SDP after the ring time (or 200 at once when the
// ring time is 0). An offer without an active audio stream or without a
// G.711 codec gets 488. The UAC acknowledges, talks, and hangs up with BYE
// unless the UAS was told to hang up itself. Each side stops sending
// before it sends BYE and closes its RTP socket once the BYE is answered.
//
// A UA whose proxy has a domain registers its address-of-record,
// sip:<node>@<domain>, with that proxy at start (it is ready once
// registered) and refreshes it at half the granted time; the UAC calls a
// callee node by its address-of-record (sip:uas@b.qoslab.test), found from
// the callee's proxy's domain, and by address when there is none. A callee
// that is not a user agent is refused. CallResult.HangupBy names the node
// whose BYE ended the call: the caller, the callee, or a proxy ending it
// for policy (HangupReason then holds its Reason header).
//
// Role parameters (all optional): sip_port, proxy (a node name; requests
// then go to that proxy, which is expected to Record-Route), proxy_port,
// callee, callee_port, rtp_port (first of the per-call even ports), ring,
// talk and hangup (UAS defaults for calls that do not say), dscp (a
// marking the UA sets on its own RTP, for bleaching tests), user and
// domain (the address-of-record, default the node name and the proxy's
// domain), expires (registration time asked for, 600 s).
//
// Per-call behaviour travels in headers the UAC adds, because the CLI
// drives only the UAC: X-Qoslab-Ring (ring time), X-Qoslab-Hangup ("uac"
// or "uas") and X-Qoslab-Talk. Each receiver's RTP figures travel back in
// X-Qoslab-RTP, on the UAS's BYE or on its 200 to the UAC's BYE, so one
// CallResult shows both directions as each receiver saw them.
//
// The UAC's control API is HTTP on <env.Dir>/control.sock: POST /call with
// a CallRequest answers a CallResult; PlaceCall is its client.
//
// Every SIP message sent or received is logged with nodes.LogMessage and
// the step package flow gives it (docs/FLOW.md), asked with the UA's role
// and the variant: when the UAS hangs up, the BYE and its 200 keep the
// numbers of the hops they cross (flow.CalleeHangsUp). Each side logs the
// start of its RTP once as proto "rtp", setup step 29.
package ua
