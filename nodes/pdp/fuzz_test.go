package pdp

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/cops"
)

// FuzzMachine drives the machine with arbitrary event sequences (four bytes
// an event) and checks what must always hold: no panic, a usage record is
// spooled at most once, the spool write comes before the DEC that ends the
// call, and once the proxy and router are gone and every outstanding answer
// has failed, no call and no transaction is left behind.
func FuzzMachine(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 200, 2, 0, 0, 0, 3, 0, 0, 5, 4, 0, 0, 0, 5, 0, 1, 0})
	f.Add([]byte{0, 1, 0, 0, 2, 1, 0, 0, 1, 1, 0, 200, 4, 1, 0, 0, 9, 0, 0, 0, 10, 0, 0, 0, 3, 0, 0, 1})
	f.Add([]byte{0, 2, 0, 0, 1, 2, 0, 200, 2, 2, 0, 0, 8, 0, 0, 0, 3, 2, 0, 7, 6, 2, 0, 0, 11, 0, 0, 0})
	f.Fuzz(func(t *testing.T, script []byte) {
		m := NewMachine(MachineConfig{Node: "pol1", GateInfoEvery: time.Second, SetupTimeout: time.Minute})
		m.Step(RouterUp{})
		var txns []uint16
		spooled := map[string]bool{}
		now := t0
		keyOf := func(b byte) CallKey { return CallKey{Conn: uint64(b%2) + 1, Handle: uint32(b/2%3) + 1} }
		txnOf := func(b byte) uint16 {
			if len(txns) == 0 || b == 255 {
				return uint16(b)
			}
			return txns[int(b)%len(txns)]
		}
		check := func(acts []Action) {
			spoolAt := map[string]int{}
			for i, a := range acts {
				switch a := a.(type) {
				case SendGateSet:
					txns = append(txns, a.TransID)
				case SendGateDelete:
					txns = append(txns, a.TransID)
				case SendGateInfo:
					txns = append(txns, a.TransID)
				case SpoolUsage:
					if spooled[a.Record.ID] {
						t.Fatalf("record %s spooled twice", a.Record.ID)
					}
					spooled[a.Record.ID] = true
					spoolAt[a.Record.CallID] = i
				case SendDecision:
					if a.For == cops.KindNoLDP && !a.Install && a.CallID != "" {
						if j, ok := spoolAt[a.CallID]; ok && j > i {
							t.Fatalf("DEC before its spool write: %v", acts)
						}
					}
				}
			}
		}
		for len(script) >= 4 {
			op, sel, x, y := script[0], script[1], script[2], script[3]
			script = script[4:]
			now = now.Add(time.Duration(y) * time.Millisecond)
			k := keyOf(sel)
			var ev Event
			switch op % 18 {
			case 0:
				side := flow.Originating
				if x%2 == 1 {
					side = flow.Terminating
				}
				ev = ReqAAA{Key: k, At: now, Session: session(fmt.Sprintf("c%d", sel%6), side)}
			case 1:
				ev = AuthAnswered{Key: k, At: now, Status: int(y) + 200*int(x%2), TransactionID: "t"}
			case 2:
				ev = ReqLDP{Key: k, At: now, Media: media[:1+int(x%2)]}
			case 3:
				ev = GateSetAcked{TransID: txnOf(x), At: now, GateID: uint32(y)}
			case 4:
				ev = ReqNoLDP{Key: k, At: now}
			case 5:
				ev = GateDeleteAcked{TransID: txnOf(x), At: now, Counters: Counters{Packets: uint64(y)}}
			case 6:
				ev = GateSetFailed{TransID: txnOf(x), At: now, Reason: "x", NoAnswer: y%2 == 0}
			case 7:
				ev = GateDeleteFailed{TransID: txnOf(x), At: now, Reason: "x", NoAnswer: y%2 == 0}
			case 8:
				ev = RouterDown{At: now}
			case 9:
				ev = RouterUp{At: now}
			case 10:
				ev = ProxyLost{Conn: k.Conn, At: now}
			case 11:
				ev = Deleted{Key: k, At: now}
			case 12:
				ev = AuthFailed{Key: k, At: now, Err: "x"}
			case 13:
				ev = UsageFailed{RecordID: "pol1/originating/c1/0", At: now}
			case 14:
				ev = GatesLoaded{IDs: []uint32{uint32(x), uint32(y)}}
			case 15:
				now = now.Add(time.Duration(x) * time.Second)
				ev = Tick{At: now}
			case 16:
				ev = GateInfoAcked{TransID: txnOf(x), At: now, Counters: Counters{Packets: uint64(y)}}
			case 17:
				ev = GateInfoFailed{TransID: txnOf(x), At: now}
			}
			check(m.Step(ev))
		}
		// Everything goes away: the proxy, the router, and every answer
		// still awaited fails.
		check(m.Step(ProxyLost{Conn: 1, At: now}))
		check(m.Step(ProxyLost{Conn: 2, At: now}))
		check(m.Step(RouterDown{At: now}))
		for conn := uint64(1); conn <= 2; conn++ {
			for h := uint32(1); h <= 3; h++ {
				check(m.Step(AuthFailed{Key: CallKey{Conn: conn, Handle: h}, At: now, Err: "gone"}))
			}
		}
		if m.Calls() != 0 || len(m.txns) != 0 {
			t.Fatalf("left behind: %d calls, %d transactions", m.Calls(), len(m.txns))
		}
	})
}

// FuzzProxyREQ feeds arbitrary bytes to the proxy leg's decoding path (COPS
// message, session information, conversion to an event) and the machine:
// bad input is an error, never a panic, and a decoded REQ always yields an
// answer or a pending authorisation.
func FuzzProxyREQ(f *testing.F) {
	for _, k := range []cops.Kind{cops.KindAAA, cops.KindLDP, cops.KindNoLDP} {
		s := cops.Session{CallID: "seed", Side: flow.Originating, Caller: "sip:a@x", Callee: "sip:b@y",
			Media: []cops.MediaFlow{{Dir: cops.Forward, Tuple: flow.Tuple{Proto: 17, Src: uacRTP, Dst: uasRTP}}}}
		data, _ := s.AppendTo(nil)
		b, _ := (&cops.Message{Header: cops.Header{Op: cops.OpREQ, ClientType: cops.ClientTypeSession}, Handle: 3,
			Context: k.Context(), ClientSI: []cops.ClientSI{{Data: data}}}).AppendTo(nil)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var msg cops.Message
		if err := msg.Decode(b); err != nil || msg.Op != cops.OpREQ {
			return
		}
		ev, what, err := requestEvent(CallKey{Conn: 1, Handle: uint32(msg.Handle)}, &msg, t0)
		if err != nil {
			return
		}
		if what == "" {
			t.Fatal("event without a log name")
		}
		// The event must not alias the input buffer.
		if aaa, ok := ev.(ReqAAA); ok && len(aaa.Session.Token) > 0 {
			before := bytes.Clone(aaa.Session.Token)
			for i := range b {
				b[i] ^= 0xFF
			}
			if !bytes.Equal(before, aaa.Session.Token) {
				t.Fatal("token aliases the read buffer")
			}
		}
		m := NewMachine(MachineConfig{Node: "pol1"})
		m.Step(RouterUp{})
		acts := m.Step(ev)
		if len(acts) == 0 {
			t.Fatalf("REQ %s got no answer and started nothing", what)
		}
	})
}
