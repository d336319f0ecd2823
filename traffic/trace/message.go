package trace

import (
	"hash/maphash"
	"strconv"

	"github.com/qoslab/qoslab/flow"
)

// Sighting is one observation of a packet on one link.
type Sighting struct {
	No   int    `json:"packet"` // packet number in the merged capture, from 1
	Link string `json:"link"`
	Time int64  `json:"time_ns"`
	DSCP uint8  `json:"dscp"`
}

// Before orders sightings by capture timestamp, then by packet number.
// Timestamps decide: the merged capture is written by one goroutine per
// link as packets arrive, so its order across links can lag by the
// scheduling of those goroutines while the kernel's timestamps do not.
func (s Sighting) Before(o Sighting) bool {
	if s.Time != o.Time {
		return s.Time < o.Time
	}
	return s.No < o.No
}

// Message is one protocol message (SIP, COPS or OSP). The same message
// crosses several links (a SIP INVITE from SIP1 to SIP2 is seen on r1-sip1,
// r1-r2 and r2-sip2): it is one Message with one Sighting per link, and
// First is the earliest, on the sender's access link.
type Message struct {
	Proto  string     `json:"proto"` // "sip", "cops" or "osp"
	What   string     `json:"what"`  // e.g. "INVITE", "200 BYE", "REQ AAA", "DEC Gate-Set", "AuthorizationRequest"
	Kind   flow.Kind  `json:"kind,omitempty"`
	CallID string     `json:"call_id,omitempty"`
	From   string     `json:"from"` // node names
	To     string     `json:"to"`
	Phase  flow.Phase `json:"phase,omitempty"`
	Step   int        `json:"step,omitempty"` // docs/FLOW.md step, 0 when the message has none
	Tuple  Tuple      `json:"tuple"`
	First  Sighting   `json:"first"`
	Seen   []Sighting `json:"seen"`

	sip  *sipInfo
	cops *copsInfo
	osp  *ospInfo
}

// Label names the message in reports and ladders: "6 INVITE".
func (m *Message) Label() string {
	if m.Step == 0 {
		return m.What
	}
	return strconv.Itoa(m.Step) + " " + m.What
}

// msgKey identifies a message across links: the same 5-tuple, the same
// TCP sequence number (0 for UDP) and the same bytes.
type msgKey struct {
	Tuple
	Seq  uint32
	Hash uint64
}

var hashSeed = maphash.MakeSeed()

func keyOf(t Tuple, seq uint32, data []byte) msgKey {
	return msgKey{Tuple: t, Seq: seq, Hash: maphash.Bytes(hashSeed, data)}
}
