package tracetest

import (
	"bytes"
	"container/heap"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/traffic/trace"
)

// StepRef names one docs/FLOW.md step.
type StepRef struct {
	Phase flow.Phase
	N     int
}

// Spec describes a synthetic capture.
type Spec struct {
	Topology *trace.Topology // nil: trace.DefaultTopology()
	Calls    int             // default 1
	Start    time.Time       // default 2026-01-01 00:00 UTC
	Gap      time.Duration   // between call starts (default 20 ms: calls overlap)
	Step     time.Duration   // between docs/FLOW.md steps of a call (default 1 ms)
	Media    int             // RTP packets each way while the call is up (default 3)

	No180           bool // the UAS answers 200 without a 180
	CalleeHangsUp   bool // the UAS sends the BYE
	NoClearinghouse bool // the policy servers do the clearinghouse's work: no OSP on the wire
	NoTeardown      bool // the capture ends with the calls up
	// Deny makes the clearinghouse refuse side 1's (1) or side 2's (2)
	// authorisation request: the call is denied with a 403.
	Deny int
	// ForwardDenied makes the refusing proxy of a denied call forward the
	// INVITE anyway (a broken proxy the verifier must catch).
	ForwardDenied bool
	// Theft adds a flow the UAC marks EF itself, outside any call; its edge
	// router re-marks it to 0 on the core.
	Theft bool
	// Omit lists steps whose message is never sent (in every call).
	Omit []StepRef
	// SIPOverTCP carries SIP on TCP 5060 instead of UDP.
	SIPOverTCP bool
	// CallIDInGate names the call in every Gate-Set as qoslab's policy
	// server does (an Opaque Data object); otherwise only odd calls carry
	// it and the verifier must match the others by their classifier.
	CallIDInGate bool
	// PortCycle is after how many calls the UAC uses its media ports
	// again (default 10000): call i uses the port of call i-PortCycle.
	// AnswerPortCycle is the same for the UAS (default PortCycle): a
	// callee picks its ports when it answers, whatever the caller's are.
	PortCycle, AnswerPortCycle int
	// Ring is how much longer the callee of some calls (by index) rings
	// before it answers.
	Ring map[int]time.Duration
	// OSPTLS carries OSP over real TLS (crypto/tls, mutual
	// authentication) up to this version (tls.VersionTLS12 or
	// tls.VersionTLS13), one session per policy server, as the lab does
	// with the clearinghouse's tls: "on". The session secrets go to
	// KeyLog (Generate also keeps them in Capture.KeyLog).
	OSPTLS uint16
	KeyLog io.Writer
}

// event is one message between two nodes before it is put on the links.
type event struct {
	t        time.Time
	from, to string
	tcp      bool
	port     uint16 // server port for TCP, destination port for UDP
	sport    uint16 // UDP source port
	toServer bool   // TCP: to is the server
	payload  []byte
	dscp     uint8
	remark   int // DSCP after the sender's edge router
	call     string
	phase    flow.Phase
	step     int
	what     string
	tls      bool // an OSP message to send in its policy server's TLS session
}

type generator struct {
	spec Spec
	net  *network
	role map[string]string // docs/FLOW.md role -> node name
	omit map[StepRef]bool
	seq  int

	// Events wait in time order (then in the order they were added) until
	// they are put on the links; packets wait in time order (then in the
	// order they were made) until they are written.
	evs   eventHeap
	nev   int
	pkts  packetHeap
	npkt  int
	conns map[[3]string]*tcpConn
	id    uint16

	tlsLegs map[string]*tlsLeg // by policy server node
	keyLog  bytes.Buffer
}

// Generate builds a synthetic capture.
func Generate(spec Spec) (*Capture, error) {
	g, err := newGenerator(spec)
	if err != nil {
		return nil, err
	}
	defer g.closeTLS()
	for i := 0; i < g.spec.Calls; i++ {
		if err := g.call(i); err != nil {
			return nil, err
		}
	}
	if g.spec.Theft {
		g.theft()
	}
	if err := g.advance(time.Time{}); err != nil {
		return nil, err
	}
	c := &Capture{}
	for _, l := range g.spec.Topology.Links {
		c.Links = append(c.Links, l.Name)
	}
	g.drain(time.Time{}, func(p Packet) error { c.Packets = append(c.Packets, p); return nil })
	c.KeyLog = g.keyLog.Bytes()
	return c, nil
}

// Stream writes the capture of spec as pcapng while generating it, call
// by call, so that a capture of any size costs the memory of the calls in
// flight only (the 100,000-call benchmark capture). It returns the number
// of packets written. The packets are those Generate makes.
func Stream(w io.Writer, spec Spec) (int, error) {
	g, err := newGenerator(spec)
	if err != nil {
		return 0, err
	}
	defer g.closeTLS()
	var links []string
	for _, l := range g.spec.Topology.Links {
		links = append(links, l.Name)
	}
	pw, err := newPcapngWriter(w, links)
	if err != nil {
		return 0, err
	}
	n := 0
	write := func(p Packet) error { n++; return pw.write(p) }
	if g.spec.Theft {
		g.theft()
	}
	for i := 0; i < g.spec.Calls; i++ {
		if err := g.call(i); err != nil {
			return n, err
		}
		// Later calls start at next at the earliest, and put nothing on
		// the wire more than a millisecond before their start (a TCP
		// handshake leads its first segment by 300 us).
		next := g.spec.Start.Add(time.Duration(i+1) * g.spec.Gap)
		if err := g.advance(next); err != nil {
			return n, err
		}
		if err := g.drain(next.Add(-time.Millisecond), write); err != nil {
			return n, err
		}
	}
	if err := g.advance(time.Time{}); err != nil {
		return n, err
	}
	if err := g.drain(time.Time{}, write); err != nil {
		return n, err
	}
	return n, pw.flush()
}

func newGenerator(spec Spec) (*generator, error) {
	if spec.Topology == nil {
		spec.Topology = trace.DefaultTopology()
	}
	if spec.Calls == 0 {
		spec.Calls = 1
	}
	if spec.Start.IsZero() {
		spec.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if spec.Gap == 0 {
		spec.Gap = 20 * time.Millisecond
	}
	if spec.Step == 0 {
		spec.Step = time.Millisecond
	}
	if spec.Media == 0 {
		spec.Media = 3
	}
	g := &generator{spec: spec, net: newNetwork(spec.Topology), role: map[string]string{}, omit: map[StepRef]bool{}, conns: map[[3]string]*tcpConn{}, tlsLegs: map[string]*tlsLeg{}}
	for name, r := range spec.Topology.Roles {
		g.role[r] = name
	}
	for _, r := range []string{flow.UAC, flow.UAS, flow.SIP1, flow.SIP2, flow.POL1, flow.POL2, flow.R1, flow.R2} {
		if g.role[r] == "" {
			return nil, fmt.Errorf("tracetest: topology has no %s", r)
		}
	}
	if g.role[flow.CH] == "" && !spec.NoClearinghouse {
		return nil, fmt.Errorf("tracetest: topology has no CH")
	}
	for _, o := range spec.Omit {
		g.omit[o] = true
	}
	return g, nil
}

func (g *generator) addr(role string) netip.Addr { return g.net.addr[g.role[role]] }

func (g *generator) portCycle() int {
	if g.spec.PortCycle > 0 {
		return g.spec.PortCycle
	}
	return 10000
}

func (g *generator) answerPortCycle() int {
	if g.spec.AnswerPortCycle > 0 {
		return g.spec.AnswerPortCycle
	}
	return g.portCycle()
}

// add queues an event unless its step is omitted.
func (g *generator) add(e event) {
	if e.step != 0 && g.omit[StepRef{e.phase, e.step}] {
		return
	}
	g.nev++
	heap.Push(&g.evs, queuedEvent{e, g.nev})
}

// theft sends a few self-marked EF packets from the UAC to the UAS on a
// port no SDP announced; R1 re-marks them to 0.
func (g *generator) theft() {
	t := g.spec.Start.Add(-10 * time.Millisecond)
	for i := 0; i < 3; i++ {
		b, _ := rtpPacket(0xbad, uint16(i), i == 0)
		g.add(event{t: t.Add(time.Duration(i) * time.Millisecond), from: g.role[flow.UAC], to: g.role[flow.UAS],
			sport: 24000, port: 34000, payload: b, dscp: trace.DSCPEF, remark: trace.DSCPBestEffort, what: "RTP theft"})
	}
}

// advance puts every event before t (every event for the zero time) on
// its links, with TCP handshakes and sequence numbers.
func (g *generator) advance(t time.Time) error {
	for g.evs.Len() > 0 && (t.IsZero() || g.evs[0].e.t.Before(t)) {
		e := heap.Pop(&g.evs).(queuedEvent).e
		if e.tls {
			if err := g.sendTLS(e); err != nil {
				return err
			}
			continue
		}
		if e.tcp {
			if err := g.emitTCP(e); err != nil {
				return err
			}
			continue
		}
		s := segment{
			src: netip.AddrPortFrom(g.net.addr[e.from], e.sport), dst: netip.AddrPortFrom(g.net.addr[e.to], e.port),
			payload: e.payload,
		}
		if err := g.emit(e.from, e.to, s, e, 0, e.what); err != nil {
			return err
		}
	}
	return nil
}

// emitTCP puts a TCP event on the links: its connection's handshake the
// first time, then its payload in MSS-sized segments.
func (g *generator) emitTCP(e event) error {
	client, server := e.from, e.to
	if !e.toServer {
		client, server = e.to, e.from
	}
	key := [3]string{client, server, fmt.Sprint(e.port)}
	tc := g.conns[key]
	if tc == nil {
		n := len(g.conns)
		tc = &tcpConn{
			client: netip.AddrPortFrom(g.net.addr[client], uint16(40000+n)),
			server: netip.AddrPortFrom(g.net.addr[server], e.port),
			cseq:   uint32(1000 * (n + 1)), sseq: uint32(0xfffff000 - 7919*n),
		}
		g.conns[key] = tc
		if err := g.emit(client, server, tc.syn(), e, time.Microsecond*-300, "TCP SYN"); err != nil {
			return err
		}
		if err := g.emit(server, client, tc.synAck(), e, time.Microsecond*-200, "TCP SYN-ACK"); err != nil {
			return err
		}
	}
	for i, s := range tc.data(e.toServer, e.payload) {
		if err := g.emit(e.from, e.to, s, e, time.Duration(i)*5*time.Microsecond, e.what); err != nil {
			return err
		}
	}
	return nil
}

// drain hands out, in time order, every packet made so far that is before
// t (all of them for the zero time).
func (g *generator) drain(t time.Time, out func(Packet) error) error {
	for g.pkts.Len() > 0 && (t.IsZero() || g.pkts[0].p.Time.Before(t)) {
		if err := out(heap.Pop(&g.pkts).(queuedPacket).p); err != nil {
			return err
		}
	}
	return nil
}

type queuedEvent struct {
	e   event
	seq int
}

// eventHeap orders events by time, then by the order they were added.
type eventHeap []queuedEvent

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if !h[i].e.t.Equal(h[j].e.t) {
		return h[i].e.t.Before(h[j].e.t)
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(queuedEvent)) }
func (h *eventHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

type queuedPacket struct {
	p   Packet
	seq int
}

// packetHeap orders packets by time, then by the order they were made.
type packetHeap []queuedPacket

func (h packetHeap) Len() int { return len(h) }
func (h packetHeap) Less(i, j int) bool {
	if !h[i].p.Time.Equal(h[j].p.Time) {
		return h[i].p.Time.Before(h[j].p.Time)
	}
	return h[i].seq < h[j].seq
}
func (h packetHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *packetHeap) Push(x any)   { *h = append(*h, x.(queuedPacket)) }
func (h *packetHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// emit puts one segment on every link of its path.
func (g *generator) emit(from, to string, s segment, e event, off time.Duration, what string) error {
	path, err := g.net.path(from, to)
	if err != nil {
		return err
	}
	g.id++
	for i, h := range path {
		dscp := e.dscp
		if i > 0 {
			dscp = uint8(e.remark)
		}
		data, err := frame(h, uint8(64-i), dscp, s, g.id)
		if err != nil {
			return err
		}
		p := Packet{Link: h.link, Time: e.t.Add(off + time.Duration(i)*20*time.Microsecond), Data: data, CallID: e.call, What: what, Hop: i}
		if what == e.what {
			// Handshakes belong to the connection, not to the step that opened it.
			p.Phase, p.Step = e.phase, e.step
		}
		g.npkt++
		heap.Push(&g.pkts, queuedPacket{p, g.npkt})
	}
	return nil
}

// tcpConn keeps the sequence numbers of one TCP connection.
type tcpConn struct {
	client, server netip.AddrPort
	cseq, sseq     uint32 // next sequence number of each side
}

const mss = 1400

func (tc *tcpConn) syn() segment {
	s := segment{src: tc.client, dst: tc.server, tcp: true, syn: true, seq: tc.cseq}
	tc.cseq++
	return s
}

func (tc *tcpConn) synAck() segment {
	s := segment{src: tc.server, dst: tc.client, tcp: true, syn: true, seq: tc.sseq, ack: tc.cseq}
	tc.sseq++
	return s
}

// data cuts a payload into MSS-sized segments.
func (tc *tcpConn) data(toServer bool, b []byte) []segment {
	var out []segment
	for len(b) > 0 {
		n := min(len(b), mss)
		s := segment{tcp: true, payload: b[:n]}
		if toServer {
			s.src, s.dst, s.seq, s.ack = tc.client, tc.server, tc.cseq, tc.sseq
			tc.cseq += uint32(n)
		} else {
			s.src, s.dst, s.seq, s.ack = tc.server, tc.client, tc.sseq, tc.cseq
			tc.sseq += uint32(n)
		}
		out = append(out, s)
		b = b[n:]
	}
	return out
}

// leg returns the TLS session of a policy server with the clearinghouse,
// opening it (and returning its handshake records) the first time.
func (g *generator) leg(pol string) (*tlsLeg, []chunk, error) {
	if l := g.tlsLegs[pol]; l != nil {
		return l, nil, nil
	}
	var w io.Writer = &g.keyLog
	if g.spec.KeyLog != nil {
		w = io.MultiWriter(&g.keyLog, g.spec.KeyLog)
	}
	l, hs, err := newTLSLeg(g.spec.OSPTLS, w)
	if err != nil {
		return nil, nil, err
	}
	g.tlsLegs[pol] = l
	return l, hs, nil
}

func (g *generator) closeTLS() {
	for _, l := range g.tlsLegs {
		l.close()
	}
}

// sendTLS sends an OSP message in its policy server's TLS session (opened,
// with its handshake on the wire, the first time) and puts the records on
// the links.
func (g *generator) sendTLS(e event) error {
	pol := e.from
	if !e.toServer {
		pol = e.to
	}
	leg, hs, err := g.leg(pol)
	if err != nil {
		return err
	}
	chunks, err := leg.send(e.toServer, e.payload)
	if err != nil {
		return err
	}
	server := e.to // the clearinghouse
	if !e.toServer {
		server = e.from
	}
	put := func(at time.Time, ch chunk, carries bool) error {
		r := e
		r.t, r.tls, r.payload, r.toServer = at, false, ch.b, ch.fromClient
		r.from, r.to = pol, server
		if !ch.fromClient {
			r.from, r.to = server, pol
		}
		if !carries {
			r.call, r.phase, r.step, r.what = "", "", 0, "TLS"
		}
		return g.emitTCP(r)
	}
	// The handshake goes out a round trip (200 us) per flight before the
	// first message.
	for i, ch := range hs {
		if err := put(e.t.Add(-time.Duration(len(hs)-i)*200*time.Microsecond), ch, false); err != nil {
			return err
		}
	}
	first := true
	for i, ch := range chunks {
		mine := ch.fromClient == e.toServer
		if err := put(e.t.Add(time.Duration(i)*10*time.Microsecond), ch, mine && first); err != nil {
			return err
		}
		first = first && !mine
	}
	return nil
}
