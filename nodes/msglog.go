package nodes

import (
	"context"
	"log/slog"
)

// Direction of a logged protocol message.
const (
	Sent     = "tx"
	Received = "rx"
)

// Message is one protocol message a node sent or received. Every node logs
// each one through LogMessage so that the e2e suites can hold node logs
// against the captures: same call, same step, same order.
type Message struct {
	Dir    string // Sent or Received
	Proto  string // "sip", "cops", "osp", "rtp"
	What   string // e.g. "INVITE", "REQ AAA", "DEC Gate-Set", "AuthorizationRequest"
	CallID string // SIP Call-ID the message belongs to ("" if none)
	Flow   string // "setup" or "teardown" ("" if not part of a FLOW.md sequence)
	Step   int    // FLOW.md step number (0 if none)
	Peer   string // node name of the other end
}

// LogMessage writes m as one structured log line with message "msg".
func LogMessage(log *slog.Logger, m Message) {
	log.LogAttrs(context.Background(), slog.LevelInfo, "msg",
		slog.String("dir", m.Dir),
		slog.String("proto", m.Proto),
		slog.String("what", m.What),
		slog.String("call", m.CallID),
		slog.String("flow", m.Flow),
		slog.Int("step", m.Step),
		slog.String("peer", m.Peer),
	)
}
