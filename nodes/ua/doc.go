// Package ua holds qoslab's SIP user agents: the UAC (role "uac"), which
// places calls when told to over its control socket, and the UAS (role
// "uas"), which answers them. Both run on emiago/sipgo over UDP, offer and
// answer G.711 with pion/sdp, and carry real media through traffic/rtp.
//
// The UAS answers an INVITE with 180 Ringing carrying its SDP answer, then
// 200 OK after the ring time (or 200 at once when the ring time is 0). The
// UAC acknowledges, talks, and hangs up with BYE unless the UAS was told
// to hang up itself. Per-call behaviour travels in X-Qoslab-* headers the
// UAC adds, because the CLI drives only the UAC.
package ua
