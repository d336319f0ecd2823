package pdp

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/cops"
)

// BenchmarkMachineCall is one whole call through the state machine (AAA,
// LDP, noLDP, usage confirmed) with 1,000 other calls in progress.
func BenchmarkMachineCall(b *testing.B) {
	m := NewMachine(MachineConfig{Node: "pol1"})
	m.Step(RouterUp{})
	var txn uint16
	next := func(acts []Action) {
		for _, a := range acts {
			switch a := a.(type) {
			case SendGateSet:
				txn = a.TransID
			case SendGateDelete:
				txn = a.TransID
			}
		}
	}
	call := func(h uint32, release bool) {
		k := CallKey{Conn: 1, Handle: h}
		m.Step(ReqAAA{Key: k, At: t0, Session: session("c", flow.Originating)})
		m.Step(AuthAnswered{Key: k, At: t0, Status: 200})
		next(m.Step(ReqLDP{Key: k, At: t0, Media: media}))
		m.Step(GateSetAcked{TransID: txn, At: t0, GateID: h})
		if !release {
			return
		}
		next(m.Step(ReqNoLDP{Key: k, At: t0}))
		for _, a := range m.Step(GateDeleteAcked{TransID: txn, At: t0}) {
			if s, ok := a.(SpoolUsage); ok {
				m.Step(UsageConfirmed{RecordID: s.Record.ID})
			}
		}
	}
	for h := range uint32(1000) {
		call(h+1, false)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		call(uint32(100000+i%50000), true)
	}
}

// BenchmarkCallOverLoopback is one call through the running node over real
// sockets, without and with the clearinghouse: REQ AAA, REQ LDP (Gate-Set to the
// router and its Ack), REQ noLDP (Gate-Delete and its Ack, the spool write
// with fsync, DEC), as the proxy sees it. Usage delivery to usage.db runs
// behind it.
func BenchmarkCallOverLoopback(b *testing.B) {
	b.Run("no-clearinghouse", func(b *testing.B) { benchCalls(b, false) })
	b.Run("clearinghouse", func(b *testing.B) { benchCalls(b, true) })
}

// benchCalls runs calls through one policy server; with ch, against the
// real clearinghouse node over OSP (token signing and validation included
// in the AAA figure).
func benchCalls(b *testing.B, withCH bool) {
	bb := newBench(b, withCH)
	if withCH {
		ch := &realCH{dir: b.TempDir(), port: strconv.Itoa(bb.chPort)}
		ch.start(b)
	}
	startRouter(b, bb.rtrPort)
	bb.start(b)
	pep := dialPEP(b, bb.copsPort)
	eventually(b, "router connection", func() bool { return strings.Contains(bb.logs.String(), "router connected") })
	var aaa, ldp, noLDP time.Duration
	n := 0
	for i := 0; b.Loop(); i++ {
		s := callSession(fmt.Sprintf("bench-%d", i), flow.Originating)
		h := uint32(i + 1)
		t0 := time.Now()
		if cmd, _ := pep.request(h, cops.KindAAA, s); cmd != cops.CommandInstall {
			b.Fatal("AAA refused")
		}
		t1 := time.Now()
		if cmd, _ := pep.request(h, cops.KindLDP, s); cmd != cops.CommandInstall {
			b.Fatal("LDP refused")
		}
		t2 := time.Now()
		if cmd, _ := pep.request(h, cops.KindNoLDP, s); cmd != cops.CommandRemove {
			b.Fatal("noLDP not removed")
		}
		aaa, ldp, noLDP = aaa+t1.Sub(t0), ldp+t2.Sub(t1), noLDP+time.Since(t2)
		n++
	}
	// Where the time goes, as the proxy waits for each DEC.
	b.ReportMetric(float64(aaa.Microseconds())/float64(n), "aaa-µs/call")
	b.ReportMetric(float64(ldp.Microseconds())/float64(n), "ldp-µs/call")
	b.ReportMetric(float64(noLDP.Microseconds())/float64(n), "noldp-µs/call")
}
