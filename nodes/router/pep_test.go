package router

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/cops"
)

// memTable is an in-memory gate table for the PEP's root-free tests: it
// keeps gates and hands out counters set by the test.
type memTable struct {
	gates    map[uint32]Gate
	counters map[uint32]Counters
	fail     error
}

func newMemTable() *memTable {
	return &memTable{gates: map[uint32]Gate{}, counters: map[uint32]Counters{}}
}

func (m *memTable) SetGate(g Gate) error {
	if err := g.Validate(); err != nil {
		return err
	}
	if m.fail != nil {
		return m.fail
	}
	m.gates[g.ID] = g
	return nil
}

func (m *memTable) DeleteGate(id uint32) (Counters, error) {
	if _, ok := m.gates[id]; !ok {
		return Counters{}, ErrUnknownGate
	}
	delete(m.gates, id)
	return m.counters[id], nil
}

func (m *memTable) GateCounters(id uint32) (Counters, error) { return m.counters[id], nil }

func (m *memTable) Gate(id uint32) (Gate, bool) { g, ok := m.gates[id]; return g, ok }

func (m *memTable) GateFor(f flow.Tuple) (uint32, bool) {
	for id, g := range m.gates {
		if g.Flow == f {
			return id, true
		}
	}
	return 0, false
}

var (
	uacAddr = netip.MustParseAddr("198.18.1.2")
	uasAddr = netip.MustParseAddr("198.18.4.2")
)

// gateSetCmd is a Gate-Set as the policy server sends it (nodes/pdp).
func gateSetCmd(txn uint16) *cops.PCMM {
	p := &cops.PCMM{
		TransactionID: txn, Command: cops.GateSet,
		HasAMID: true, AMID: cops.AMID{AppType: 0x5153, Tag: 1},
		SubscriberID: uacAddr, HasGateSpec: true,
		Classifiers: []cops.Classifier{{Proto: 17, Src: uacAddr, SrcPort: 20000, Dst: uasAddr, DstPort: 30000, Priority: 64}},
	}
	p.GateSpec.SetDSCP(DSCPEF)
	return p
}

// fakeClock is a settable time source.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// roundTrip sends a reply through the COPS codec, as the wire would.
func roundTrip(t *testing.T, p cops.PCMM) cops.PCMM {
	t.Helper()
	b, err := p.AppendTo(nil)
	if err != nil {
		t.Fatalf("encode %s: %v", p.String(), err)
	}
	var out cops.PCMM
	if err := out.Decode(b); err != nil {
		t.Fatalf("decode %s: %v", p.String(), err)
	}
	return out
}

func TestPEPGateLifecycle(t *testing.T) {
	tbl := newMemTable()
	clk := &fakeClock{t: time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)}
	p := newPEP(tbl, clk.now)

	reply, err := p.handle(gateSetCmd(1))
	if err != nil {
		t.Fatal(err)
	}
	ack := roundTrip(t, reply)
	if ack.Command != cops.GateSetAck || ack.TransactionID != 1 || !ack.HasGateID || ack.GateID == 0 {
		t.Fatalf("Gate-Set answered %s", ack.String())
	}
	id := ack.GateID
	want := Gate{ID: id, DSCP: DSCPEF, Flow: flow.Tuple{Proto: 17, Src: netip.AddrPortFrom(uacAddr, 20000), Dst: netip.AddrPortFrom(uasAddr, 30000)}}
	if g := tbl.gates[id]; g != want {
		t.Fatalf("installed %+v, want %+v", g, want)
	}

	// A retransmitted Gate-Set (no Gate ID, same classifier) is the same gate.
	again, _ := p.handle(gateSetCmd(2))
	if again.Command != cops.GateSetAck || again.GateID != id || len(tbl.gates) != 1 {
		t.Fatalf("retransmission answered %s with %d gates", again.String(), len(tbl.gates))
	}

	// Gate-Set naming the gate replaces it.
	mod := gateSetCmd(3)
	mod.HasGateID, mod.GateID = true, id
	mod.Classifiers[0].SrcPort = 20002
	if r, err := p.handle(mod); err != nil || r.GateID != id {
		t.Fatalf("replace answered %s, %v", r.String(), err)
	}
	if tbl.gates[id].Flow.Src.Port() != 20002 || len(tbl.gates) != 1 {
		t.Fatalf("after replace: %+v", tbl.gates)
	}

	tbl.counters[id] = Counters{Packets: 250, Bytes: 250 * 200}
	info, err := p.handle(&cops.PCMM{TransactionID: 4, Command: cops.GateInfo, HasGateID: true, GateID: id})
	if err != nil {
		t.Fatal(err)
	}
	info = roundTrip(t, info)
	if info.Command != cops.GateInfoAck || info.UsagePackets != 250 || info.GateUsageInfo != 50000 || len(info.Classifiers) != 1 {
		t.Fatalf("Gate-Info answered %s", info.String())
	}

	clk.t = clk.t.Add(95 * time.Second)
	del, err := p.handle(&cops.PCMM{TransactionID: 5, Command: cops.GateDelete, HasGateID: true, GateID: id, HasAMID: true, AMID: cops.AMID{AppType: 0x5153, Tag: 1}})
	if err != nil {
		t.Fatal(err)
	}
	del = roundTrip(t, del)
	if del.Command != cops.GateDeleteAck || del.TransactionID != 5 || del.GateID != id {
		t.Fatalf("Gate-Delete answered %s", del.String())
	}
	if !del.HasUsagePackets || del.UsagePackets != 250 || !del.HasGateUsageInfo || del.GateUsageInfo != 50000 {
		t.Fatalf("Gate-Delete-Ack usage: packets %d bytes %d", del.UsagePackets, del.GateUsageInfo)
	}
	if !del.HasGateTimeInfo || del.GateTimeInfo != 95 {
		t.Fatalf("Gate-Delete-Ack time info %d (present %v), want 95 s", del.GateTimeInfo, del.HasGateTimeInfo)
	}
	if len(tbl.gates) != 0 {
		t.Fatalf("gate left after delete: %+v", tbl.gates)
	}
}

func TestPEPRefusals(t *testing.T) {
	cases := []struct {
		name    string
		cmd     func() *cops.PCMM
		fail    error
		want    cops.GateCommand
		code    cops.PCMMErrorCode
		subcode uint16
	}{
		{"no classifier", func() *cops.PCMM { p := gateSetCmd(1); p.Classifiers = nil; return p }, nil,
			cops.GateSetErr, cops.PCErrMissingObject, sNumClassifier},
		{"no gate spec", func() *cops.PCMM { p := gateSetCmd(1); p.HasGateSpec = false; return p }, nil,
			cops.GateSetErr, cops.PCErrMissingObject, sNumGateSpec},
		{"two classifiers", func() *cops.PCMM {
			p := gateSetCmd(1)
			p.Classifiers = append(p.Classifiers, p.Classifiers[0])
			return p
		}, nil,
			cops.GateSetErr, cops.PCErrClassifiersNotSupp, 0},
		{"ipv6", func() *cops.PCMM {
			p := gateSetCmd(1)
			p.Classifiers[0].Src = netip.MustParseAddr("2001:db8::1")
			return p
		}, nil, cops.GateSetErr, cops.PCErrInvalidFieldValue, sNumClassifier},
		{"port range", func() *cops.PCMM {
			p := gateSetCmd(1)
			c := &p.Classifiers[0]
			c.Extended, c.DstPortEnd = true, c.DstPort+10
			return p
		}, nil, cops.GateSetErr, cops.PCErrInvalidFieldValue, sNumClassifier},
		{"any protocol", func() *cops.PCMM { p := gateSetCmd(1); p.Classifiers[0].Proto = 0; return p }, nil,
			cops.GateSetErr, cops.PCErrInvalidFieldValue, sNumClassifier},
		{"data plane failure", func() *cops.PCMM { return gateSetCmd(1) }, errors.New("netlink: no buffer space"),
			cops.GateSetErr, cops.PCErrOther, 0},
		{"delete unknown gate", func() *cops.PCMM {
			return &cops.PCMM{TransactionID: 1, Command: cops.GateDelete, HasGateID: true, GateID: 99}
		}, nil,
			cops.GateDeleteErr, cops.PCErrUnknownGateID, 0},
		{"delete without gate id", func() *cops.PCMM { return &cops.PCMM{TransactionID: 1, Command: cops.GateDelete} }, nil,
			cops.GateDeleteErr, cops.PCErrMissingObject, sNumGateID},
		{"info unknown gate", func() *cops.PCMM {
			return &cops.PCMM{TransactionID: 1, Command: cops.GateInfo, HasGateID: true, GateID: 99}
		}, nil,
			cops.GateInfoErr, cops.PCErrUnknownGateID, 0},
		{"not a request", func() *cops.PCMM { return &cops.PCMM{TransactionID: 1, Command: cops.GateSetAck} }, nil,
			cops.GateCmdErr, cops.PCErrUnknownGateCommand, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tbl := newMemTable()
			tbl.fail = c.fail
			p := newPEP(tbl, time.Now)
			reply, err := p.handle(c.cmd())
			if err == nil {
				t.Fatal("no error reported")
			}
			reply = roundTrip(t, reply)
			if reply.Command != c.want || reply.Error.Code != c.code || reply.Error.Subcode != c.subcode || reply.TransactionID != 1 {
				t.Fatalf("reply %s error %d/%d, want %s %s/%d", reply.String(), reply.Error.Code, reply.Error.Subcode, c.want, c.code, c.subcode)
			}
			if len(tbl.gates) != 0 {
				t.Fatalf("a refused command installed %+v", tbl.gates)
			}
		})
	}
}

func TestPEPNewIDsSkipIDsInUse(t *testing.T) {
	tbl := newMemTable()
	p := newPEP(tbl, time.Now)
	// A gate the policy server re-installed with its own id after a restart.
	re := gateSetCmd(1)
	re.HasGateID, re.GateID = true, 1
	if _, err := p.handle(re); err != nil {
		t.Fatal(err)
	}
	fresh := gateSetCmd(2)
	fresh.Classifiers[0].SrcPort = 20010
	r, err := p.handle(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if r.GateID == 1 || r.GateID == 0 {
		t.Fatalf("new gate got id %d, already in use", r.GateID)
	}
}

func TestPEPRemembersCallIDs(t *testing.T) {
	p := newPEP(newMemTable(), time.Now)
	set := gateSetCmd(1)
	set.Opaque = []byte("a84b4c76e66710\x00\x00") // NUL-padded to 16 octets
	if got := p.callOf(set); got != "a84b4c76e66710" {
		t.Fatalf("call of the Gate-Set %q", got)
	}
	reply, err := p.handle(set)
	if err != nil {
		t.Fatal(err)
	}
	del := &cops.PCMM{TransactionID: 2, Command: cops.GateDelete, HasGateID: true, GateID: reply.GateID}
	if got := p.callOf(del); got != "a84b4c76e66710" {
		t.Fatalf("call of the Gate-Delete %q", got)
	}
	dreply, _ := p.handle(del)
	p.forgetCall(del, &dreply)
	if got := p.callOf(del); got != "" {
		t.Fatalf("call of a deleted gate %q", got)
	}
	for _, b := range [][]byte{nil, {0, 0, 0, 0}, []byte("has space\x00\x00\x00"), {0xff, 0xfe, 0, 0}} {
		if got := callIDOf(&cops.PCMM{Opaque: b}); got != "" {
			t.Errorf("opaque % x read as call %q", b, got)
		}
	}
}

func TestPEPGateIDsDifferAcrossRestarts(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)}
	first, _ := newPEP(newMemTable(), clk.now).handle(gateSetCmd(1))
	clk.t = clk.t.Add(2 * time.Second) // the router restarts
	second, _ := newPEP(newMemTable(), clk.now).handle(gateSetCmd(1))
	if first.GateID == 0 || first.GateID == second.GateID {
		t.Fatalf("gate ids %d before and %d after a restart", first.GateID, second.GateID)
	}
}
