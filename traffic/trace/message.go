package trace

import (
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
	// TLS is set for a message read from inside TLS (decrypted with the
	// session's secrets from a key log).
	TLS bool `json:"tls,omitempty"`

	sip  *sipInfo
	cops *copsInfo
	osp  *ospInfo
	call *Call // the call it belongs to, while that call is open
	// fromRole and toRole are the docs/FLOW.md roles of From and To.
	fromRole, toRole string
	// sights are its sightings until the report asks for Seen (only the
	// calls a report details need them): three links in place, the rest
	// beyond.
	sights [3]sight
	more   []sight
	nsight int
}

// sight is a Sighting with its link as an index: what the analyzer keeps.
type sight struct {
	time int64
	no   int
	link uint16
	dscp uint8
}

func (m *Message) addSight(s sight) {
	if m.nsight < len(m.sights) {
		m.sights[m.nsight] = s
	} else {
		m.more = append(m.more, s)
	}
	m.nsight++
}

// fillSeen sets Seen from the sightings kept.
func (m *Message) fillSeen(links []string) {
	m.Seen = make([]Sighting, 0, m.nsight)
	for i := 0; i < m.nsight; i++ {
		var s sight
		if i < len(m.sights) {
			s = m.sights[i]
		} else {
			s = m.more[i-len(m.sights)]
		}
		m.Seen = append(m.Seen, Sighting{No: s.no, Link: links[s.link], Time: s.time, DSCP: s.dscp})
	}
}

// Label names the message in reports and ladders: "6 INVITE".
func (m *Message) Label() string {
	if m.Step == 0 {
		return m.What
	}
	return strconv.Itoa(m.Step) + " " + m.What
}
