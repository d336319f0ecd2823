package router

import (
	"context"
	"log/slog"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/protocol/cops"
)

// stepOf is the step of a gate message at this router (docs/FLOW.md): a
// command its policy server sends it, or the reply it sends back. An
// error reply stands at the step of the Ack it replaces. The gate steps
// are the same in every variant.
func stepOf(side flow.Side, c cops.GateCommand) (flow.Step, bool) {
	me, pol := side.Router(), side.PolicyServer()
	if me == "" {
		return flow.Step{}, false
	}
	switch c {
	case cops.GateSet:
		return flow.Lookup(flow.Setup, 0, flow.Msg{Kind: flow.GateSet, From: pol, To: me})
	case cops.GateSetAck, cops.GateSetErr:
		return flow.Lookup(flow.Setup, 0, flow.Msg{Kind: flow.GateSetAck, From: me, To: pol})
	case cops.GateDelete:
		return flow.Lookup(flow.Teardown, 0, flow.Msg{Kind: flow.GateDelete, From: pol, To: me})
	case cops.GateDeleteAck, cops.GateDeleteErr:
		return flow.Lookup(flow.Teardown, 0, flow.Msg{Kind: flow.GateDeleteAck, From: me, To: pol})
	}
	return flow.Step{}, false
}

// whatOf names a gate message as the logs do: "DEC Gate-Set",
// "RPT Gate-Set-Ack", "RPT Gate-Delete-Err".
func whatOf(c cops.GateCommand) string {
	if c.IsRequest() {
		return "DEC " + c.String()
	}
	return "RPT " + c.String()
}

// logGate logs one gate message received or sent.
func logGate(log *slog.Logger, dir string, side flow.Side, peer, call string, p *cops.PCMM) {
	s, _ := stepOf(side, p.Command)
	nodes.LogMessage(log, nodes.Message{
		Dir: dir, Proto: "cops", What: whatOf(p.Command), CallID: call,
		Flow: string(s.Phase), Step: s.N, Peer: peer,
	})
}

// copsHandler is the gate command handler the COPS connection calls: it
// logs the command, runs it and logs the reply that the connection sends
// next. A refused command is also logged with its reason.
func copsHandler(p *pep, log *slog.Logger, side flow.Side, peer string) func(context.Context, *cops.PCMM) cops.PCMM {
	return func(_ context.Context, cmd *cops.PCMM) cops.PCMM {
		// The call is looked up before the command runs: a Gate-Delete
		// forgets its gate's call.
		call := p.callOf(cmd)
		logGate(log, nodes.Received, side, peer, call, cmd)
		reply, err := p.handle(cmd)
		if err != nil {
			log.Warn("gate command refused", "command", cmd.String(), "reply", reply.String(), "err", err)
		} else {
			log.Info("gate command done", "command", cmd.String(), "reply", reply.String())
		}
		logGate(log, nodes.Sent, side, peer, call, &reply)
		p.forgetCall(cmd, &reply)
		return reply
	}
}
