package trace

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/cops"
)

// frameCOPS cuts COPS messages from a stream by the length in the common
// header, checked by protocol/cops.
func frameCOPS(b []byte) (int, error) {
	if len(b) < cops.HeaderLen {
		return 0, nil
	}
	n, err := cops.PeekLength(b)
	if err != nil {
		return 0, err
	}
	if n > maxStreamBuffer {
		return 0, fmt.Errorf("cops: message length %d is too long for this lab", n)
	}
	if len(b) < n {
		return 0, nil
	}
	return n, nil
}

// copsInfo is what the verifier keeps of a COPS message.
type copsInfo struct {
	Op         cops.OpCode
	ClientType cops.ClientType
	Handle     cops.Handle
	GateID     uint32 // PCMM, when HasGateID
	HasGateID  bool
}

// copsDecoder holds the decoded forms the analyzer reuses from message to
// message (the codec decodes into them without allocating).
type copsDecoder struct {
	msg  cops.Message
	sess cops.Session
	pcmm cops.PCMM
}

// connKey names a TCP connection regardless of direction.
type connKey struct{ lo, hi netip.AddrPort }

func connOf(t Tuple) connKey {
	if t.Src.Addr().Less(t.Dst.Addr()) || t.Src.Addr() == t.Dst.Addr() && t.Src.Port() < t.Dst.Port() {
		return connKey{t.Src, t.Dst}
	}
	return connKey{t.Dst, t.Src}
}

type handleKey struct {
	connKey
	h cops.Handle
}

type transKey struct {
	connKey
	id uint16
}

type gateKey struct {
	router string
	id     uint32
}

// copsState correlates COPS messages with calls: the proxy leg by the
// session information and the handle, the router leg by the gate's
// classifier (matched to the SDP), its transaction id and its gate id.
type copsState struct {
	reqs  map[handleKey]*Message // last REQ on each handle
	trans map[transKey]*Call
	gates map[gateKey]*Call
	// early holds gate replies seen before their command (a capture where
	// the order is broken): they join the call when the command shows up,
	// so the report says "out of order", not "missing".
	early map[transKey][]*Message
}

func newCOPSState() copsState {
	return copsState{reqs: map[handleKey]*Message{}, trans: map[transKey]*Call{}, gates: map[gateKey]*Call{}, early: map[transKey][]*Message{}}
}

// forget removes what a judged call holds in the tables.
func (s *copsState) forget(c *Call) {
	for _, k := range c.handles {
		if m := s.reqs[k]; m != nil && m.CallID == c.ID {
			delete(s.reqs, k)
		}
	}
	for _, k := range c.trans {
		if s.trans[k] == c {
			delete(s.trans, k)
		}
	}
	for _, k := range c.gateIDs {
		if s.gates[k] == c {
			delete(s.gates, k)
		}
	}
	c.handles, c.trans, c.gateIDs = nil, nil, nil
}

func (a *analyzer) setTrans(k transKey, c *Call) {
	a.cops.trans[k] = c
	if c != nil {
		c.trans = append(c.trans, k)
	}
}

func (a *analyzer) setGate(k gateKey, c *Call) {
	a.cops.gates[k] = c
	c.gateIDs = append(c.gateIDs, k)
}

// adopt gives the replies that arrived before their command to its call.
func (a *analyzer) adopt(tk transKey, c *Call, router string) {
	for _, m := range a.cops.early[tk] {
		m.CallID = c.ID
		m.call = c
		c.add(m, &a.gateSteps)
		if m.Kind == flow.GateSetAck && m.cops.HasGateID {
			a.setGate(gateKey{router, m.cops.GateID}, c)
		}
	}
	delete(a.cops.early, tk)
}

var reqKinds = map[cops.Kind]flow.Kind{
	cops.KindAAA: flow.COPSReqAAA, cops.KindLDP: flow.COPSReqLDP, cops.KindNoLDP: flow.COPSReqNoLDP,
}

func (a *analyzer) onCOPS(m *Message, data []byte) error {
	msg := &a.copsDec.msg
	if err := msg.Decode(data); err != nil {
		return err
	}
	info := &copsInfo{Op: msg.Op, ClientType: msg.ClientType, Handle: msg.Handle}
	m.cops = info
	m.What = msg.Op.String()
	switch msg.ClientType {
	case cops.ClientTypeSession:
		return a.onSessionCOPS(m, msg, info)
	case cops.ClientTypePCMM:
		return a.onPCMM(m, msg, info)
	}
	return nil
}

func (a *analyzer) onSessionCOPS(m *Message, msg *cops.Message, info *copsInfo) error {
	hk := handleKey{connOf(m.Tuple), msg.Handle}
	decodeSession := func(b []byte) error {
		if len(b) == 0 {
			return nil
		}
		s := &a.copsDec.sess
		if err := s.Decode(b); err != nil {
			return err
		}
		m.CallID = s.CallID
		return nil
	}
	switch msg.Op {
	case cops.OpREQ:
		k := cops.KindOf(msg.Context)
		m.What, m.Kind = "REQ "+k.String(), reqKinds[k]
		for _, si := range msg.ClientSI {
			if err := decodeSession(si.Data); err != nil {
				return err
			}
		}
		a.cops.reqs[hk] = m
		if m.CallID != "" {
			c := a.call(m.CallID)
			c.handles = append(c.handles, hk)
		}
	case cops.OpDEC:
		for _, d := range msg.Decisions {
			switch d.Command {
			case cops.CommandInstall:
				m.What, m.Kind = "DEC Install", flow.COPSDecInstall
			case cops.CommandRemove:
				m.What, m.Kind = "DEC Remove", flow.COPSDecRemove
			}
			if err := decodeSession(d.ClientData); err != nil {
				return err
			}
		}
		if req := a.cops.reqs[hk]; req != nil {
			if m.CallID == "" {
				m.CallID = req.CallID
			}
			if n, ok := nextDEC(req.Phase, req.Step); ok && req.Step != 0 && m.Kind != "" {
				m.Phase, m.Step = req.Phase, n
			}
		}
	case cops.OpDRQ, cops.OpRPT:
		if req := a.cops.reqs[hk]; req != nil {
			m.CallID = req.CallID
		}
	}
	return nil
}

func (a *analyzer) onPCMM(m *Message, msg *cops.Message, info *copsInfo) error {
	var body []byte
	switch msg.Op {
	case cops.OpDEC:
		for _, d := range msg.Decisions {
			if d.ClientData != nil {
				body = d.ClientData
			}
		}
	case cops.OpRPT:
		for _, si := range msg.ClientSI {
			body = si.Data
		}
	}
	if body == nil {
		return nil
	}
	p := &a.copsDec.pcmm
	if err := p.Decode(body); err != nil {
		return err
	}
	info.GateID, info.HasGateID = p.GateID, p.HasGateID
	m.What = msg.Op.String() + " " + p.Command.String()
	ck := connOf(m.Tuple)
	router := m.To
	if msg.Op == cops.OpRPT {
		router = m.From
	}
	var c *Call
	switch p.Command {
	case cops.GateSet:
		m.Kind = flow.GateSet
		// qoslab's policy server names the call in an Opaque Data object
		// (nodes/pdp); other policy servers do not, so the classifier,
		// matched to the SDP, is the fallback.
		if id := strings.TrimRight(string(p.Opaque), "\x00"); id != "" {
			c = a.calls[id]
		}
		for _, cl := range p.Classifiers {
			if c != nil {
				break
			}
			src := endpointOf(netip.AddrPortFrom(cl.Src, cl.SrcPort))
			dst := endpointOf(netip.AddrPortFrom(cl.Dst, cl.DstPort))
			c = a.owners.ownerOf(src, dst, m.First)
		}
		if c == nil && p.HasGateID {
			c = a.cops.gates[gateKey{router, p.GateID}]
		}
		a.setTrans(transKey{ck, p.TransactionID}, c)
		if c != nil {
			a.adopt(transKey{ck, p.TransactionID}, c, router)
		}
	case cops.GateDelete:
		m.Kind = flow.GateDelete
		c = a.cops.gates[gateKey{router, p.GateID}]
		a.setTrans(transKey{ck, p.TransactionID}, c)
		if c != nil {
			a.adopt(transKey{ck, p.TransactionID}, c, router)
		}
	case cops.GateSetAck, cops.GateDeleteAck, cops.GateSetErr, cops.GateDeleteErr:
		if p.Command == cops.GateSetAck {
			m.Kind = flow.GateSetAck
		}
		if p.Command == cops.GateDeleteAck {
			m.Kind = flow.GateDeleteAck
		}
		tk := transKey{ck, p.TransactionID}
		c = a.cops.trans[tk]
		if c == nil {
			a.cops.early[tk] = append(a.cops.early[tk], m)
		}
		if p.Command == cops.GateSetAck && p.HasGateID && c != nil {
			a.setGate(gateKey{router, p.GateID}, c)
		}
	}
	if c != nil {
		m.CallID = c.ID
	}
	return nil
}
