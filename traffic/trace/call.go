package trace

import (
	"net/netip"

	"github.com/qoslab/qoslab/flow"
)

// Call is one call rebuilt from the capture: every message that belongs to
// it (by SIP Call-ID, by the COPS session information and handle, by the
// PCMM gate's classifier, transaction and gate id, by the OSP CallId), the
// media endpoints its SDP announced and a tally of its media packets.
type Call struct {
	ID       string
	Messages []*Message // in first-sighting order once judged
	// Offer is the caller's (UAC's) media address from the INVITE's SDP;
	// Answer the callee's (UAS's), from the 18x or 200.
	Offer, Answer netip.AddrPort
	// CalleeHangsUp is set when the first BYE came from the UAS side.
	CalleeHangsUp bool
	byeSeen       bool
	// refused and answered record final responses to the INVITE: the ACK
	// of a refusal is hop by hop and is not docs/FLOW.md's step 26-28.
	refused, answered bool
	invite            bool // an INVITE was seen: this dialog is a call

	// Media endpoints each side announced (the first offer and answer,
	// and those of later offers, such as a re-INVITE's).
	uacEPs, uasEPs []endpoint
	// gates are R1's (what the UAC sends) and R2's (what the UAS sends).
	gates [2]gateLife
	tally mediaTally

	verdict   *verdict // set once its signalling is judged
	last      int64    // capture time of the newest message or media packet
	checkedAt int      // len(Messages) when completeness was last checked
	// keys this call holds in the COPS tables, removed when it is judged.
	handles []handleKey
	trans   []transKey
	gateIDs []gateKey
}

// endpoints lists every media endpoint the call announced.
func (c *Call) endpoints() []endpoint {
	return append(append([]endpoint(nil), c.uacEPs...), c.uasEPs...)
}

func (c *Call) hasEndpoint(ep endpoint) bool {
	for _, e := range c.uacEPs {
		if e == ep {
			return true
		}
	}
	for _, e := range c.uasEPs {
		if e == ep {
			return true
		}
	}
	return false
}

// dirOf tells which way a media packet of this call goes.
func (c *Call) dirOf(r *mediaRec) uint8 {
	for _, e := range c.uasEPs {
		if r.src == e {
			return dirUAStoUAC
		}
	}
	for _, e := range c.uacEPs {
		if r.dst == e {
			return dirUAStoUAC
		}
	}
	return dirUACtoUAS
}

// add takes a message into the call and follows its gates.
func (c *Call) add(m *Message, gates *gateTable) {
	c.Messages = append(c.Messages, m)
	c.last = max(c.last, m.First.Time)
	c.follow(m, gates)
}

// follow records a gate message labelled with its docs/FLOW.md step (gates
// says which steps each gate's are).
func (c *Call) follow(m *Message, gates *gateTable) {
	for dir := range gates {
		g, life := &gates[dir], &c.gates[dir]
		var slot **Message
		switch {
		case m.Phase == flow.Setup && m.Step == g.Set:
			slot = &life.set
		case m.Phase == flow.Setup && m.Step == g.Installed:
			slot = &life.ack
		case m.Phase == flow.Teardown && m.Step == g.Delete:
			slot = &life.del
		case m.Phase == flow.Teardown && m.Step == g.Removed:
			slot = &life.delAck
		default:
			continue
		}
		if *slot == nil || m.First.Before((*slot).First) {
			*slot = m
		}
	}
}

// announce records a media endpoint of one side.
func (c *Call) announce(ep endpoint, uasSide bool) bool {
	if c.hasEndpoint(ep) {
		return false
	}
	if uasSide {
		c.uasEPs = append(c.uasEPs, ep)
	} else {
		c.uacEPs = append(c.uacEPs, ep)
	}
	return true
}
