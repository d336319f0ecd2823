package pdp

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/cops"
)

// MachineConfig configures a Machine.
type MachineConfig struct {
	// Node is this policy server's node name; it prefixes usage record ids.
	Node string
	// DSCP the gates mark with when the grant names no class, or one
	// DSCPOf does not know (default DSCPExpedited).
	DSCP uint8
	// DSCPOf maps a granted DiffServ class ("EF", "AF41", "BE") to its
	// code point (nil: every class gets DSCP). It must be a pure function.
	DSCPOf func(class string) (uint8, bool)
	// GateInfoEvery is how often the gates of calls in progress are polled
	// with Gate-Info for their counters (0: never). The last figures of a
	// gate the router loses in a restart then still count in the usage.
	GateInfoEvery time.Duration
	// SetupTimeout ends a call admitted but never given its gate nor
	// released after this long (default 10 minutes, well beyond SIP's 3
	// minute INVITE timer): a proxy that forgot a call must not make the
	// policy server keep it for ever.
	SetupTimeout time.Duration
	// UsageRetryMin and UsageRetryMax bound the exponential backoff between
	// delivery attempts of a usage record (defaults 250ms and 30s).
	UsageRetryMin, UsageRetryMax time.Duration
}

// Machine is the policy server's per-call state: every call of the proxy,
// the gates installed for them on the router, the outstanding router
// transactions and the usage records not yet confirmed. It is a pure state
// machine: Step takes one event and returns the actions to perform. It is
// not safe for concurrent use; the driver feeds it from one goroutine.
type Machine struct {
	cfg      MachineConfig
	calls    map[CallKey]*call
	txns     map[uint16]txn
	lastTxn  uint16
	routerUp bool
	usage    map[string]*pendingUsage
	// orphans are gates the router may still hold that no call owns: the
	// value is the Gate-Delete's transaction, 0 until one is sent.
	orphans map[uint32]uint16
	// lastInfo is when the gates were last polled with Gate-Info.
	lastInfo time.Time
	out      []Action
}

// call is one call on one proxy handle.
type call struct {
	key        CallKey
	sess       cops.Session
	start      time.Time
	alert      time.Time // the first REQ LDP sent on a 18x (zero: no alerting)
	connect    time.Time
	authorized bool // AuthAnswered with 2xx seen
	answered   bool // AuthAnswered or AuthFailed seen
	token      []byte
	ospTxn     string
	class      string // DiffServ class granted
	bandwidth  uint64 // bits per second granted
	dscp       uint8  // code point the gate marks with

	gate      Gate     // the gate asked for (valid once a Gate-Set was sent)
	gateID    uint32   // the router's id of the installed gate, 0 if none
	setTxn    uint16   // outstanding Gate-Set, 0 if none
	delTxn    uint16   // outstanding Gate-Delete, 0 if none
	reinstall bool     // the router lost the gate; re-install when it is back
	lostID    uint32   // the id the lost gate had: the re-install asks for it again
	ldpOwed   int      // REQ LDPs waiting for their DEC
	counters  Counters // the current gate's figures at its end
	base      Counters // figures of gates the router lost, as last polled
	polled    Counters // the current gate's figures at the last Gate-Info
	infoTxn   uint16   // outstanding Gate-Info, 0 if none
	lost      bool     // some figures were lost with the router

	release *release // set once the call is to end
}

// release is a request to end a call.
type release struct {
	at     time.Time
	reason string
	answer bool      // the proxy handle is alive and waits for a DEC Remove
	by     flow.Side // whose BYE released the call, zero when unknown
}

type txnOp uint8

const (
	opSet txnOp = iota + 1
	opReinstall
	opDelete
	opInfo
	opOrphanDelete // deleting a gate no call owns any more
)

// txn is an outstanding PCMM transaction with the router.
type txn struct {
	op     txnOp
	key    CallKey
	gateID uint32 // the gate a Gate-Delete deletes
}

// pendingUsage is a spooled usage record waiting for its confirmation.
type pendingUsage struct {
	rec      UsageRecord
	attempts int
}

// NewMachine returns an empty Machine. The router counts as disconnected
// until a RouterUp event.
func NewMachine(cfg MachineConfig) *Machine {
	if cfg.DSCP == 0 {
		cfg.DSCP = DSCPExpedited
	}
	if cfg.SetupTimeout <= 0 {
		cfg.SetupTimeout = 10 * time.Minute
	}
	if cfg.UsageRetryMin <= 0 {
		cfg.UsageRetryMin = 250 * time.Millisecond
	}
	if cfg.UsageRetryMax < cfg.UsageRetryMin {
		cfg.UsageRetryMax = max(30*time.Second, cfg.UsageRetryMin)
	}
	return &Machine{
		cfg:     cfg,
		calls:   make(map[CallKey]*call),
		txns:    make(map[uint16]txn),
		usage:   make(map[string]*pendingUsage),
		orphans: make(map[uint32]uint16),
	}
}

// Calls returns the number of calls the machine holds (for tests and
// metrics).
func (m *Machine) Calls() int { return len(m.calls) }

// PendingUsage returns the number of usage records not yet confirmed.
func (m *Machine) PendingUsage() int { return len(m.usage) }

// Step applies one event and returns the actions to perform, in order.
func (m *Machine) Step(ev Event) []Action {
	m.out = nil
	switch ev := ev.(type) {
	case ReqAAA:
		m.reqAAA(ev)
	case AuthAnswered:
		m.authAnswered(ev)
	case AuthFailed:
		m.authFailed(ev)
	case ReqLDP:
		m.reqLDP(ev)
	case GateSetAcked:
		m.gateSetAcked(ev)
	case GateSetFailed:
		m.gateSetFailed(ev)
	case ReqNoLDP:
		m.reqNoLDP(ev)
	case GateDeleteAcked:
		m.gateDeleteDone(ev.TransID, ev.Counters, "", false)
	case GateDeleteFailed:
		m.gateDeleteDone(ev.TransID, Counters{}, ev.Reason, ev.NoAnswer)
	case GateInfoAcked:
		m.infoDone(ev.TransID, &ev.Counters)
	case GateInfoFailed:
		m.infoDone(ev.TransID, nil)
	case GatesLoaded:
		// After a restart no call owns any gate the previous run left.
		for _, id := range ev.IDs {
			m.orphan(id, true)
		}
	case Deleted:
		if c := m.calls[ev.Key]; c != nil {
			m.endWithoutAnswer(c, ev.At, "deleted by proxy: "+ev.Reason)
		}
	case ProxyLost:
		for _, c := range m.sortedCalls() {
			if c.key.Conn == ev.Conn {
				m.endWithoutAnswer(c, ev.At, "proxy disconnected")
			}
		}
	case Tick:
		m.poll(ev.At)
		for _, c := range m.sortedCalls() {
			stuck := c.release == nil && c.connect.IsZero() && c.gateID == 0 && c.setTxn == 0 && c.answered
			if stuck && ev.At.Sub(c.start) > m.cfg.SetupTimeout {
				m.emit(Warn{CallID: c.sess.CallID, Msg: "call admitted but neither connected nor released: ending it"})
				m.endWithoutAnswer(c, ev.At, "setup timed out")
			}
		}
	case RouterDown:
		m.routerDown(ev)
	case RouterUp:
		m.routerUpEv()
	case UsageConfirmed:
		delete(m.usage, ev.RecordID)
		m.emit(Unspool{RecordID: ev.RecordID})
	case UsageFailed:
		m.usageFailed(ev)
	case SpoolLoaded:
		for _, r := range ev.Records {
			if _, ok := m.usage[r.ID]; ok {
				continue
			}
			m.usage[r.ID] = &pendingUsage{rec: r}
			m.emit(SendUsage{Record: r, Label: sent(r.Side, flow.InTeardown(flow.OSPUsageInd))})
		}
	default:
		panic(fmt.Sprintf("pdp: unknown event %T", ev))
	}
	return m.out
}

func (m *Machine) emit(a Action) { m.out = append(m.out, a) }

func (m *Machine) reqAAA(ev ReqAAA) {
	if c := m.calls[ev.Key]; c != nil {
		m.emit(SendDecision{Key: ev.Key, For: cops.KindAAA, CallID: ev.Session.CallID, Status: 400,
			Reason: "AAA repeated on a handle already in use"})
		return
	}
	if ev.Session.Side != flow.Originating && ev.Session.Side != flow.Terminating {
		m.emit(SendDecision{Key: ev.Key, For: cops.KindAAA, CallID: ev.Session.CallID, Status: 400,
			Reason: "session information names no side"})
		return
	}
	c := &call{key: ev.Key, sess: ev.Session, start: ev.At}
	m.calls[ev.Key] = c
	m.emit(SendAuthRequest{Key: ev.Key, Label: c.sent(flow.InSetup(flow.OSPAuthReq)), Session: ev.Session})
}

func (m *Machine) authAnswered(ev AuthAnswered) {
	c := m.calls[ev.Key]
	if c == nil || c.answered {
		m.emit(Warn{Msg: fmt.Sprintf("authorisation answer for handle %s that is not waiting for one", ev.Key)})
		return
	}
	c.answered = true
	ok := ev.Status >= 200 && ev.Status < 300
	if ok {
		c.authorized = true
		c.token = ev.Token
		c.ospTxn = ev.TransactionID
		c.class = cmp.Or(ev.Class, c.sess.Class)
		c.bandwidth = cmp.Or(ev.Bandwidth, c.sess.Bandwidth)
		c.dscp = m.cfg.DSCP
		if m.cfg.DSCPOf != nil && c.class != "" {
			if d, ok := m.cfg.DSCPOf(c.class); ok {
				c.dscp = d
			}
		}
	}
	if c.release != nil {
		m.tryRelease(c)
		return
	}
	if ok {
		m.emit(SendDecision{Key: c.key, For: cops.KindAAA, CallID: c.sess.CallID, Label: c.sent(flow.InSetup(flow.COPSDecInstall).Answers(flow.COPSReqAAA)),
			Install: true, Token: ev.Token, Status: ev.Status})
		return
	}
	// The status travels in the result too; the reason repeats it with the
	// refuser's text ("403 premium numbers barred", as OSP prints a
	// status), for the proxy's SIP Reason header.
	reason := fmt.Sprintf("%d %s", ev.Status, cmp.Or(ev.Reason, "refused by the clearinghouse"))
	m.deny(c, ev.Status, reason)
}

func (m *Machine) authFailed(ev AuthFailed) {
	c := m.calls[ev.Key]
	if c == nil || c.answered {
		m.emit(Warn{Msg: fmt.Sprintf("authorisation failure for handle %s that is not waiting for one", ev.Key)})
		return
	}
	c.answered = true
	if c.release != nil {
		m.tryRelease(c)
		return
	}
	// Fail closed: no authorisation, no call. 503 tells the proxy to
	// answer the caller 503 Service Unavailable, not 403.
	m.deny(c, 503, "503 clearinghouse unreachable: "+ev.Err)
}

// deny answers the AAA with DEC Remove and forgets the call: a refused
// call never has gates or usage.
func (m *Machine) deny(c *call, status int, reason string) {
	m.emit(SendDecision{Key: c.key, For: cops.KindAAA, CallID: c.sess.CallID, Label: c.sent(flow.InSetup(flow.COPSDecInstall).Answers(flow.COPSReqAAA)),
		Status: status, Reason: reason})
	delete(m.calls, c.key)
}

func (m *Machine) reqLDP(ev ReqLDP) {
	c := m.calls[ev.Key]
	if c == nil {
		m.emit(SendDecision{Key: ev.Key, For: cops.KindLDP, Status: 400, Reason: "LDP on a handle with no admitted call"})
		return
	}
	refuse := func(status int, reason string) {
		m.emit(SendDecision{Key: c.key, For: cops.KindLDP, CallID: c.sess.CallID, Label: c.sent(flow.InSetup(flow.COPSDecInstall).Answers(flow.COPSReqLDP)),
			Status: status, Reason: reason})
	}
	if ev.Alerting && c.alert.IsZero() && c.release == nil {
		c.alert = ev.At
	}
	switch {
	case !c.authorized:
		refuse(400, "LDP before the call was admitted")
		return
	case c.release != nil:
		refuse(400, "LDP after the call was released")
		return
	case c.setTxn != 0:
		// The gate is on its way (a 180 and a 200 both asked): answer
		// this one too when the router acknowledges.
		c.ldpOwed++
		return
	}
	entering, ok := enteringFlow(c.sess.Side, ev.Media)
	if !ok {
		refuse(400, fmt.Sprintf("no media flow enters the network at the %s side", c.sess.Side))
		return
	}
	gate := Gate{Classifier: entering, DSCP: c.dscp, Bandwidth: c.bandwidth}
	if c.gateID != 0 && gate == c.gate {
		m.emit(SendDecision{Key: c.key, For: cops.KindLDP, CallID: c.sess.CallID, Label: c.sent(flow.InSetup(flow.COPSDecInstall).Answers(flow.COPSReqLDP)), Install: true})
		return
	}
	if !m.routerUp {
		refuse(503, "router not connected")
		return
	}
	c.gate = gate
	c.reinstall = false
	c.ldpOwed = 1
	c.setTxn = m.newTxn(txn{op: opSet, key: c.key})
	m.emit(SendGateSet{TransID: c.setTxn, CallID: c.sess.CallID, Label: c.sent(flow.InSetup(flow.GateSet)),
		GateID: c.gateID, Gate: gate})
}

// enteringFlow picks the media flow that enters the network at this side's
// router: the caller's media on the originating side, the callee's on the
// terminating side.
func enteringFlow(s flow.Side, media []cops.MediaFlow) (flow.Tuple, bool) {
	for _, f := range media {
		if (f.Dir == cops.Forward) == (s == flow.Originating) {
			return f.Tuple, true
		}
	}
	return flow.Tuple{}, false
}

func (m *Machine) gateSetAcked(ev GateSetAcked) {
	t, ok := m.txns[ev.TransID]
	c := m.calls[t.key]
	if !ok || c == nil || c.setTxn != ev.TransID {
		// A gate nobody owns (its Gate-Set was given up on): delete it so
		// that nothing stays marked without a call.
		delete(m.txns, ev.TransID)
		m.emit(Warn{Msg: fmt.Sprintf("Gate-Set-Ack for unknown transaction %d: deleting gate %d", ev.TransID, ev.GateID)})
		if ev.GateID != 0 {
			m.emit(RecordGate{GateID: ev.GateID})
			m.orphan(ev.GateID, true)
		}
		return
	}
	delete(m.txns, ev.TransID)
	c.setTxn = 0
	c.gateID = ev.GateID
	if ev.GateID != 0 {
		m.emit(RecordGate{GateID: ev.GateID, CallID: c.sess.CallID})
	}
	if t.op == opReinstall {
		if c.lostID != 0 && c.lostID != ev.GateID {
			m.orphan(c.lostID, true)
		}
		c.lostID = 0
	}
	if c.connect.IsZero() && c.release == nil {
		// Connected: the gate is in and the call still wanted. A gate
		// that arrives after the BYE never carried the call.
		c.connect = ev.At
	}
	if c.release != nil {
		m.tryRelease(c)
		return
	}
	if t.op == opSet {
		for ; c.ldpOwed > 0; c.ldpOwed-- {
			m.emit(SendDecision{Key: c.key, For: cops.KindLDP, CallID: c.sess.CallID, Label: c.sent(flow.InSetup(flow.COPSDecInstall).Answers(flow.COPSReqLDP)), Install: true})
		}
	}
}

func (m *Machine) gateSetFailed(ev GateSetFailed) {
	t, ok := m.txns[ev.TransID]
	if ok && t.op == opInfo {
		m.infoDone(ev.TransID, nil)
		return
	}
	if ok && (t.op == opDelete || t.op == opOrphanDelete) {
		// A Gate-Cmd-Err names only the transaction: it may answer a
		// Gate-Delete.
		m.gateDeleteDone(ev.TransID, Counters{}, ev.Reason, ev.NoAnswer)
		return
	}
	c := m.calls[t.key]
	if !ok || c == nil || c.setTxn != ev.TransID {
		delete(m.txns, ev.TransID)
		m.emit(Warn{Msg: fmt.Sprintf("Gate-Set failure for unknown transaction %d: %s", ev.TransID, ev.Reason)})
		return
	}
	delete(m.txns, ev.TransID)
	c.setTxn = 0
	if t.op == opReinstall && c.lostID != 0 {
		// The router may still hold the old gate: delete it, now if it
		// answered, at its next connection if it is silent.
		m.orphan(c.lostID, !ev.NoAnswer)
		c.lostID = 0
	}
	m.setFailed(c, t.op, ev.Reason)
}

// setFailed handles a Gate-Set that will never be acknowledged.
func (m *Machine) setFailed(c *call, op txnOp, reason string) {
	if op == opReinstall {
		m.emit(Warn{CallID: c.sess.CallID, Msg: "gate re-install failed, media of the call is no longer marked: " + reason})
	}
	if c.release != nil {
		m.tryRelease(c)
		return
	}
	if op == opSet {
		for ; c.ldpOwed > 0; c.ldpOwed-- {
			m.emit(SendDecision{Key: c.key, For: cops.KindLDP, CallID: c.sess.CallID, Label: c.sent(flow.InSetup(flow.COPSDecInstall).Answers(flow.COPSReqLDP)),
				Status: 503, Reason: "router refused the gate: " + reason})
		}
	}
}

func (m *Machine) reqNoLDP(ev ReqNoLDP) {
	c := m.calls[ev.Key]
	if c == nil {
		m.emit(SendDecision{Key: ev.Key, For: cops.KindNoLDP, Reason: "released: no call on this handle"})
		return
	}
	if c.release != nil {
		if !c.release.answer {
			return
		}
		m.emit(Warn{CallID: c.sess.CallID, Msg: "noLDP repeated while the release is in progress"})
		return
	}
	c.release = &release{at: ev.At, reason: "released", answer: true, by: ev.ReleasedBy}
	m.tryRelease(c)
}

// endWithoutAnswer ends a call whose proxy handle is gone (DRQ or proxy
// connection lost): the gate is removed and usage reported, but no DEC.
func (m *Machine) endWithoutAnswer(c *call, at time.Time, reason string) {
	if c.release != nil {
		c.release.answer = false
		return
	}
	c.release = &release{at: at, reason: reason}
	m.tryRelease(c)
}

// tryRelease moves a call that is to end one step on: wait for what is
// outstanding, delete the gate, then finish.
func (m *Machine) tryRelease(c *call) {
	r := c.release
	if !c.answered || c.setTxn != 0 || c.delTxn != 0 {
		return // the answer to what is outstanding continues the release
	}
	if c.gateID != 0 {
		if m.routerUp {
			c.delTxn = m.newTxn(txn{op: opDelete, key: c.key, gateID: c.gateID})
			// After a DRQ or a lost proxy connection too: on the wire it is
			// the Gate-Delete of a noLDP.
			m.emit(SendGateDelete{TransID: c.delTxn, CallID: c.sess.CallID, Label: c.sent(flow.InTeardown(flow.GateDelete)), GateID: c.gateID, Gate: c.gate})
			return
		}
		c.gateID = 0
		c.lost = true
	}
	m.finish(c, r)
}

// finish spools the call's usage (if it was authorised), answers the proxy
// and starts delivering the usage record. The spool write comes first: once
// the proxy has its DEC the record must already be durable.
func (m *Machine) finish(c *call, r *release) {
	delete(m.calls, c.key)
	if c.lostID != 0 {
		// The gate went away with the router connection; if the router
		// only lost the connection, not its table, it still marks.
		m.orphan(c.lostID, true)
	}
	var rec *UsageRecord
	if c.authorized {
		u := m.usageRecord(c, r)
		rec = &u
		m.usage[u.ID] = &pendingUsage{rec: u}
		m.emit(SpoolUsage{Record: u})
	}
	if r.answer {
		m.emit(SendDecision{Key: c.key, For: cops.KindNoLDP, CallID: c.sess.CallID, Label: c.sent(flow.InTeardown(flow.COPSDecRemove).Answers(flow.COPSReqNoLDP)), Reason: r.reason})
	}
	if rec != nil {
		m.emit(SendUsage{Record: *rec, Label: c.sent(flow.InTeardown(flow.OSPUsageInd))})
	}
}

func (m *Machine) usageRecord(c *call, r *release) UsageRecord {
	u := UsageRecord{
		ID:            fmt.Sprintf("%s/%s/%s/%d", m.cfg.Node, c.sess.Side, c.sess.CallID, c.start.UnixNano()),
		Node:          m.cfg.Node,
		CallID:        c.sess.CallID,
		Side:          c.sess.Side,
		Caller:        c.sess.Caller,
		Callee:        c.sess.Callee,
		TransactionID: c.ospTxn,
		Class:         c.class,
		Bandwidth:     c.bandwidth,
		Start:         c.start,
		Alert:         c.alert,
		Connect:       c.connect,
		End:           r.at,
		Counters:      Counters{Packets: c.base.Packets + c.counters.Packets, Bytes: c.base.Bytes + c.counters.Bytes},
		CountersLost:  c.lost,
		Reason:        r.reason,
		ReleasedBy:    r.by,
	}
	if !c.connect.IsZero() && r.at.After(c.connect) {
		u.Duration = r.at.Sub(c.connect)
	}
	return u
}

func (m *Machine) gateDeleteDone(id uint16, counters Counters, failure string, noAnswer bool) {
	t, ok := m.txns[id]
	delete(m.txns, id)
	if ok {
		if noAnswer {
			// The router may still hold it: try again when it is back.
			m.orphans[t.gateID] = 0
		} else {
			// Deleted, or the router says it has no such gate.
			delete(m.orphans, t.gateID)
			m.emit(ForgetGate{GateID: t.gateID})
		}
	}
	if ok && t.op == opOrphanDelete {
		return
	}
	c := m.calls[t.key]
	if !ok || c == nil || c.delTxn != id {
		m.emit(Warn{Msg: fmt.Sprintf("Gate-Delete answer for unknown transaction %d", id)})
		return
	}
	c.delTxn = 0
	c.gateID = 0
	if failure != "" {
		c.lost = true
		c.counters = c.polled
		m.emit(Warn{CallID: c.sess.CallID, Msg: "Gate-Delete failed, usage with the last polled counters: " + failure})
	} else {
		c.counters = counters
	}
	m.tryRelease(c)
}

func (m *Machine) routerDown(ev RouterDown) {
	if !m.routerUp {
		return
	}
	m.routerUp = false
	for id, t := range m.txns {
		switch t.op {
		case opOrphanDelete:
			delete(m.txns, id)
			m.orphans[t.gateID] = 0
		case opInfo:
			delete(m.txns, id)
		}
	}
	for _, c := range m.sortedCalls() {
		// A router that comes back starts from a clean table: every gate
		// of this connection is gone, and so are its counters.
		c.infoTxn = 0
		if c.gateID != 0 || c.setTxn != 0 || c.delTxn != 0 {
			c.lost = true
			// What the lost gate counted up to the last poll still counts.
			c.base.Packets += c.polled.Packets
			c.base.Bytes += c.polled.Bytes
			c.polled = Counters{}
		}
		if c.gateID != 0 || (c.setTxn != 0 && m.txns[c.setTxn].op == opReinstall) {
			c.reinstall = true
			if c.gateID != 0 {
				c.lostID = c.gateID
			}
		}
		c.gateID = 0
		if c.delTxn != 0 {
			m.orphans[m.txns[c.delTxn].gateID] = 0
			delete(m.txns, c.delTxn)
			c.delTxn = 0
			m.tryRelease(c)
			continue
		}
		if c.setTxn != 0 {
			op := m.txns[c.setTxn].op
			delete(m.txns, c.setTxn)
			c.setTxn = 0
			m.setFailed(c, op, "router connection lost")
		}
	}
}

func (m *Machine) routerUpEv() {
	if m.routerUp {
		return
	}
	m.routerUp = true
	for _, c := range m.sortedCalls() {
		if !c.reinstall || c.release != nil {
			continue
		}
		c.reinstall = false
		c.setTxn = m.newTxn(txn{op: opReinstall, key: c.key})
		m.emit(SendGateSet{TransID: c.setTxn, CallID: c.sess.CallID, Label: c.sent(flow.InSetup(flow.GateSet)), GateID: c.lostID, Gate: c.gate})
	}
	ids := make([]uint32, 0, len(m.orphans))
	for id, t := range m.orphans {
		if t == 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		m.sendOrphanDelete(id)
	}
}

// orphan notes a gate the router may hold that no call owns, and deletes
// it now when now is set and the router is connected (otherwise at the
// next RouterUp).
func (m *Machine) orphan(id uint32, now bool) {
	if id == 0 {
		return
	}
	if t, ok := m.orphans[id]; ok && t != 0 {
		return // a Gate-Delete is on its way
	}
	m.orphans[id] = 0
	if now && m.routerUp {
		m.sendOrphanDelete(id)
	}
}

func (m *Machine) sendOrphanDelete(id uint32) {
	t := m.newTxn(txn{op: opOrphanDelete, gateID: id})
	m.orphans[id] = t
	m.emit(SendGateDelete{TransID: t, GateID: id})
}

func (m *Machine) usageFailed(ev UsageFailed) {
	p := m.usage[ev.RecordID]
	if p == nil {
		m.emit(Warn{Msg: "delivery failure for unknown usage record " + ev.RecordID})
		return
	}
	p.attempts++
	m.emit(SendUsage{Record: p.rec, Label: sent(p.rec.Side, flow.InTeardown(flow.OSPUsageInd)), Delay: m.backoff(p.attempts)})
}

// backoff is the delay before attempt n+1 after n failures: doubling from
// UsageRetryMin, capped at UsageRetryMax.
func (m *Machine) backoff(n int) time.Duration {
	d := m.cfg.UsageRetryMin
	for i := 1; i < n && d < m.cfg.UsageRetryMax; i++ {
		d *= 2
	}
	return min(d, m.cfg.UsageRetryMax)
}

// newTxn allocates a PCMM transaction id not in use (never 0).
func (m *Machine) newTxn(t txn) uint16 {
	for {
		m.lastTxn++
		if _, busy := m.txns[m.lastTxn]; m.lastTxn != 0 && !busy {
			m.txns[m.lastTxn] = t
			return m.lastTxn
		}
	}
}

// sortedCalls lists the calls in a fixed order, so that the actions of an
// event touching many calls do not depend on map iteration.
func (m *Machine) sortedCalls() []*call {
	out := make([]*call, 0, len(m.calls))
	for _, c := range m.calls {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *call) int {
		return cmp.Or(cmp.Compare(a.key.Conn, b.key.Conn), cmp.Compare(a.key.Handle, b.key.Handle))
	})
	return out
}

// Describe says which call an incoming event belongs to and where it sits
// in docs/FLOW.md, for the driver's message log. Call it before Step: the event
// may end the call.
func (m *Machine) Describe(ev Event) (callID string, l Label) {
	byKey := func(k CallKey) *call { return m.calls[k] }
	byTxn := func(id uint16) (*call, txnOp) {
		t, ok := m.txns[id]
		if !ok {
			return nil, 0
		}
		return m.calls[t.key], t.op
	}
	switch ev := ev.(type) {
	case ReqAAA:
		return ev.Session.CallID, received(ev.Session.Side, flow.InSetup(flow.COPSReqAAA))
	case AuthAnswered:
		if c := byKey(ev.Key); c != nil {
			return c.sess.CallID, c.received(flow.InSetup(flow.OSPAuthResp))
		}
	case AuthFailed:
		if c := byKey(ev.Key); c != nil {
			return c.sess.CallID, Label{}
		}
	case ReqLDP:
		if c := byKey(ev.Key); c != nil {
			return c.sess.CallID, c.received(flow.InSetup(flow.COPSReqLDP))
		}
	case ReqNoLDP:
		if c := byKey(ev.Key); c != nil {
			return c.sess.CallID, c.received(flow.InTeardown(flow.COPSReqNoLDP))
		}
	case Deleted:
		if c := byKey(ev.Key); c != nil {
			return c.sess.CallID, Label{}
		}
	case GateSetAcked:
		if c, op := byTxn(ev.TransID); c != nil {
			if op == opSet || op == opReinstall {
				return c.sess.CallID, c.received(flow.InSetup(flow.GateSetAck))
			}
			return c.sess.CallID, Label{}
		}
	case GateSetFailed:
		if c, _ := byTxn(ev.TransID); c != nil {
			return c.sess.CallID, Label{}
		}
	case GateDeleteAcked:
		if c, _ := byTxn(ev.TransID); c != nil {
			return c.sess.CallID, c.received(flow.InTeardown(flow.GateDeleteAck))
		}
	case GateDeleteFailed:
		if c, _ := byTxn(ev.TransID); c != nil {
			return c.sess.CallID, Label{}
		}
	case GateInfoAcked:
		if c, _ := byTxn(ev.TransID); c != nil {
			return c.sess.CallID, Label{}
		}
	case UsageConfirmed:
		if p := m.usage[ev.RecordID]; p != nil {
			return p.rec.CallID, received(p.rec.Side, flow.InTeardown(flow.OSPUsageConf))
		}
	}
	return "", Label{}
}

// poll sends a Gate-Info for every installed gate not busy with another
// command, at most every GateInfoEvery.
func (m *Machine) poll(now time.Time) {
	if m.cfg.GateInfoEvery <= 0 || !m.routerUp || now.Sub(m.lastInfo) < m.cfg.GateInfoEvery {
		return
	}
	m.lastInfo = now
	for _, c := range m.sortedCalls() {
		if c.gateID == 0 || c.setTxn != 0 || c.delTxn != 0 || c.infoTxn != 0 || c.release != nil {
			continue
		}
		c.infoTxn = m.newTxn(txn{op: opInfo, key: c.key, gateID: c.gateID})
		m.emit(SendGateInfo{TransID: c.infoTxn, CallID: c.sess.CallID, GateID: c.gateID})
	}
}

// infoDone takes a Gate-Info answer (counters nil: it failed).
func (m *Machine) infoDone(id uint16, counters *Counters) {
	t, ok := m.txns[id]
	if !ok || t.op != opInfo {
		return
	}
	delete(m.txns, id)
	c := m.calls[t.key]
	if c == nil || c.infoTxn != id {
		return // the call ended meanwhile
	}
	c.infoTxn = 0
	if counters != nil && c.gateID == t.gateID {
		c.polled = *counters
	}
}
