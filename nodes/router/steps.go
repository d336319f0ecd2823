package router

import (
	"context"
	"log/slog"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/protocol/cops"
)

// flowKindOf is the FLOW.md message kind of a gate command as it crosses
// the wire: requests travel in a DEC, replies in an RPT. Errors share the
// step of the Ack they replace.
func flowKindOf(c cops.GateCommand) (flow.Kind, bool) {
	switch c {
	case cops.GateSet:
		return flow.GateSet, true
	case cops.GateSetAck, cops.GateSetErr:
		return flow.GateSetAck, true
	case cops.GateDelete:
		return flow.GateDelete, true
	case cops.GateDeleteAck, cops.GateDeleteErr:
		return flow.GateDeleteAck, true
	}
	return "", false
}

// labelOf finds the FLOW.md phase and step of a gate message at this
// router: the step of that kind whose sender or receiver is R1 (the
// originating side) or R2 (the terminating side).
func labelOf(side Side, c cops.GateCommand) (flow.Phase, int) {
	kind, ok := flowKindOf(c)
	if !ok {
		return "", 0
	}
	me := flow.R1
	switch side {
	case SideTerminating:
		me = flow.R2
	case SideOriginating:
	default:
		return "", 0
	}
	for _, steps := range [][]flow.Step{flow.SetupSteps, flow.TeardownSteps} {
		for _, s := range steps {
			if s.Kind == kind && (s.From == me || s.To == me) {
				return s.Phase, s.N
			}
		}
	}
	return "", 0
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
func logGate(log *slog.Logger, dir string, side Side, peer, call string, p *cops.PCMM) {
	phase, step := labelOf(side, p.Command)
	nodes.LogMessage(log, nodes.Message{
		Dir: dir, Proto: "cops", What: whatOf(p.Command), CallID: call,
		Flow: string(phase), Step: step, Peer: peer,
	})
}

// copsHandler is the gate command handler the COPS connection calls: it
// logs the command, runs it and logs the reply that the connection sends
// next. A refused command is also logged with its reason.
func copsHandler(p *pep, log *slog.Logger, side Side, peer string) func(context.Context, *cops.PCMM) cops.PCMM {
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
