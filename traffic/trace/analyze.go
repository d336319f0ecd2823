package trace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/netip"
)

// Well-known ports of the lab's legs (docs/FLOW.md, docs/CONTRACTS.md).
const (
	PortSIP        = 5060
	PortCOPS       = 3288 // SIP proxy <-> policy server, client-type 0x5153
	PortPCMM       = 3918 // policy server <-> router, client-type 0x800A
	PortOSP        = 1080 // policy server <-> clearinghouse, HTTP (or HTTP in TLS)
	ctxCheckFrames = 4096 // how often the read loop looks at its context
)

// Capture-time horizons of the single pass. Memory is bounded by what is
// open within them, not by the size of the file.
const (
	sweepEvery   = int64(100e6) // between sweeps of the open state
	dedupeWindow = int64(1e9)   // sightings of one message on several links (and early SIP retransmissions) merge within this
	settle       = int64(1e9)   // a call whose every step is in has its signalling judged once quiet this long (later sightings are in)
	doneLinger   = int64(2e9)   // and its media once quiet this long (the probes after its teardown come within it)
	idleLimit    = int64(300e9) // any call quiet this long is judged as it is
	streamIdle   = int64(600e9) // a TCP stream quiet this long is forgotten
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

// streamKey names one direction of a TCP connection on one link.
type streamKey struct {
	link     uint16
	src, dst endpoint
}

// msgKey identifies a message across links: the same endpoints, the same
// TCP sequence number (0 for UDP) and the same bytes.
type msgKey struct {
	src, dst endpoint
	proto    uint8
	seq, n   uint32
	hash     uint64
}

// msgEntry is a message seen recently: decoded, or a problem (index into
// the problems) when it did not decode.
type msgEntry struct {
	m   *Message
	bad int
}

type msgAge struct {
	k    uint64
	time int64
}

// analyzer is one pass over a capture. It is single-threaded and reads the
// file once: calls are judged as soon as they are over, and only what is
// still open is kept.
type analyzer struct {
	topo    *Topology
	opts    Options
	rep     *Report
	dec     *decoder
	links   []string // interned link names; a packet carries an index
	core    int      // index of the core link, -1 when absent
	streams map[streamKey]*stream
	tcpOut  []tcpMessage
	msgs    map[uint64]msgEntry // by the hash of a msgKey
	ages    ring[msgAge]        // msgs keys in arrival order, for eviction
	seed    maphash.Seed
	calls   map[string]*Call // open calls
	media   ring[mediaRec]
	owners  *mediaIndex
	thefts  map[Tuple]*theft
	nodes   map[[16]byte]nodeInfo // by address
	cops    copsState
	copsDec copsDecoder
	osp     ospState
	memo    orderMemo
	// gateSteps are the steps of each direction's gate (flow.Gates).
	gateSteps gateTable
	logs      *logCheck

	// TLS on the OSP leg: the key logs, the sessions by link, and which
	// sessions (by client random) were decrypted or reported unreadable.
	keys         *keyLog
	tlsSessions  map[tlsKey]*tlsSession
	tlsDecrypted map[[32]byte]bool
	tlsReported  map[[32]byte]bool
	tlsFailures  []Failure

	frames     int
	messages   int
	ospSeen    int      // OSP messages (or TLS sessions to the clearinghouse) seen
	firstOSP   *Message // the first OSP message, for the no-clearinghouse check
	now        int64    // newest frame timestamp
	nextSweep  int64
	nextStream int64
	cut        *CutError
	pk         packet
}

func newAnalyzer(t *Topology, opts Options) *analyzer {
	a := &analyzer{
		topo:    t,
		opts:    opts,
		rep:     &Report{Core: t.Core},
		dec:     newDecoder(),
		core:    -1,
		streams: map[streamKey]*stream{},
		msgs:    map[uint64]msgEntry{},
		seed:    maphash.MakeSeed(),
		calls:   map[string]*Call{},
		owners:  newMediaIndex(),
		thefts:  map[Tuple]*theft{},
		nodes:   map[[16]byte]nodeInfo{},

		keys:         newKeyLog(),
		tlsSessions:  map[tlsKey]*tlsSession{},
		tlsDecrypted: map[[32]byte]bool{},
		tlsReported:  map[[32]byte]bool{},
		cops:         newCOPSState(),
		osp:          newOSPState(),
		gateSteps:    newGateTable(),
		memo:         orderMemo{},
	}
	if len(opts.Logs) > 0 {
		a.logs = newLogCheck(opts.Logs)
	}
	return a
}

// linkID interns a link name. Frames of one reader share the name's
// storage, so the comparison is a pointer check in the common case.
func (a *analyzer) linkID(name string) uint16 {
	for i, l := range a.links {
		if l == name {
			return uint16(i)
		}
	}
	a.links = append(a.links, name)
	if name == a.topo.Core {
		a.core = len(a.links) - 1
	}
	return uint16(len(a.links) - 1)
}

// run reads every frame of src. A cut capture ends the pass like the end
// of the file; the cut is kept for the report.
func (a *analyzer) run(ctx context.Context, src frameSource) error {
	for {
		f, err := src.next()
		if errors.Is(err, io.EOF) {
			break
		}
		var cut *CutError
		if errors.As(err, &cut) {
			a.cut = cut
			break
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
		if f.Time > a.now {
			a.now = f.Time
		}
		if a.now >= a.nextSweep {
			a.sweep(false)
			a.nextSweep = a.now + sweepEvery
		}
		link := a.linkID(f.Link)
		pk := &a.pk
		if !a.dec.decode(f, link, pk) {
			continue
		}
		if pk.proto == protoUDP {
			a.udp(pk, link)
		} else {
			a.tcp(pk, link)
		}
	}
	a.sweep(true)
	return nil
}

func (a *analyzer) sighting(link uint16, m segMeta) Sighting {
	return Sighting{No: m.no, Link: a.links[link], Time: m.time, DSCP: m.dscp}
}

func (a *analyzer) problem(s Sighting, proto, callID string, err error) int {
	a.rep.Problems = append(a.rep.Problems, Problem{Sighting: s, Proto: proto, CallID: callID, Err: err.Error()})
	return len(a.rep.Problems) - 1
}

func looksLikeSIP(b []byte) bool {
	line := b
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		line = b[:i]
	}
	return bytes.HasPrefix(line, []byte("SIP/2.0 ")) || bytes.HasSuffix(bytes.TrimRight(line, "\r"), []byte(" SIP/2.0"))
}

func (a *analyzer) udp(pk *packet, link uint16) {
	if pk.src.port == PortSIP || pk.dst.port == PortSIP || looksLikeSIP(pk.payload) {
		if len(skipCRLFOnly(pk.payload)) == 0 {
			return // keep-alive
		}
		a.message(link, pk.src, pk.dst, protoUDP, "sip", 0, pk.payload, metaOf(pk))
		return
	}
	a.media.push(mediaRec{time: pk.Time, no: pk.No, src: pk.src, dst: pk.dst, link: link, dscp: pk.dscp, rtp: isRTP(pk.payload)})
}

// appProto says which protocol a TCP connection carries, by its ports.
func appProto(pk *packet) string {
	has := func(p uint16) bool { return pk.src.port == p || pk.dst.port == p }
	switch {
	case has(PortCOPS), has(PortPCMM):
		return "cops"
	case has(PortOSP):
		return "osp"
	case has(PortSIP):
		return "sip"
	}
	return ""
}

func (a *analyzer) tcp(pk *packet, link uint16) {
	proto := appProto(pk)
	if proto == "" {
		return
	}
	k := streamKey{link, pk.src, pk.dst}
	s := a.streams[k]
	if s != nil && s.newConnection(pk) {
		// The 4-tuple is reused after FIN or RST: another connection.
		s = nil
	}
	if s == nil {
		s = newStream(a.framerFor(proto, k))
		a.streams[k] = s
	}
	out, err := s.add(pk, a.tcpOut[:0])
	a.emit(link, pk.src, pk.dst, proto, out, err, pk)
	if pk.hasAck() {
		// What this side acknowledges tells the other direction which of
		// its holes the capture lost.
		rk := streamKey{link, pk.dst, pk.src}
		if rs, ok := a.streams[rk]; ok {
			rs.acked(pk.ack)
			out, err := rs.skipLost(pk, a.tcpOut[:0])
			a.emit(link, pk.dst, pk.src, proto, out, err, pk)
		}
	}
	switch {
	case pk.rst():
		delete(a.streams, k)
		delete(a.streams, streamKey{link, pk.dst, pk.src})
	case pk.fin():
		delete(a.streams, k)
	}
}

// framerFor picks how a stream is cut into messages.
func (a *analyzer) framerFor(proto string, k streamKey) framer {
	switch proto {
	case "cops":
		return frameCOPS
	case "osp":
		return frameOSP
	}
	return frameText
}

// emit hands the messages a stream cut to message(), and reports what
// broke the stream or was lost.
func (a *analyzer) emit(link uint16, src, dst endpoint, proto string, msgs []tcpMessage, err error, pk *packet) {
	for _, m := range msgs {
		if proto == "osp" && looksLikeTLS(m.data) {
			a.tlsRecord(link, src, dst, m.data, m.meta)
			continue
		}
		if len(skipCRLFOnly(m.data)) == 0 {
			continue
		}
		a.message(link, src, dst, protoTCP, proto, m.seq, m.data, m.meta)
	}
	a.tcpOut = msgs[:0]
	if err != nil {
		t := Tuple{Src: src.addrPort(), Dst: dst.addrPort(), Proto: protoTCP}
		var hole *holeError
		if !errors.As(err, &hole) {
			err = fmt.Errorf("packet %d: %w", pk.No, err)
		}
		a.problem(a.sighting(link, metaOf(pk)), proto, "", fmt.Errorf("%s on %s: %w", t, a.links[link], err))
	}
}

// message records one sighting of a message; the first sighting decodes
// it, gives it to its protocol's state and to its call. data is borrowed.
func (a *analyzer) message(link uint16, src, dst endpoint, proto uint8, app string, seq uint32, data []byte, meta segMeta) {
	mk := msgKey{src: src, dst: dst, proto: proto, seq: seq, n: uint32(len(data))}
	if proto == protoUDP {
		// A TCP message is named by its place in the stream; a datagram
		// by its bytes.
		mk.hash = maphash.Bytes(a.seed, data)
	}
	k := maphash.Comparable(a.seed, mk)
	s := a.sighting(link, meta)
	if e, ok := a.msgs[k]; ok {
		if e.m == nil {
			// Another sighting of a message that did not decode: one
			// problem, located at the earliest sighting.
			if p := &a.rep.Problems[e.bad]; s.Before(p.Sighting) {
				p.Sighting = s
			}
			return
		}
		m := e.m
		m.addSight(sight{time: meta.time, no: meta.no, link: link, dscp: meta.dscp})
		if s.Before(m.First) {
			m.First = s
			if m.call != nil {
				m.call.follow(m, &a.gateSteps)
			}
		}
		if m.call != nil {
			m.call.last = max(m.call.last, s.Time)
		}
		return
	}
	a.ages.push(msgAge{k, meta.time})
	tuple := Tuple{Src: src.addrPort(), Dst: dst.addrPort(), Proto: proto &^ 0x80}
	from, to := a.node(src), a.node(dst)
	m := &Message{
		Proto: app, Tuple: tuple, First: s, TLS: proto == protoTLS,
		From: from.name, To: to.name, fromRole: from.role, toRole: to.role,
	}
	m.addSight(sight{time: meta.time, no: meta.no, link: link, dscp: meta.dscp})
	var err error
	switch app {
	case "sip":
		err = a.onSIP(m, data)
	case "cops":
		err = a.onCOPS(m, data)
	case "osp":
		err = a.onOSP(m, data)
	}
	if err != nil {
		a.msgs[k] = msgEntry{bad: a.problem(s, app, m.CallID, err)}
		return
	}
	a.msgs[k] = msgEntry{m: m}
	a.messages++
	if app == "osp" {
		a.ospSeen++
		if a.firstOSP == nil {
			a.firstOSP = m
		}
	}
	var c *Call
	if m.CallID != "" {
		c = a.call(m.CallID)
	}
	a.label(m, c)
	if c != nil {
		m.call = c
		c.add(m, &a.gateSteps)
	}
}

// call returns the open call with this id, or opens one.
func (a *analyzer) call(id string) *Call {
	c, ok := a.calls[id]
	if !ok {
		c = &Call{ID: id, last: a.now}
		a.calls[id] = c
	}
	return c
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
	if s.Method == "INVITE" {
		a.call(s.CallID).invite = true
	}
	if s.Media.IsValid() {
		c := a.call(s.CallID)
		uas := a.uasSide(m, s.Media)
		if c.announce(endpointOf(s.Media), uas) {
			a.owners.announce(endpointOf(s.Media), c, m.First)
		}
		switch {
		case uas && !c.Answer.IsValid():
			c.Answer = s.Media
		case !uas && !c.Offer.IsValid():
			c.Offer = s.Media
		}
	}
	return nil
}

// sideRank orders the roles from the caller's side to the callee's.
var sideRank = map[string]int{"UAC": 1, "SIP1": 2, "SIP2": 3, "UAS": 4}

// uasSide tells whose media endpoint an SDP announces: the callee's when
// its address is the UAS's, the caller's when it is the UAC's; otherwise
// the side the message comes from (an SDP travelling from the callee
// towards the caller is the callee's, whether it is in a 200, a 180 or in
// a re-INVITE of the callee).
func (a *analyzer) uasSide(m *Message, media netip.AddrPort) bool {
	switch a.node(endpointOf(media)).role {
	case "UAS":
		return true
	case "UAC":
		return false
	}
	from, to := sideRank[a.roleOf(m, true)], sideRank[a.roleOf(m, false)]
	if from == 0 || to == 0 {
		return m.sip.Method == "" // a response answers the offer
	}
	return from > to
}

// isRTP tells whether b looks like an RTP packet (RFC 3550 section 5.1:
// version 2, a header of 12 bytes plus its CSRCs).
func isRTP(b []byte) bool {
	return len(b) >= 12 && b[0]>>6 == 2 && len(b) >= 12+4*int(b[0]&0x0f)
}

// nodeInfo is what the topology says of an address.
type nodeInfo struct{ name, role string }

// node returns the node name and docs/FLOW.md role of an endpoint's address
// (the address itself as the name when no node owns it).
func (a *analyzer) node(e endpoint) nodeInfo {
	if n, ok := a.nodes[e.ip]; ok {
		return n
	}
	addr := e.addr()
	n := nodeInfo{a.topo.Name(addr), a.topo.Role(addr)}
	a.nodes[e.ip] = n
	return n
}

// roleOf is the docs/FLOW.md role of a message's sender (from) or receiver.
func (a *analyzer) roleOf(m *Message, from bool) string {
	if from {
		return m.fromRole
	}
	return m.toRole
}

// sweep judges the media packets that are old enough, forgets what is
// out of every window, and judges the calls that are over. final judges
// everything.
func (a *analyzer) sweep(final bool) {
	cutoff := a.now - mediaDelay
	for r := a.media.front(); r != nil && (final || r.time < cutoff); r = a.media.front() {
		a.judgeMedia(r)
		a.media.pop()
	}
	for g := a.ages.front(); g != nil && (final || g.time < a.now-dedupeWindow); g = a.ages.front() {
		delete(a.msgs, g.k)
		a.ages.pop()
	}
	a.dec.defrag.expire(a.now)
	if a.now >= a.nextStream {
		a.nextStream = a.now + streamIdle/10
		for k, s := range a.streams {
			if a.now-s.lastSeen > streamIdle {
				delete(a.streams, k)
			}
		}
	}
	a.rep.PeakOpenCalls = max(a.rep.PeakOpenCalls, len(a.calls))
	for _, c := range a.calls {
		idle := a.now - c.last
		switch {
		case !c.invite && (final || idle > doneLinger):
			a.drop(c) // an OPTIONS ping or a REGISTER: not a call
		case final || idle > idleLimit:
			if c.verdict == nil {
				a.judgeSignalling(c, final)
			}
			a.finalize(c)
		case c.verdict != nil:
			if idle > doneLinger {
				a.finalize(c)
			}
		case idle > settle && len(c.Messages) != c.checkedAt:
			c.checkedAt = len(c.Messages)
			if a.complete(c) {
				a.judgeSignalling(c, false)
			}
		}
	}
}

// judgeMedia gives one media packet to its call and counts it against the
// call's gate in its direction.
func (a *analyzer) judgeMedia(r *mediaRec) {
	at := r.sighting(a.links)
	c := a.owners.owner(r, at)
	if c == nil {
		if int(r.link) == a.core && r.dscp == DSCPEF {
			t := Tuple{Src: r.src.addrPort(), Dst: r.dst.addrPort(), Proto: protoUDP}
			th := a.thefts[t]
			if th == nil {
				th = &theft{first: at, tuple: t}
				a.thefts[t] = th
			}
			th.n++
		}
		return
	}
	c.last = max(c.last, r.time)
	dir := c.dirOf(r)
	b := uint8(c.gates[dir].bucket(at))
	c.tally.count(r.link, dir, b, r.dscp)
	if int(r.link) != a.core {
		return
	}
	c.tally.onCore[dir]++
	if b == bucketTransition {
		return
	}
	want := uint8(DSCPBestEffort)
	if b == bucketGated {
		want = DSCPEF
	}
	c.tally.judge(dir, b, at, r.dscp == want)
}

// drop forgets an open dialog that is not a call.
func (a *analyzer) drop(c *Call) {
	delete(a.calls, c.ID)
	a.owners.release(c)
	a.cops.forget(c)
}
