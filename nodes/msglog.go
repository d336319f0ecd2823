package nodes

import (
	"context"
	"encoding/json"
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
// The JSON names are the keys LogMessage writes.
type Message struct {
	Dir    string `json:"dir"`   // Sent or Received
	Proto  string `json:"proto"` // "sip", "cops", "osp", "rtp"
	What   string `json:"what"`  // e.g. "INVITE", "REQ AAA", "DEC Gate-Set", "AuthorizationRequest"
	CallID string `json:"call"`  // SIP Call-ID the message belongs to ("" if none)
	Flow   string `json:"flow"`  // "setup" or "teardown" ("" if not part of a docs/FLOW.md sequence)
	Step   int    `json:"step"`  // docs/FLOW.md step number (0 if none)
	Peer   string `json:"peer"`  // node name of the other end
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

// ParseMessage reads back one line LogMessage wrote through a JSON slog
// handler; ok is false for any other line (other records, text).
func ParseMessage(line []byte) (m Message, ok bool) {
	var rec struct {
		Msg string `json:"msg"`
		Message
	}
	if json.Unmarshal(line, &rec) != nil || rec.Msg != "msg" {
		return Message{}, false
	}
	return rec.Message, true
}
