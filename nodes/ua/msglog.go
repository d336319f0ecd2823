package ua

import (
	"log/slog"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
)

// sipLog logs every SIP message a UA sends or receives with its FLOW.md
// step, so the e2e suites can hold node logs against captures.
type sipLog struct {
	log    *slog.Logger
	nameOf func(addr string) string
}

func (l sipLog) msg(dir, what, callID string, phase flow.Phase, step int, peer string) {
	nodes.LogMessage(l.log, nodes.Message{
		Dir: dir, Proto: "sip", What: what, CallID: callID,
		Flow: string(phase), Step: step, Peer: l.nameOf(peer),
	})
}

// mediaStart logs the start of this side's RTP stream (FLOW.md setup
// step 29) once, not per packet.
func (l sipLog) mediaStart(callID string, to string) {
	nodes.LogMessage(l.log, nodes.Message{
		Dir: nodes.Sent, Proto: "rtp", What: "RTP", CallID: callID,
		Flow: string(flow.Setup), Step: 29, Peer: l.nameOf(to),
	})
}
