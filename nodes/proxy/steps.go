package proxy

import (
	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
)

// Side is which of FLOW.md's two proxies this one plays for a call.
type Side int

// SIP1 serves the caller (originating), SIP2 the callee (terminating).
const (
	Originating Side = iota + 1
	Terminating
)

// String is the side as Session.Side spells it.
func (s Side) String() string {
	if s == Terminating {
		return "terminating"
	}
	return "originating"
}

// stepKey names one message as this proxy sees it.
type stepKey struct {
	side Side
	dir  string // nodes.Sent or nodes.Received
	what string // "INVITE", "180", "200", "ACK", "REQ AAA", "DEC AAA", ...
}

// setupSteps maps the messages of FIG. 5 to their step numbers.
var setupSteps = map[stepKey]int{
	{Originating, nodes.Received, "INVITE"}:  1,
	{Originating, nodes.Sent, "REQ AAA"}:     2,
	{Originating, nodes.Received, "DEC AAA"}: 5,
	{Originating, nodes.Sent, "INVITE"}:      6,
	{Terminating, nodes.Received, "INVITE"}:  6,
	{Terminating, nodes.Sent, "REQ AAA"}:     7,
	{Terminating, nodes.Received, "DEC AAA"}: 10,
	{Terminating, nodes.Sent, "INVITE"}:      11,
	{Terminating, nodes.Received, "180"}:     12,
	{Terminating, nodes.Sent, "REQ LDP"}:     13,
	{Terminating, nodes.Received, "DEC LDP"}: 16,
	{Terminating, nodes.Sent, "180"}:         17,
	{Originating, nodes.Received, "180"}:     17,
	{Originating, nodes.Sent, "REQ LDP"}:     18,
	{Originating, nodes.Received, "DEC LDP"}: 21,
	{Originating, nodes.Sent, "180"}:         22,
	{Terminating, nodes.Received, "200"}:     23,
	{Terminating, nodes.Sent, "200"}:         24,
	{Originating, nodes.Received, "200"}:     24,
	{Originating, nodes.Sent, "200"}:         25,
	{Originating, nodes.Received, "ACK"}:     26,
	{Originating, nodes.Sent, "ACK"}:         27,
	{Terminating, nodes.Received, "ACK"}:     27,
	{Terminating, nodes.Sent, "ACK"}:         28,
}

// teardownSteps maps FIG. 6 with the caller hanging up. When the callee
// hangs up the BYE and its 200 run the other way: stepOf flips them.
var teardownSteps = map[stepKey]int{
	{Originating, nodes.Received, "BYE"}:       1,
	{Originating, nodes.Sent, "BYE"}:           2,
	{Terminating, nodes.Received, "BYE"}:       2,
	{Terminating, nodes.Sent, "BYE"}:           3,
	{Originating, nodes.Sent, "REQ noLDP"}:     4,
	{Originating, nodes.Received, "DEC noLDP"}: 7,
	{Terminating, nodes.Received, "BYE 200"}:   10,
	{Terminating, nodes.Sent, "BYE 200"}:       11,
	{Originating, nodes.Received, "BYE 200"}:   11,
	{Originating, nodes.Sent, "BYE 200"}:       12,
	{Terminating, nodes.Sent, "REQ noLDP"}:     13,
	{Terminating, nodes.Received, "DEC noLDP"}: 16,
}

// stepOf returns the FLOW.md phase and step of a message ("" and 0 when it
// is not one of the patent's). byCallee flips the BYE chain.
func stepOf(side Side, dir, what string, byCallee bool) (string, int) {
	if n, ok := setupSteps[stepKey{side, dir, what}]; ok {
		return string(flow.Setup), n
	}
	if byCallee && (what == "BYE" || what == "BYE 200") {
		// The callee's BYE and its 200 keep the numbers of the hops they
		// cross (as nodes/ua logs them): the same hops, the other way.
		if dir == nodes.Sent {
			dir = nodes.Received
		} else {
			dir = nodes.Sent
		}
	}
	if n, ok := teardownSteps[stepKey{side, dir, what}]; ok {
		return string(flow.Teardown), n
	}
	return "", 0
}
