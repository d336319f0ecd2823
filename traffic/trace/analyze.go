package trace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/pion/rtp"
)

// Well-known ports of the lab's legs (docs/FLOW.md, docs/CONTRACTS.md).
const (
	PortSIP        = 5060
	PortCOPS       = 3288 // SIP proxy <-> policy server, client-type 0x5153
	PortPCMM       = 3918 // policy server <-> router, client-type 0x800A
	PortOSP        = 1080 // policy server <-> clearinghouse, HTTP
	ctxCheckFrames = 4096 // how often the read loop looks at its context
)

// Problem is input the verifier could not decode: a malformed message or
// a TCP stream it could not follow. Problems are failures: a lab writes
// well-formed traffic, and what cannot be decoded cannot be verified.
type Problem struct {
	Sighting
	Proto  string `json:"proto"`
	CallID string `json:"call_id,omitempty"` // when the message still said it
	Err    string `json:"error"`
}

// mediaPacket is one UDP packet that is not SIP, seen on one link: a
// candidate RTP packet of some call, or a probe, or stolen service.
type mediaPacket struct {
	Tuple
	Sighting
	RTP bool // parses as RTP version 2
}

type streamKey struct {
	link string
	Tuple
}

// analyzer is one pass over a capture. It is single-threaded; the phases
// after the pass (media assignment, checks) read what it built.
type analyzer struct {
	topo     *Topology
	dec      *decoder
	streams  map[streamKey]*stream
	msgs     map[msgKey]*Message
	bad      map[msgKey]int // messages that did not decode, by index in problems
	list     []*Message     // in first-sighting order
	media    []mediaPacket
	problems []Problem
	frames   int
	cut      *CutError // the capture ends inside a block
	calls    *callIndex
	cops     copsState
	osp      ospState
}

func newAnalyzer(t *Topology) *analyzer {
	return &analyzer{
		topo:    t,
		dec:     newDecoder(),
		streams: map[streamKey]*stream{},
		msgs:    map[msgKey]*Message{},
		bad:     map[msgKey]int{},
		calls:   newCallIndex(),
		cops:    newCOPSState(),
		osp:     newOSPState(),
	}
}

// run reads every frame of src.
func (a *analyzer) run(ctx context.Context, src frameSource) error {
	for {
		f, err := src.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		a.frames++
		f.No = a.frames
		if a.frames%ctxCheckFrames == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("trace: %w", err)
			}
		}
		pk, ok := a.dec.decode(f)
		if !ok {
			continue
		}
		if pk.Proto == protoUDP {
			a.udp(pk)
		} else {
			a.tcp(pk)
		}
	}
}

func (a *analyzer) sighting(pk packet) Sighting {
	return Sighting{No: pk.No, Link: pk.Link, Time: pk.Time, DSCP: pk.DSCP}
}

func (a *analyzer) problem(pk packet, proto string, err error) {
	a.problems = append(a.problems, Problem{Sighting: a.sighting(pk), Proto: proto, Err: err.Error()})
}

func looksLikeSIP(b []byte) bool {
	line := b
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		line = b[:i]
	}
	return bytes.HasPrefix(line, []byte("SIP/2.0 ")) || bytes.HasSuffix(bytes.TrimRight(line, "\r"), []byte(" SIP/2.0"))
}

func (a *analyzer) udp(pk packet) {
	if pk.Src.Port() == PortSIP || pk.Dst.Port() == PortSIP || looksLikeSIP(pk.Payload) {
		if len(skipCRLFOnly(pk.Payload)) == 0 {
			return // keep-alive
		}
		a.message(pk, "sip", 0, pk.Payload)
		return
	}
	a.media = append(a.media, mediaPacket{Tuple: pk.Tuple, Sighting: a.sighting(pk), RTP: isRTP(pk.Payload)})
}

func skipCRLFOnly(b []byte) []byte { return b[skipCRLF(b):] }

func (a *analyzer) tcp(pk packet) {
	var proto string
	var fr framer
	switch {
	case pk.Src.Port() == PortCOPS || pk.Dst.Port() == PortCOPS, pk.Src.Port() == PortPCMM || pk.Dst.Port() == PortPCMM:
		proto, fr = "cops", frameCOPS
	case pk.Src.Port() == PortOSP || pk.Dst.Port() == PortOSP:
		proto, fr = "osp", frameText
	case pk.Src.Port() == PortSIP || pk.Dst.Port() == PortSIP:
		proto, fr = "sip", frameText
	default:
		return
	}
	k := streamKey{pk.Link, pk.Tuple}
	s, ok := a.streams[k]
	if !ok {
		s = newStream(fr)
		a.streams[k] = s
	}
	msgs, err := s.add(pk)
	a.emit(proto, msgs, err, pk)
	if pk.ACK {
		// What this side acknowledges tells the other direction which of
		// its holes the capture lost.
		rk := streamKey{pk.Link, Tuple{Src: pk.Dst, Dst: pk.Src, Proto: protoTCP}}
		if rs, ok := a.streams[rk]; ok {
			rs.acked(pk.Ack)
			msgs, err := rs.skipLost(pk)
			a.emit(proto, msgs, err, pk)
		}
	}
	if pk.FIN || pk.RST {
		delete(a.streams, k)
	}
}

func (a *analyzer) emit(proto string, msgs []tcpMessage, err error, pk packet) {
	for _, m := range msgs {
		if len(skipCRLFOnly(m.Data)) == 0 {
			continue
		}
		a.message(m.pk, proto, m.Seq, m.Data)
	}
	if err != nil {
		a.problem(pk, proto, err)
	}
}

// message records one sighting of a message; the first sighting decodes
// it, gives it to its protocol's state and to its call.
func (a *analyzer) message(pk packet, proto string, seq uint32, data []byte) {
	k := keyOf(pk.Tuple, seq, data)
	if i, ok := a.bad[k]; ok {
		// Another sighting of a message that did not decode: one problem,
		// located at the earliest sighting.
		if s := a.sighting(pk); s.Before(a.problems[i].Sighting) {
			a.problems[i].Sighting = s
		}
		return
	}
	if m, ok := a.msgs[k]; ok {
		s := a.sighting(pk)
		m.Seen = append(m.Seen, s)
		if s.Before(m.First) {
			m.First = s
		}
		return
	}
	m := &Message{
		Proto: proto, Tuple: pk.Tuple, First: a.sighting(pk),
		From: a.topo.Name(pk.Src.Addr()), To: a.topo.Name(pk.Dst.Addr()),
	}
	m.Seen = []Sighting{m.First}
	var err error
	switch proto {
	case "sip":
		err = a.onSIP(m, data)
	case "cops":
		err = a.onCOPS(m, data)
	case "osp":
		err = a.onOSP(m, data)
	}
	if err != nil {
		a.bad[k] = len(a.problems)
		a.problem(pk, proto, err)
		a.problems[len(a.problems)-1].CallID = m.CallID
		return
	}
	a.msgs[k] = m
	a.list = append(a.list, m)
	var c *Call
	if m.CallID != "" {
		c = a.calls.get(m.CallID)
		c.add(m)
	}
	a.label(m, c)
}

func (a *analyzer) onSIP(m *Message, data []byte) error {
	s, err := parseSIP(data)
	if err != nil {
		m.CallID = s.CallID
		return err
	}
	m.sip = &s
	m.What, m.Kind, m.CallID = s.what(), s.kind(), s.CallID
	if s.CSeqMethod == "REGISTER" {
		// A registration (RFC 3261 section 10) is no call: its Call-ID
		// names the UA's binding, which every refresh reuses.
		m.CallID = ""
		return nil
	}
	if s.Media.IsValid() {
		c := a.calls.get(s.CallID)
		switch {
		case s.Method == "INVITE" && !c.Offer.IsValid():
			c.Offer = s.Media
			a.calls.byMedia(s.Media, c)
		case s.Status >= 180 && s.Status < 300 && !c.Answer.IsValid():
			c.Answer = s.Media
			a.calls.byMedia(s.Media, c)
		}
	}
	return nil
}

// isRTP tells whether b parses as an RTP packet (RFC 3550 version 2).
func isRTP(b []byte) bool {
	if len(b) < 12 || b[0]>>6 != 2 {
		return false
	}
	var h rtp.Header
	_, err := h.Unmarshal(b)
	return err == nil
}

// addrRole is the docs/FLOW.md role of the node owning an address port.
func (a *analyzer) addrRole(ap netip.AddrPort) string { return a.topo.Role(ap.Addr()) }

// roleOf is the docs/FLOW.md role of a message's sender (from) or receiver.
func (a *analyzer) roleOf(m *Message, from bool) string {
	if from {
		return a.addrRole(m.Tuple.Src)
	}
	return a.addrRole(m.Tuple.Dst)
}
