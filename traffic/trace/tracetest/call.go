package tracetest

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/cops"
	"github.com/qoslab/qoslab/protocol/osp"
	"github.com/qoslab/qoslab/traffic/trace"
)

// callGen builds the events of one call in docs/FLOW.md order.
type callGen struct {
	g        *generator
	i        int
	id       string
	d        *sipDialog
	t0       time.Time
	tick     int
	rang     time.Duration        // how long the callee rang beyond a step
	invites  map[int]*sip.Request // by setup step
	byes     map[int]*sip.Request // by teardown step
	sessions [3]*cops.Session     // by side
}

func (g *generator) call(i int) error {
	id := "call-" + strconv.Itoa(i) + "@qoslab.test"
	uac, uas := g.addr(flow.UAC), g.addr(flow.UAS)
	c := &callGen{
		g: g, i: i, id: id, t0: g.spec.Start.Add(time.Duration(i) * g.spec.Gap),
		d: &sipDialog{
			callID: id, uac: uac, uas: uas,
			offer:   netip.AddrPortFrom(uac, uint16(20000+2*(i%g.portCycle()))),
			answer:  netip.AddrPortFrom(uas, uint16(30000+2*(i%g.answerPortCycle()))),
			fromTag: "a" + strconv.Itoa(i), toTag: "b" + strconv.Itoa(i), byeFromCallee: g.spec.CalleeHangsUp,
		},
		invites: map[int]*sip.Request{}, byes: map[int]*sip.Request{},
	}
	for side := 1; side <= 2; side++ {
		c.sessions[side] = &cops.Session{CallID: id, Side: flow.Side(side), Caller: "sip:uac@qoslab", Callee: "sip:uas@qoslab", Class: "EF", Bandwidth: 64000}
	}
	return c.run()
}

func (c *callGen) at() time.Time {
	c.tick++
	return c.when()
}

// when is the time of the current tick: the call's start, its steps so
// far, and how long its callee rang beyond a step.
func (c *callGen) when() time.Time {
	return c.t0.Add(time.Duration(c.tick)*c.g.spec.Step + c.rang)
}

// setupOrder is the order the steps are sent in.
func (c *callGen) setupOrder() []int {
	s := c.g.spec
	var out []int
	switch {
	case s.Deny == 1:
		out = []int{1, 2, 3, 4, 5}
		if s.ForwardDenied {
			out = append(out, 6)
		}
	case s.Deny == 2:
		out = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
		if s.ForwardDenied {
			out = append(out, 11)
		}
	case s.No180:
		out = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 23, 13, 14, 15, 16, 24, 18, 19, 20, 21, 25, 26, 27, 28}
	default:
		for n := 1; n <= 28; n++ {
			out = append(out, n)
		}
	}
	if s.NoClearinghouse {
		var keep []int
		for _, n := range out {
			if n != 3 && n != 4 && n != 8 && n != 9 {
				keep = append(keep, n)
			}
		}
		out = keep
	}
	return out
}

func (c *callGen) run() error {
	for _, n := range c.setupOrder() {
		if n == 12 || n == 23 && c.rang == 0 {
			c.rang = c.g.spec.Ring[c.i] // the callee answers late
		}
		if err := c.setup(n); err != nil {
			return fmt.Errorf("tracetest: call %d setup step %d: %w", c.i, n, err)
		}
		if n == 12 || (n == 23 && c.g.spec.No180) {
			c.media(2, false, trace.DSCPBestEffort) // early media from the UAS, before R2's gate
		}
	}
	if c.g.spec.Deny != 0 {
		return c.refuse()
	}
	c.media(c.g.spec.Media, true, trace.DSCPEF)
	c.media(c.g.spec.Media, false, trace.DSCPEF)
	if c.g.spec.NoTeardown {
		return nil
	}
	// Steps in an order docs/FLOW.md allows; when the callee hangs up, the SIP
	// steps keep their hops' numbers, so the BYE goes 3, 2, 1 and its 200
	// 12, 11, 10.
	seq := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}
	if c.g.spec.CalleeHangsUp {
		seq = []int{3, 2, 1, 4, 5, 6, 7, 8, 9, 12, 11, 10, 13, 14, 15, 16, 17, 18}
	}
	for _, n := range seq {
		if c.g.spec.NoClearinghouse && (n == 8 || n == 9 || n == 17 || n == 18) {
			continue
		}
		if err := c.teardown(n); err != nil {
			return fmt.Errorf("tracetest: call %d teardown step %d: %w", c.i, n, err)
		}
	}
	// Probes on the call's 5-tuples after teardown: no gate, no EF.
	c.media(2, true, trace.DSCPBestEffort)
	c.media(2, false, trace.DSCPBestEffort)
	return nil
}

// media sends n RTP packets one way; marked is the DSCP after the edge
// router.
func (c *callGen) media(n int, fromUAC bool, marked uint8) {
	from, to, src, dst, what := flow.UAC, flow.UAS, c.d.offer, c.d.answer, "RTP UAC->UAS"
	if !fromUAC {
		from, to, src, dst, what = flow.UAS, flow.UAC, c.d.answer, c.d.offer, "RTP UAS->UAC"
	}
	for k := 0; k < n; k++ {
		c.tick++
		b, _ := rtpPacket(uint32(c.i)<<1|map[bool]uint32{true: 0, false: 1}[fromUAC], uint16(c.tick), k == 0)
		c.g.add(event{
			t: c.when(), from: c.g.role[from], to: c.g.role[to],
			sport: src.Port(), port: dst.Port(), payload: b, remark: int(marked), call: c.id, phase: flow.Setup, step: 29, what: what,
		})
	}
}

// sipEvent queues a SIP message of a step. Over TCP a request opens (or
// reuses) a connection to its receiver and a response goes back on it.
func (c *callGen) sipEvent(phase flow.Phase, n int, from, to string, b []byte, what string) {
	if c.g.spec.SIPOverTCP {
		server := to
		if what[0] >= '1' && what[0] <= '6' { // a response
			server = from
		}
		c.tcpEvent(phase, n, from, to, server, trace.PortSIP, b, what)
		return
	}
	c.g.add(event{t: c.at(), from: c.g.role[from], to: c.g.role[to], sport: 5060, port: 5060, payload: b, call: c.id, phase: phase, step: n, what: what})
}

// tcpEvent queues a COPS or OSP message; server is the node that listens.
func (c *callGen) tcpEvent(phase flow.Phase, n int, from, to, server string, port uint16, b []byte, what string) {
	c.g.add(event{t: c.at(), from: c.g.role[from], to: c.g.role[to], tcp: true, port: port, toServer: to == server,
		payload: b, call: c.id, phase: phase, step: n, what: what})
}

func (c *callGen) invite(n int, from string) *sip.Request {
	r := c.d.request(sip.INVITE, 1, c.g.addr(from), c.id+"-"+strconv.Itoa(n), sdpBody(c.d.offer))
	c.invites[n] = r
	return r
}

func (c *callGen) side(role string) int {
	if role == flow.SIP1 || role == flow.POL1 || role == flow.R1 {
		return 1
	}
	return 2
}

func (c *callGen) req(phase flow.Phase, n int, pep, pdp string, kind cops.Kind) error {
	s := *c.sessions[c.side(pep)]
	if kind == cops.KindNoLDP {
		// The release says whose BYE ended the call (session tag 11).
		s.ReleasedBy = flow.Originating
		if c.g.spec.CalleeHangsUp {
			s.ReleasedBy = flow.Terminating
		}
	}
	b, err := copsSession(cops.OpREQ, cops.Handle(c.i*2+c.side(pep)), kind, &s, 0)
	if err != nil {
		return err
	}
	c.tcpEvent(phase, n, pep, pdp, pdp, trace.PortCOPS, b, "REQ "+kind.String())
	return nil
}

func (c *callGen) dec(phase flow.Phase, n int, pdp, pep string, kind cops.Kind, cmd cops.Command) error {
	s := *c.sessions[c.side(pep)]
	s.Result, s.Reason = 200, "admitted"
	if cmd == cops.CommandRemove && phase == flow.Setup {
		s.Result, s.Reason = 403, "clearinghouse refused"
	}
	b, err := copsSession(cops.OpDEC, cops.Handle(c.i*2+c.side(pep)), kind, &s, cmd)
	if err != nil {
		return err
	}
	c.tcpEvent(phase, n, pdp, pep, pdp, trace.PortCOPS, b, "DEC "+cmd.String())
	return nil
}

func (c *callGen) tid(side, k int) uint16 { return uint16(c.i*8 + side*4 + k) }
func (c *callGen) gateID(side int) uint32 { return uint32(0x10000 + c.i*2 + side) }

func (c *callGen) gate(phase flow.Phase, n int, pol, r string, cmd cops.GateCommand) error {
	side := c.side(pol)
	var p *cops.PCMM
	op, from, to := cops.OpDEC, pol, r
	switch cmd {
	case cops.GateSet:
		src, dst := c.d.offer, c.d.answer
		if side == 2 {
			src, dst = c.d.answer, c.d.offer
		}
		p = gateSet(c.tid(side, 0), src, dst)
		if c.g.spec.CallIDInGate || c.i%2 == 1 {
			p.Opaque = []byte(c.id) // as nodes/pdp: the Call-ID, zero-padded to 4 octets
			for len(p.Opaque)%4 != 0 {
				p.Opaque = append(p.Opaque, 0)
			}
		}
	case cops.GateSetAck:
		p = &cops.PCMM{TransactionID: c.tid(side, 0), Command: cmd, GateID: c.gateID(side), HasGateID: true}
		op, from, to = cops.OpRPT, r, pol
	case cops.GateDelete:
		p = &cops.PCMM{TransactionID: c.tid(side, 1), Command: cmd, GateID: c.gateID(side), HasGateID: true}
	case cops.GateDeleteAck:
		p = &cops.PCMM{TransactionID: c.tid(side, 1), Command: cmd, GateID: c.gateID(side), HasGateID: true}
		op, from, to = cops.OpRPT, r, pol
	}
	b, err := copsPCMM(op, 1, p)
	if err != nil {
		return err
	}
	c.tcpEvent(phase, n, from, to, r, trace.PortPCMM, b, op.String()+" "+cmd.String())
	return nil
}

// osp queues an OSP message: a request from a policy server to the
// clearinghouse, or its answer.
func (c *callGen) osp(phase flow.Phase, n int, from, to string, m *osp.Message, chunked bool) error {
	b, err := ospHTTP(m, from != flow.CH, chunked)
	if err != nil {
		return err
	}
	if c.g.spec.OSPTLS != 0 {
		return c.ospTLS(phase, n, from, to, b, m.Kind().String())
	}
	c.tcpEvent(phase, n, from, to, flow.CH, trace.PortOSP, b, m.Kind().String())
	return nil
}

// ospTLS queues an OSP message to be sent in its policy server's TLS
// session when its time comes (records must go out in the order they are
// sent, which is time order, not the order calls are generated in).
func (c *callGen) ospTLS(phase flow.Phase, n int, from, to string, b []byte, what string) error {
	c.g.add(event{t: c.at(), from: c.g.role[from], to: c.g.role[to], tcp: true, port: trace.PortOSP, toServer: to == flow.CH || c.g.role[to] == c.g.role[flow.CH],
		tls: true, payload: b, call: c.id, phase: phase, step: n, what: what})
	return nil
}

func (c *callGen) denied(side int) bool { return c.g.spec.Deny == side }

func (c *callGen) setup(n int) error {
	S, d := flow.Setup, c.d
	now := c.when()
	status := func(side int) osp.StatusCode {
		if c.denied(side) {
			return osp.StatusForbidden
		}
		return osp.StatusOK
	}
	decCmd := func(side int) cops.Command {
		if c.denied(side) {
			return cops.CommandRemove
		}
		return cops.CommandInstall
	}
	switch n {
	case 1:
		c.sipEvent(S, n, flow.UAC, flow.SIP1, []byte(c.invite(n, flow.UAC).String()), "INVITE")
	case 2:
		return c.req(S, n, flow.SIP1, flow.POL1, cops.KindAAA)
	case 3:
		return c.osp(S, n, flow.POL1, flow.CH, ospAuthReq(now, c.id, osp.RoleSource), false)
	case 4:
		return c.osp(S, n, flow.CH, flow.POL1, ospAuthResp(now, c.id, status(1)), false)
	case 5:
		return c.dec(S, n, flow.POL1, flow.SIP1, cops.KindAAA, decCmd(1))
	case 6:
		c.sipEvent(S, n, flow.SIP1, flow.SIP2, []byte(c.invite(n, flow.SIP1).String()), "INVITE")
	case 7:
		return c.req(S, n, flow.SIP2, flow.POL2, cops.KindAAA)
	case 8:
		return c.osp(S, n, flow.POL2, flow.CH, ospAuthReq(now, c.id, osp.RoleDestination), false)
	case 9:
		return c.osp(S, n, flow.CH, flow.POL2, ospAuthResp(now, c.id, status(2)), false)
	case 10:
		return c.dec(S, n, flow.POL2, flow.SIP2, cops.KindAAA, decCmd(2))
	case 11:
		c.sipEvent(S, n, flow.SIP2, flow.UAS, []byte(c.invite(n, flow.SIP2).String()), "INVITE")
	case 12, 17, 22, 23, 24, 25:
		code, reason, inv := 180, "Ringing", map[int]int{12: 11, 17: 6, 22: 1, 23: 11, 24: 6, 25: 1}[n]
		if n >= 23 {
			code, reason = 200, "OK"
		}
		from, to := c.sipHop(n)
		c.sipEvent(S, n, from, to, d.response(c.invites[inv], code, reason, sdpBody(d.answer), sip.NewHeader("Contact", "<sip:uas@"+d.uas.String()+">")), strconv.Itoa(code))
	case 13:
		c.sessions[2].Media = c.mediaFlows()
		return c.req(S, n, flow.SIP2, flow.POL2, cops.KindLDP)
	case 14:
		return c.gate(S, n, flow.POL2, flow.R2, cops.GateSet)
	case 15:
		return c.gate(S, n, flow.POL2, flow.R2, cops.GateSetAck)
	case 16:
		return c.dec(S, n, flow.POL2, flow.SIP2, cops.KindLDP, cops.CommandInstall)
	case 18:
		c.sessions[1].Media = c.mediaFlows()
		return c.req(S, n, flow.SIP1, flow.POL1, cops.KindLDP)
	case 19:
		return c.gate(S, n, flow.POL1, flow.R1, cops.GateSet)
	case 20:
		return c.gate(S, n, flow.POL1, flow.R1, cops.GateSetAck)
	case 21:
		return c.dec(S, n, flow.POL1, flow.SIP1, cops.KindLDP, cops.CommandInstall)
	case 26, 27, 28:
		from, to := c.sipHop(n)
		ack := d.request(sip.ACK, 1, c.g.addr(from), c.id+"-ack"+strconv.Itoa(n), nil)
		c.sipEvent(S, n, from, to, []byte(ack.String()), "ACK")
	}
	return nil
}

// sipHop is who sends a setup SIP step to whom (docs/FLOW.md table).
func (c *callGen) sipHop(n int) (string, string) {
	s, _ := flow.StepByN(flow.Setup, n)
	return s.From, s.To
}

func (c *callGen) mediaFlows() []cops.MediaFlow {
	return []cops.MediaFlow{
		{Dir: cops.Forward, Tuple: flow.Tuple{Proto: 17, Src: c.d.offer, Dst: c.d.answer}},
		{Dir: cops.Backward, Tuple: flow.Tuple{Proto: 17, Src: c.d.answer, Dst: c.d.offer}},
	}
}

// refuse sends the 403 of a denied call back to the UAC, each hop
// acknowledged (RFC 3261 17.1.1.3: the ACK of a non-2xx is hop by hop).
func (c *callGen) refuse() error {
	hops := [][2]string{{flow.SIP1, flow.UAC}}
	inv := map[string]int{flow.UAC: 1, flow.SIP1: 6}
	if c.g.spec.Deny == 2 {
		hops = [][2]string{{flow.SIP2, flow.SIP1}, {flow.SIP1, flow.UAC}}
	}
	for _, h := range hops {
		res := c.d.response(c.invites[inv[h[1]]], 403, "Forbidden", nil, sip.NewHeader("Reason", `Q.850;cause=21;text="clearinghouse refused"`))
		c.sipEvent(flow.Setup, 0, h[0], h[1], res, "403")
		ack := c.d.request(sip.ACK, 1, c.g.addr(h[1]), c.id+"-ack403"+h[1], nil)
		c.sipEvent(flow.Setup, 0, h[1], h[0], []byte(ack.String()), "ACK")
	}
	return nil
}

func (c *callGen) teardown(n int) error {
	T, d := flow.Teardown, c.d
	now := c.when()
	table := flow.TeardownSteps
	if c.g.spec.CalleeHangsUp {
		table = flow.TeardownStepsCalleeHangsUp
	}
	s := table[n-1]
	switch n {
	case 1, 2, 3:
		r := d.request(sip.BYE, 2, c.g.addr(s.From), c.id+"-bye"+strconv.Itoa(n), nil)
		c.byes[n] = r
		c.sipEvent(T, n, s.From, s.To, []byte(r.String()), "BYE")
	case 10, 11, 12:
		c.sipEvent(T, n, s.From, s.To, d.response(c.byes[13-n], 200, "OK", nil), "200")
	case 4, 13:
		return c.req(T, n, s.From, s.To, cops.KindNoLDP)
	case 5, 14:
		return c.gate(T, n, s.From, s.To, cops.GateDelete)
	case 6, 15:
		return c.gate(T, n, s.To, s.From, cops.GateDeleteAck)
	case 7, 16:
		return c.dec(T, n, s.From, s.To, cops.KindNoLDP, cops.CommandRemove)
	case 8, 17:
		role := osp.RoleSource
		if n == 17 {
			role = osp.RoleDestination
		}
		return c.osp(T, n, s.From, s.To, ospUsage(now, c.id, role), false)
	case 9, 18:
		return c.osp(T, n, s.From, s.To, ospUsageConf(now), true)
	}
	return nil
}
