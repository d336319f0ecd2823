package tracetest

import (
	"fmt"
	"net/netip"
	"sort"
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
}

type generator struct {
	spec Spec
	net  *network
	role map[string]string // docs/FLOW.md role -> node name
	evs  []event
	omit map[StepRef]bool
	seq  int
}

// Generate builds a synthetic capture.
func Generate(spec Spec) (*Capture, error) {
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
	g := &generator{spec: spec, net: newNetwork(spec.Topology), role: map[string]string{}, omit: map[StepRef]bool{}}
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
	for i := 0; i < spec.Calls; i++ {
		if err := g.call(i); err != nil {
			return nil, err
		}
	}
	if spec.Theft {
		g.theft()
	}
	return g.capture()
}

func (g *generator) addr(role string) netip.Addr { return g.net.addr[g.role[role]] }

// add queues an event unless its step is omitted.
func (g *generator) add(e event) {
	if e.step != 0 && g.omit[StepRef{e.phase, e.step}] {
		return
	}
	g.evs = append(g.evs, e)
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

// capture puts every event on its links in time order, with TCP
// handshakes and sequence numbers.
func (g *generator) capture() (*Capture, error) {
	sort.SliceStable(g.evs, func(i, j int) bool { return g.evs[i].t.Before(g.evs[j].t) })
	c := &Capture{}
	for _, l := range g.spec.Topology.Links {
		c.Links = append(c.Links, l.Name)
	}
	conns := map[[3]string]*tcpConn{}
	var id uint16
	for _, e := range g.evs {
		var segs []segment
		if e.tcp {
			client, server := e.from, e.to
			if !e.toServer {
				client, server = e.to, e.from
			}
			key := [3]string{client, server, fmt.Sprint(e.port)}
			tc := conns[key]
			if tc == nil {
				tc = &tcpConn{
					client: netip.AddrPortFrom(g.net.addr[client], uint16(40000+len(conns))),
					server: netip.AddrPortFrom(g.net.addr[server], e.port),
					cseq:   uint32(1000 * (len(conns) + 1)), sseq: uint32(0xfffff000 - 7919*len(conns)),
				}
				conns[key] = tc
				if err := g.emit(c, client, server, tc.syn(), e, &id, time.Microsecond*-300, "TCP SYN"); err != nil {
					return nil, err
				}
				if err := g.emit(c, server, client, tc.synAck(), e, &id, time.Microsecond*-200, "TCP SYN-ACK"); err != nil {
					return nil, err
				}
			}
			segs = tc.data(e.toServer, e.payload)
		} else {
			segs = []segment{{
				src: netip.AddrPortFrom(g.net.addr[e.from], e.sport), dst: netip.AddrPortFrom(g.net.addr[e.to], e.port),
				payload: e.payload,
			}}
		}
		for i, s := range segs {
			if err := g.emit(c, e.from, e.to, s, e, &id, time.Duration(i)*5*time.Microsecond, e.what); err != nil {
				return nil, err
			}
		}
	}
	c.Sort()
	return c, nil
}

// emit puts one segment on every link of its path.
func (g *generator) emit(c *Capture, from, to string, s segment, e event, id *uint16, off time.Duration, what string) error {
	path, err := g.net.path(from, to)
	if err != nil {
		return err
	}
	*id++
	for i, h := range path {
		dscp := e.dscp
		if i > 0 {
			dscp = uint8(e.remark)
		}
		data, err := frame(h, uint8(64-i), dscp, s, *id)
		if err != nil {
			return err
		}
		p := Packet{Link: h.link, Time: e.t.Add(off + time.Duration(i)*20*time.Microsecond), Data: data, CallID: e.call, What: what, Hop: i}
		if what == e.what {
			// Handshakes belong to the connection, not to the step that opened it.
			p.Phase, p.Step = e.phase, e.step
		}
		c.Packets = append(c.Packets, p)
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
