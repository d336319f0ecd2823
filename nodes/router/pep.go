package router

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/cops"
)

// gateTable is what the PEP needs from a data plane. *Dataplane is the
// real one; the PEP's unit tests use an in-memory table.
type gateTable interface {
	SetGate(Gate) error
	DeleteGate(id uint32) (Counters, error)
	GateCounters(id uint32) (Counters, error)
	Gate(id uint32) (Gate, bool)
	GateFor(f flow.Tuple) (uint32, bool)
}

// pep turns PacketCable Multimedia gate commands into gate table changes
// and builds the replies. It does no I/O of its own and reads time only
// through now, so it can be driven by tests and by the COPS connection.
type pep struct {
	gates gateTable
	now   func() time.Time

	mu        sync.Mutex
	lastID    uint32
	committed map[uint32]time.Time // when each gate was first installed
	calls     map[uint32]string    // SIP Call-ID of each gate, when the policy server gave one
}

// newPEP starts gate ids at a value taken from the clock (milliseconds),
// so that a restarted router does not hand out the ids of its previous
// life: a policy server still holding one (an orphan it will delete) must
// not hit a new gate of another call.
func newPEP(gates gateTable, now func() time.Time) *pep {
	return &pep{gates: gates, now: now, lastID: uint32(now().UnixMilli()),
		committed: map[uint32]time.Time{}, calls: map[uint32]string{}}
}

// callOf returns the SIP Call-ID a gate command belongs to: the one the
// Gate-Set carried (see callIDOf), remembered by gate id so that the
// Gate-Delete, which names only the gate, is logged with it too.
func (p *pep) callOf(cmd *cops.PCMM) string {
	if id := callIDOf(cmd); id != "" {
		return id
	}
	if !cmd.HasGateID {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[cmd.GateID]
}

// maxCallIDLen bounds what is taken for a Call-ID in Opaque Data.
const maxCallIDLen = 1024

// callIDOf reads the SIP Call-ID a policy server may put in a Gate-Set's
// Opaque Data object: the Call-ID as text, NUL-padded to a multiple of 4
// octets (PCMM objects are 32-bit aligned). Anything else is not a Call-ID.
func callIDOf(cmd *cops.PCMM) string {
	b := cmd.Opaque
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	if len(b) == 0 || len(b) > maxCallIDLen {
		return ""
	}
	for _, c := range b {
		if c < 0x21 || c > 0x7e {
			return ""
		}
	}
	return string(b)
}

// handle executes one gate command and returns the reply: the matching
// ...-Ack, or ...-Err carrying a PacketCable Error together with the
// reason (for the log; the wire has only the code).
func (p *pep) handle(cmd *cops.PCMM) (cops.PCMM, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	reply := cops.PCMM{
		TransactionID: cmd.TransactionID,
		Command:       cmd.Command.Ack(),
		HasAMID:       cmd.HasAMID, AMID: cmd.AMID,
		SubscriberID: cmd.SubscriberID,
	}
	var perr *pcmmError
	switch cmd.Command {
	case cops.GateSet:
		perr = p.gateSet(cmd, &reply)
	case cops.GateDelete:
		perr = p.gateDelete(cmd, &reply)
	case cops.GateInfo:
		perr = p.gateInfo(cmd, &reply)
	default:
		return cops.PCMM{TransactionID: cmd.TransactionID, Command: cops.GateCmdErr,
			Error: cops.PCMMError{Code: cops.PCErrUnknownGateCommand}}, fmt.Errorf("router: %s is not a gate command this router takes", cmd.Command)
	}
	if perr != nil {
		reply.Command = cmd.Command.Err()
		reply.Error = cops.PCMMError{Code: perr.code, Subcode: perr.subcode}
		reply.HasGateID, reply.GateID = cmd.HasGateID, cmd.GateID
		return reply, perr
	}
	return reply, nil
}

// pcmmError is a refusal with the PacketCable error code to send back.
type pcmmError struct {
	code    cops.PCMMErrorCode
	subcode uint16 // for Missing/Invalid object: the S-Num concerned
	err     error
}

func (e *pcmmError) Error() string { return fmt.Sprintf("router: %s: %v", e.code, e.err) }

func (e *pcmmError) Unwrap() error { return e.err }

// PacketCable object S-Nums named in error subcodes.
const (
	sNumGateID     = 4
	sNumGateSpec   = 5
	sNumClassifier = 6
)

// gateSet installs or replaces a gate. Without a Gate ID it creates a gate,
// unless a gate with the same classifier exists (a retransmitted
// Gate-Set), which it replaces and acknowledges under its id. With a Gate
// ID it replaces that gate, or installs it under that id: a policy server
// re-installing its gates after the router restarted keeps their ids.
func (p *pep) gateSet(cmd *cops.PCMM, reply *cops.PCMM) *pcmmError {
	g, perr := gateFromPCMM(cmd)
	if perr != nil {
		return perr
	}
	switch {
	case cmd.HasGateID:
		g.ID = cmd.GateID
	default:
		if id, ok := p.gates.GateFor(g.Flow); ok {
			g.ID = id
		} else {
			g.ID = p.newID()
		}
	}
	if err := p.gates.SetGate(g); err != nil {
		return &pcmmError{code: cops.PCErrOther, err: err}
	}
	if _, ok := p.committed[g.ID]; !ok {
		p.committed[g.ID] = p.now()
	}
	if call := callIDOf(cmd); call != "" {
		p.calls[g.ID] = call
	}
	reply.HasGateID, reply.GateID = true, g.ID
	return nil
}

// newID allocates a gate id not in use. Ids are never 0.
func (p *pep) newID() uint32 {
	for {
		p.lastID++
		if p.lastID == 0 {
			continue
		}
		if _, used := p.gates.Gate(p.lastID); !used {
			return p.lastID
		}
	}
}

func (p *pep) gateDelete(cmd *cops.PCMM, reply *cops.PCMM) *pcmmError {
	if !cmd.HasGateID {
		return &pcmmError{code: cops.PCErrMissingObject, subcode: sNumGateID, err: errors.New("Gate-Delete without a Gate ID")}
	}
	c, err := p.gates.DeleteGate(cmd.GateID)
	if errors.Is(err, ErrUnknownGate) {
		return &pcmmError{code: cops.PCErrUnknownGateID, err: err}
	}
	if err != nil {
		return &pcmmError{code: cops.PCErrOther, err: err}
	}
	reply.HasGateID, reply.GateID = true, cmd.GateID
	p.usage(reply, cmd.GateID, c)
	delete(p.committed, cmd.GateID)
	return nil
}

func (p *pep) gateInfo(cmd *cops.PCMM, reply *cops.PCMM) *pcmmError {
	if !cmd.HasGateID {
		return &pcmmError{code: cops.PCErrMissingObject, subcode: sNumGateID, err: errors.New("Gate-Info without a Gate ID")}
	}
	g, ok := p.gates.Gate(cmd.GateID)
	if !ok {
		return &pcmmError{code: cops.PCErrUnknownGateID, err: fmt.Errorf("%w %d", ErrUnknownGate, cmd.GateID)}
	}
	c, err := p.gates.GateCounters(cmd.GateID)
	if err != nil {
		return &pcmmError{code: cops.PCErrOther, err: err}
	}
	reply.HasGateID, reply.GateID = true, g.ID
	reply.HasGateSpec = true
	reply.GateSpec.SetDSCP(g.DSCP)
	reply.Classifiers = []cops.Classifier{classifierOf(g.Flow)}
	reply.HasGateState, reply.GateState = true, cops.GateState{State: gateStateCommitted}
	p.usage(reply, g.ID, c)
	return nil
}

// gateStateCommitted is the PCMM Gate State "committed": traffic is marked.
const gateStateCommitted = 4

// usage fills the usage objects of an Ack: octets in Gate Usage Info,
// packets in qoslab's Opaque Data, seconds since the gate was committed.
func (p *pep) usage(reply *cops.PCMM, id uint32, c Counters) {
	reply.HasGateUsageInfo, reply.GateUsageInfo = true, c.Bytes
	reply.HasUsagePackets, reply.UsagePackets = true, c.Packets
	if t, ok := p.committed[id]; ok {
		reply.HasGateTimeInfo, reply.GateTimeInfo = true, uint32(p.now().Sub(t)/time.Second)
	}
}

// gateFromPCMM reads the flow and DSCP of a Gate-Set. The data plane
// matches exact IPv4 5-tuples (source port may be open), so classifiers
// with address masks or port ranges are refused rather than widened.
func gateFromPCMM(cmd *cops.PCMM) (Gate, *pcmmError) {
	if !cmd.HasGateSpec {
		return Gate{}, &pcmmError{code: cops.PCErrMissingObject, subcode: sNumGateSpec, err: errors.New("Gate-Set without a Gate Spec")}
	}
	switch len(cmd.Classifiers) {
	case 0:
		return Gate{}, &pcmmError{code: cops.PCErrMissingObject, subcode: sNumClassifier, err: errors.New("Gate-Set without a classifier")}
	case 1:
	default:
		return Gate{}, &pcmmError{code: cops.PCErrClassifiersNotSupp, err: fmt.Errorf("%d classifiers, this router takes one per gate", len(cmd.Classifiers))}
	}
	c := cmd.Classifiers[0]
	if c.Extended {
		full := netip.AddrFrom4([4]byte{255, 255, 255, 255})
		if (c.SrcMask.IsValid() && c.SrcMask != full) || (c.DstMask.IsValid() && c.DstMask != full) ||
			(c.SrcPortEnd != 0 && c.SrcPortEnd != c.SrcPort) || (c.DstPortEnd != 0 && c.DstPortEnd != c.DstPort) {
			return Gate{}, &pcmmError{code: cops.PCErrInvalidFieldValue, subcode: sNumClassifier,
				err: fmt.Errorf("classifier %s: address masks and port ranges are not supported", c)}
		}
	}
	if c.Proto > 255 {
		return Gate{}, &pcmmError{code: cops.PCErrInvalidFieldValue, subcode: sNumClassifier, err: fmt.Errorf("classifier protocol %d", c.Proto)}
	}
	dscp, ok := cmd.GateSpec.DSCP()
	if !ok {
		dscp = DSCPDefault // no DSCP overwrite: the gate admits the flow as best effort
	}
	g := Gate{DSCP: dscp, Flow: flow.Tuple{Proto: uint8(c.Proto), Src: netip.AddrPortFrom(c.Src, c.SrcPort), Dst: netip.AddrPortFrom(c.Dst, c.DstPort)}}
	probe := g
	probe.ID = 1 // the id is chosen later; validate everything else now
	if err := probe.Validate(); err != nil {
		return Gate{}, &pcmmError{code: cops.PCErrInvalidFieldValue, subcode: sNumClassifier, err: err}
	}
	return g, nil
}

// classifierOf renders a gate's flow as a PCMM classifier (Gate-Info-Ack).
func classifierOf(f flow.Tuple) cops.Classifier {
	return cops.Classifier{Proto: uint16(f.Proto), Src: f.Src.Addr(), Dst: f.Dst.Addr(), SrcPort: f.Src.Port(), DstPort: f.Dst.Port(), Priority: 64}
}

// forgetCall drops the Call-ID of a gate that a successful Gate-Delete
// removed; it runs after the reply is logged.
func (p *pep) forgetCall(cmd, reply *cops.PCMM) {
	if cmd.Command != cops.GateDelete || reply.Command != cops.GateDeleteAck {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.calls, cmd.GateID)
}
