package ua

import (
	"log/slog"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
)

// sipLog logs every SIP message a UA sends or receives with its step in
// package flow, so the e2e suites can hold node logs against captures.
type sipLog struct {
	log    *slog.Logger
	role   string // flow.UAC or flow.UAS
	nameOf func(addr string) string
}

// noStep names a message of no table (an error response).
var noStep flow.Ref

// byCallee is the variant of a teardown the UAS started: the BYE and its
// 200 keep the numbers of the hops they cross, the other way.
var byCallee = flow.CalleeHangsUp

func (l sipLog) msg(dir, what, callID string, at flow.Ref, peer string) {
	s, _ := at.StepAt(l.role, dir == nodes.Sent)
	nodes.LogMessage(l.log, nodes.Message{
		Dir: dir, Proto: "sip", What: what, CallID: callID,
		Flow: string(s.Phase), Step: s.N, Peer: l.nameOf(peer),
	})
}

// mediaStart logs the start of this side's RTP stream once, not per
// packet.
func (l sipLog) mediaStart(callID string, to string) {
	s, _ := flow.InSetup(flow.RTPMedia).StepAt(l.role, true)
	nodes.LogMessage(l.log, nodes.Message{
		Dir: nodes.Sent, Proto: "rtp", What: "RTP", CallID: callID,
		Flow: string(s.Phase), Step: s.N, Peer: l.nameOf(to),
	})
}
