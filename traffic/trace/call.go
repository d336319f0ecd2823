package trace

import (
	"net/netip"
	"sort"
)

// Call is one call rebuilt from the capture: every message that belongs to
// it (by SIP Call-ID, by the COPS session information and handle, by the
// PCMM gate's classifier, transaction and gate id, by the OSP CallId), the
// media endpoints its SDP announced and the media packets seen for it.
type Call struct {
	ID       string
	Messages []*Message // in first-sighting order
	// Offer is the caller's (UAC's) media address from the INVITE's SDP;
	// Answer the callee's (UAS's), from the 18x or 200.
	Offer, Answer netip.AddrPort
	// CalleeHangsUp is set when the first BYE came from the UAS side.
	CalleeHangsUp bool
	byeSeen       bool
	// refused and answered record final responses to the INVITE: the ACK
	// of a refusal is hop by hop and is not docs/FLOW.md's step 26-28.
	refused, answered bool

	media []mediaPacket // assigned after the pass
}

func (c *Call) add(m *Message) { c.Messages = append(c.Messages, m) }

// start is when the call's first message was seen.
func (c *Call) start() Sighting {
	if len(c.Messages) == 0 {
		return Sighting{}
	}
	return c.Messages[0].First
}

// callIndex finds calls by id and by media endpoint.
type callIndex struct {
	byID  map[string]*Call
	order []*Call
	media map[netip.AddrPort][]*Call // in the order the SDP announced them
}

func newCallIndex() *callIndex {
	return &callIndex{byID: map[string]*Call{}, media: map[netip.AddrPort][]*Call{}}
}

func (x *callIndex) get(id string) *Call {
	c, ok := x.byID[id]
	if !ok {
		c = &Call{ID: id}
		x.byID[id] = c
		x.order = append(x.order, c)
	}
	return c
}

func (x *callIndex) byMedia(ap netip.AddrPort, c *Call) {
	x.media[ap] = append(x.media[ap], c)
}

// atMedia returns the call that owned a media endpoint at sighting s: the
// last call announcing it before s. Media ports are reused by later calls,
// and probes sent after a call ended still belong to it.
func (x *callIndex) atMedia(ap netip.AddrPort, s Sighting) *Call {
	cs := x.media[ap]
	i := sort.Search(len(cs), func(i int) bool { return s.Before(cs[i].start()) })
	if i == 0 {
		return nil
	}
	return cs[i-1]
}

// assignMedia gives every media packet to the call whose SDP announced
// its source or destination.
func (x *callIndex) assignMedia(pkts []mediaPacket) (orphans []mediaPacket) {
	for _, p := range pkts {
		c := x.atMedia(p.Src, p.Sighting)
		if c == nil {
			c = x.atMedia(p.Dst, p.Sighting)
		}
		if c == nil {
			orphans = append(orphans, p)
			continue
		}
		c.media = append(c.media, p)
	}
	return orphans
}
