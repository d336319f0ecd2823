package pdp

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/cops"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

// calls drops the gate book actions (RecordGate, ForgetGate), which the
// call-path tests do not follow; the gate book tests use runAll.
func calls(acts []Action) []Action {
	var out []Action
	for _, a := range acts {
		switch a.(type) {
		case RecordGate, ForgetGate:
		default:
			out = append(out, a)
		}
	}
	return out
}

// run feeds one event and compares the action trace (without gate book
// actions), line by line.
func run(t *testing.T, m *Machine, ev Event, want ...string) []Action {
	t.Helper()
	return compare(t, ev, calls(m.Step(ev)), want)
}

// runAll is run with the gate book actions.
func runAll(t *testing.T, m *Machine, ev Event, want ...string) []Action {
	t.Helper()
	return compare(t, ev, m.Step(ev), want)
}

func compare(t *testing.T, ev Event, acts []Action, want []string) []Action {
	t.Helper()
	var got []string
	for _, a := range acts {
		got = append(got, fmt.Sprint(a))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("after %T:\n got:\n  %s\nwant:\n  %s", ev, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	return acts
}

var (
	uacRTP = netip.MustParseAddrPort("198.18.1.2:20000")
	uasRTP = netip.MustParseAddrPort("198.18.5.2:30000")
	media  = []cops.MediaFlow{
		{Dir: cops.Forward, Tuple: flow.Tuple{Proto: 17, Src: uacRTP, Dst: uasRTP}},
		{Dir: cops.Backward, Tuple: flow.Tuple{Proto: 17, Src: uasRTP, Dst: uacRTP}},
	}
	k1 = CallKey{Conn: 1, Handle: 1}
	k2 = CallKey{Conn: 1, Handle: 2}
)

func session(id string, side flow.Side) cops.Session {
	return cops.Session{CallID: id, Side: side, Caller: "sip:alice@a.lab", Callee: "sip:bob@b.lab"}
}

func newUpMachine(t *testing.T) *Machine {
	m := NewMachine(MachineConfig{Node: "pol1", UsageRetryMin: time.Second, UsageRetryMax: 8 * time.Second})
	run(t, m, RouterUp{At: t0})
	return m
}

// setupCall drives a call through AAA and LDP to an installed gate with id
// gateID; the router transaction of the Gate-Set is txn.
func setupCall(t *testing.T, m *Machine, k CallKey, id string, side flow.Side, txn uint16, gateID uint32) {
	t.Helper()
	st := stepsOf(side)
	run(t, m, ReqAAA{Key: k, At: at(0), Session: session(id, side)},
		fmt.Sprintf("setup/%d AuthorizationRequest call=%s token=false", st.AuthReq, id))
	run(t, m, AuthAnswered{Key: k, At: at(0.1), Status: 200, Token: []byte("tok"), TransactionID: "osp-" + id},
		fmt.Sprintf("setup/%d DEC Install AAA call=%s token=true", st.DecAAA, id))
	entering := media[0].Tuple
	if side == flow.Terminating {
		entering = media[1].Tuple
	}
	// Asked on the 180 (alerting), as in FIG. 5.
	run(t, m, ReqLDP{Key: k, At: at(1), Media: media, Alerting: true},
		fmt.Sprintf("setup/%d Gate-Set txn=%d call=%s gate=0 flow=%s dscp=46", st.GateSet, txn, id, entering))
	run(t, m, GateSetAcked{TransID: txn, At: at(1.5), GateID: gateID},
		fmt.Sprintf("setup/%d DEC Install LDP call=%s token=false", st.DecLDP, id))
}

// The whole of FIG. 5 and FIG. 6 on the originating side (POL1).
func TestSuccessOriginating(t *testing.T) {
	m := newUpMachine(t)
	setupCall(t, m, k1, "c1", flow.Originating, 1, 77)
	run(t, m, ReqNoLDP{Key: k1, At: at(11.5)},
		"teardown/5 Gate-Delete txn=2 call=c1 gate=77")
	acts := run(t, m, GateDeleteAcked{TransID: 2, At: at(11.6), Counters: Counters{Packets: 500, Bytes: 86000}},
		`spool pol1/originating/c1/`+fmt.Sprint(t0.UnixNano())+` duration=10s packets=500 bytes=86000 lost=false reason="released"`,
		`teardown/7 DEC Remove noLDP call=c1 status=0 reason="released"`,
		"teardown/8 UsageIndication pol1/originating/c1/"+fmt.Sprint(t0.UnixNano())+" delay=0s")
	rec := acts[0].(SpoolUsage).Record
	if rec.Alert != at(1) || rec.PostDialDelay() != time.Second {
		t.Errorf("alert %v, post-dial delay %v: want the LDP on the 180 at 1 s", rec.Alert, rec.PostDialDelay())
	}
	if rec.Start != at(0) || rec.Connect != at(1.5) || rec.End != at(11.5) || rec.TransactionID != "osp-c1" ||
		rec.Caller != "sip:alice@a.lab" || rec.Callee != "sip:bob@b.lab" || rec.Node != "pol1" {
		t.Fatalf("usage record: %+v", rec)
	}
	if m.Calls() != 0 || m.PendingUsage() != 1 {
		t.Fatalf("calls=%d pending=%d, want 0 and 1", m.Calls(), m.PendingUsage())
	}
	run(t, m, UsageConfirmed{RecordID: rec.ID, At: at(11.7)}, "unspool "+rec.ID)
	if m.PendingUsage() != 0 {
		t.Fatalf("pending usage %d after confirmation", m.PendingUsage())
	}
}

// POL2 gates the callee's media and labels its messages with the
// terminating steps; the upstream token goes to the clearinghouse.
func TestSuccessTerminating(t *testing.T) {
	m := newUpMachine(t)
	s := session("c2", flow.Terminating)
	s.Token = []byte("upstream")
	acts := run(t, m, ReqAAA{Key: k1, At: at(0), Session: s}, "setup/8 AuthorizationRequest call=c2 token=true")
	if got := string(acts[0].(SendAuthRequest).Session.Token); got != "upstream" {
		t.Fatalf("upstream token %q not passed on", got)
	}
	run(t, m, AuthAnswered{Key: k1, At: at(0.1), Status: 200, Token: []byte("t2")}, "setup/10 DEC Install AAA call=c2 token=true")
	run(t, m, ReqLDP{Key: k1, At: at(1), Media: media},
		"setup/14 Gate-Set txn=1 call=c2 gate=0 flow=udp 198.18.5.2:30000 -> 198.18.1.2:20000 dscp=46")
	run(t, m, GateSetAcked{TransID: 1, At: at(1.2), GateID: 5}, "setup/16 DEC Install LDP call=c2 token=false")
	run(t, m, ReqNoLDP{Key: k1, At: at(3)}, "teardown/14 Gate-Delete txn=2 call=c2 gate=5")
	acts = calls(m.Step(GateDeleteAcked{TransID: 2, At: at(3.1), Counters: Counters{Packets: 90, Bytes: 15480}}))
	if d, ok := acts[1].(SendDecision); !ok || d.Label != teardownAt(16) || d.Install {
		t.Fatalf("want teardown/16 DEC Remove, got %v", acts[1])
	}
	if u, ok := acts[2].(SendUsage); !ok || u.Label != teardownAt(17) {
		t.Fatalf("want teardown/17 UsageIndication, got %v", acts[2])
	}
}

// Denied call: the clearinghouse's status goes back to the proxy as the
// reason and nothing else happens.
func TestClearinghouseRefusal(t *testing.T) {
	m := newUpMachine(t)
	run(t, m, ReqAAA{Key: k1, At: at(0), Session: session("c3", flow.Originating)}, "setup/3 AuthorizationRequest call=c3 token=false")
	run(t, m, AuthAnswered{Key: k1, At: at(0.1), Status: 403, Reason: "calling number not allowed"},
		`setup/5 DEC Remove AAA call=c3 status=403 reason="403 calling number not allowed"`)
	if m.Calls() != 0 {
		t.Fatalf("a refused call is kept")
	}
	// A later LDP on the handle is refused, no gate ever installed.
	run(t, m, ReqLDP{Key: k1, At: at(1), Media: media}, `- DEC Remove LDP call= status=400 reason="LDP on a handle with no admitted call"`)
}

// CH unreachable: fail closed with 503 so the proxy answers 503.
func TestClearinghouseUnreachable(t *testing.T) {
	m := newUpMachine(t)
	run(t, m, ReqAAA{Key: k1, At: at(0), Session: session("c4", flow.Originating)}, "setup/3 AuthorizationRequest call=c4 token=false")
	run(t, m, AuthFailed{Key: k1, At: at(5), Err: "dial tcp: connection refused"},
		`setup/5 DEC Remove AAA call=c4 status=503 reason="503 clearinghouse unreachable: dial tcp: connection refused"`)
	// A late answer from a slow clearinghouse is ignored.
	run(t, m, AuthAnswered{Key: k1, At: at(6), Status: 200}, "warn call= authorisation answer for handle 1/1 that is not waiting for one")
}

// The router refuses the gate: DEC Remove with its reason; the call is
// still released properly (usage without a connect time).
func TestGateSetErr(t *testing.T) {
	m := newUpMachine(t)
	run(t, m, ReqAAA{Key: k1, At: at(0), Session: session("c5", flow.Originating)}, "setup/3 AuthorizationRequest call=c5 token=false")
	run(t, m, AuthAnswered{Key: k1, At: at(0.1), Status: 200}, "setup/5 DEC Install AAA call=c5 token=false")
	run(t, m, ReqLDP{Key: k1, At: at(1), Media: media}, "setup/19 Gate-Set txn=1 call=c5 gate=0 flow=udp 198.18.1.2:20000 -> 198.18.5.2:30000 dscp=46")
	run(t, m, GateSetFailed{TransID: 1, At: at(1.1), Reason: "13 classifier conflict"},
		`setup/21 DEC Remove LDP call=c5 status=503 reason="router refused the gate: 13 classifier conflict"`)
	id := "pol1/originating/c5/" + fmt.Sprint(t0.UnixNano())
	run(t, m, ReqNoLDP{Key: k1, At: at(2)},
		`spool `+id+` duration=0s packets=0 bytes=0 lost=false reason="released"`,
		`teardown/7 DEC Remove noLDP call=c5 status=0 reason="released"`,
		"teardown/8 UsageIndication "+id+" delay=0s")
}

// LDP while the router connection is down is refused at once, not queued.
func TestLDPRouterDown(t *testing.T) {
	m := NewMachine(MachineConfig{Node: "pol1"})
	run(t, m, ReqAAA{Key: k1, At: at(0), Session: session("c6", flow.Originating)}, "setup/3 AuthorizationRequest call=c6 token=false")
	run(t, m, AuthAnswered{Key: k1, At: at(0.1), Status: 200}, "setup/5 DEC Install AAA call=c6 token=false")
	run(t, m, ReqLDP{Key: k1, At: at(1), Media: media}, `setup/21 DEC Remove LDP call=c6 status=503 reason="router not connected"`)
}

// BYE before the LDP finished: the noLDP waits for the Gate-Set-Ack, then
// deletes the gate; the proxy gets one DEC Remove and no DEC Install.
func TestByeBeforeLDPFinished(t *testing.T) {
	m := newUpMachine(t)
	run(t, m, ReqAAA{Key: k1, At: at(0), Session: session("c7", flow.Originating)}, "setup/3 AuthorizationRequest call=c7 token=false")
	run(t, m, AuthAnswered{Key: k1, At: at(0.1), Status: 200}, "setup/5 DEC Install AAA call=c7 token=false")
	run(t, m, ReqLDP{Key: k1, At: at(1), Media: media}, "setup/19 Gate-Set txn=1 call=c7 gate=0 flow=udp 198.18.1.2:20000 -> 198.18.5.2:30000 dscp=46")
	run(t, m, ReqNoLDP{Key: k1, At: at(1.05)})
	run(t, m, GateSetAcked{TransID: 1, At: at(1.1), GateID: 9}, "teardown/5 Gate-Delete txn=2 call=c7 gate=9")
	id := "pol1/originating/c7/" + fmt.Sprint(t0.UnixNano())
	acts := run(t, m, GateDeleteAcked{TransID: 2, At: at(1.2)},
		`spool `+id+` duration=0s packets=0 bytes=0 lost=false reason="released"`,
		`teardown/7 DEC Remove noLDP call=c7 status=0 reason="released"`,
		"teardown/8 UsageIndication "+id+" delay=0s")
	if rec := acts[0].(SpoolUsage).Record; !rec.Connect.IsZero() {
		t.Fatalf("a call released before its gate was in has a connect time: %+v", rec)
	}
}

// BYE (CANCEL) before the clearinghouse answered: no DEC Install, the
// release waits for the answer; an authorised call still reports usage.
func TestReleaseWhileAuthorizing(t *testing.T) {
	m := newUpMachine(t)
	run(t, m, ReqAAA{Key: k1, At: at(0), Session: session("c8", flow.Originating)}, "setup/3 AuthorizationRequest call=c8 token=false")
	run(t, m, ReqNoLDP{Key: k1, At: at(0.5)})
	id := "pol1/originating/c8/" + fmt.Sprint(t0.UnixNano())
	run(t, m, AuthAnswered{Key: k1, At: at(0.6), Status: 200, TransactionID: "x"},
		`spool `+id+` duration=0s packets=0 bytes=0 lost=false reason="released"`,
		`teardown/7 DEC Remove noLDP call=c8 status=0 reason="released"`,
		"teardown/8 UsageIndication "+id+" delay=0s")

	// Refused while released: no usage for a call that never was.
	run(t, m, ReqAAA{Key: k2, At: at(0), Session: session("c9", flow.Originating)}, "setup/3 AuthorizationRequest call=c9 token=false")
	run(t, m, ReqNoLDP{Key: k2, At: at(0.5)})
	run(t, m, AuthFailed{Key: k2, At: at(0.6), Err: "timeout"}, `teardown/7 DEC Remove noLDP call=c9 status=0 reason="released"`)
}

// The proxy's connection drops mid-call: gates of its calls are deleted
// and usage reported, with no DEC (no handle to answer on). Calls of
// another connection are untouched.
func TestProxyDisconnectMidCall(t *testing.T) {
	m := newUpMachine(t)
	setupCall(t, m, k1, "c10", flow.Originating, 1, 11)
	other := CallKey{Conn: 2, Handle: 1}
	setupCall(t, m, other, "c11", flow.Originating, 2, 12)
	run(t, m, ProxyLost{Conn: 1, At: at(20)}, "teardown/5 Gate-Delete txn=3 call=c10 gate=11")
	id := "pol1/originating/c10/" + fmt.Sprint(t0.UnixNano())
	run(t, m, GateDeleteAcked{TransID: 3, At: at(20.1), Counters: Counters{Packets: 3, Bytes: 516}},
		`spool `+id+` duration=18.5s packets=3 bytes=516 lost=false reason="proxy disconnected"`,
		"teardown/8 UsageIndication "+id+" delay=0s")
	if m.Calls() != 1 {
		t.Fatalf("calls=%d, want the other connection's call kept", m.Calls())
	}
}

// DRQ after the noLDP started: the release goes on, but no DEC is sent.
func TestDRQDuringRelease(t *testing.T) {
	m := newUpMachine(t)
	setupCall(t, m, k1, "c12", flow.Originating, 1, 3)
	run(t, m, ReqNoLDP{Key: k1, At: at(5)}, "teardown/5 Gate-Delete txn=2 call=c12 gate=3")
	run(t, m, Deleted{Key: k1, At: at(5.01), Reason: "session ended"})
	acts := calls(m.Step(GateDeleteAcked{TransID: 2, At: at(5.1)}))
	for _, a := range acts {
		if _, ok := a.(SendDecision); ok {
			t.Fatalf("DEC sent on a deleted handle: %v", acts)
		}
	}
	if len(acts) != 2 {
		t.Fatalf("want spool + usage, got %v", acts)
	}
}

// Router restart: the gates of calls in progress are re-installed (no DEC
// to the proxy; on the wire a Gate-Set like step 19); the usage says the
// counters were lost.
func TestRouterReconnectReinstalls(t *testing.T) {
	m := newUpMachine(t)
	setupCall(t, m, k1, "c13", flow.Originating, 1, 40)
	setupCall(t, m, k2, "c14", flow.Originating, 2, 41)
	run(t, m, RouterDown{At: at(5)})
	run(t, m, RouterUp{At: at(6)},
		"setup/19 Gate-Set txn=3 call=c13 gate=40 flow=udp 198.18.1.2:20000 -> 198.18.5.2:30000 dscp=46",
		"setup/19 Gate-Set txn=4 call=c14 gate=41 flow=udp 198.18.1.2:20000 -> 198.18.5.2:30000 dscp=46")
	run(t, m, GateSetAcked{TransID: 3, At: at(6.1), GateID: 40})
	// A router that gives another id: the old one may still mark.
	run(t, m, GateSetAcked{TransID: 4, At: at(6.1), GateID: 2}, "- Gate-Delete txn=5 call= gate=41")
	run(t, m, ReqNoLDP{Key: k1, At: at(10)}, "teardown/5 Gate-Delete txn=6 call=c13 gate=40")
	acts := calls(m.Step(GateDeleteAcked{TransID: 6, At: at(10.1), Counters: Counters{Packets: 200, Bytes: 34400}}))
	rec := acts[0].(SpoolUsage).Record
	if !rec.CountersLost || rec.Packets != 200 || rec.Connect != at(1.5) || rec.Duration != 8500*time.Millisecond {
		t.Fatalf("usage after router restart: %+v", rec)
	}
}

// The proxy says whose BYE released the call; the usage record carries it
// (reported as OSP ReleaseSource); a call its proxy lost was released by
// nobody's BYE.
func TestReleasedBy(t *testing.T) {
	m := newUpMachine(t)
	setupCall(t, m, k1, "c20", flow.Originating, 1, 40)
	run(t, m, ReqNoLDP{Key: k1, At: at(10), ReleasedBy: flow.Terminating}, "teardown/5 Gate-Delete txn=2 call=c20 gate=40")
	acts := calls(m.Step(GateDeleteAcked{TransID: 2, At: at(10.1)}))
	if rec := acts[0].(SpoolUsage).Record; rec.ReleasedBy != flow.Terminating {
		t.Fatalf("released by the callee: %+v", rec)
	}
	other := CallKey{Conn: 2, Handle: 1}
	setupCall(t, m, other, "c21", flow.Originating, 3, 41)
	run(t, m, ProxyLost{Conn: 2, At: at(20)}, "teardown/5 Gate-Delete txn=4 call=c21 gate=41")
	acts = calls(m.Step(GateDeleteAcked{TransID: 4, At: at(20.1)}))
	if rec := acts[0].(SpoolUsage).Record; rec.ReleasedBy != flow.SideUnknown {
		t.Fatalf("a lost proxy: %+v", rec)
	}
}

// A release while the router is away: the gate went with the router's
// table, so the call ends without a Gate-Delete.
func TestReleaseWhileRouterDown(t *testing.T) {
	m := newUpMachine(t)
	setupCall(t, m, k1, "c15", flow.Originating, 1, 40)
	run(t, m, RouterDown{At: at(5)})
	acts := calls(m.Step(ReqNoLDP{Key: k1, At: at(6)}))
	if len(acts) != 3 || !acts[0].(SpoolUsage).Record.CountersLost {
		t.Fatalf("want spool (counters lost), DEC, usage: %v", acts)
	}
	// Nothing to re-install, but the router may only have lost the
	// connection, not its table: the old gate is deleted.
	run(t, m, RouterUp{At: at(7)}, "- Gate-Delete txn=2 call= gate=40")
}

// The router drops while a Gate-Set or Gate-Delete is outstanding.
func TestRouterDownWithOutstandingTransactions(t *testing.T) {
	m := newUpMachine(t)
	run(t, m, ReqAAA{Key: k1, At: at(0), Session: session("c16", flow.Originating)}, "setup/3 AuthorizationRequest call=c16 token=false")
	run(t, m, AuthAnswered{Key: k1, At: at(0.1), Status: 200}, "setup/5 DEC Install AAA call=c16 token=false")
	run(t, m, ReqLDP{Key: k1, At: at(1), Media: media}, "setup/19 Gate-Set txn=1 call=c16 gate=0 flow=udp 198.18.1.2:20000 -> 198.18.5.2:30000 dscp=46")
	setupCall(t, m, k2, "c17", flow.Originating, 2, 8)
	run(t, m, ReqNoLDP{Key: k2, At: at(2)}, "teardown/5 Gate-Delete txn=3 call=c17 gate=8")
	acts := run(t, m, RouterDown{At: at(3)},
		`setup/21 DEC Remove LDP call=c16 status=503 reason="router refused the gate: router connection lost"`,
		"spool pol1/originating/c17/"+fmt.Sprint(t0.UnixNano())+` duration=500ms packets=0 bytes=0 lost=true reason="released"`,
		`teardown/7 DEC Remove noLDP call=c17 status=0 reason="released"`,
		"teardown/8 UsageIndication pol1/originating/c17/"+fmt.Sprint(t0.UnixNano())+" delay=0s")
	_ = acts
	// The Gate-Set-Ack of the old connection arrives late: unknown.
	// The Gate-Delete that got no answer is sent again.
	run(t, m, RouterUp{At: at(4)}, "- Gate-Delete txn=4 call= gate=8")
	run(t, m, GateSetAcked{TransID: 1, At: at(4.1), GateID: 99},
		"warn call= Gate-Set-Ack for unknown transaction 1: deleting gate 99",
		"- Gate-Delete txn=5 call= gate=99")
	run(t, m, GateDeleteAcked{TransID: 5, At: at(4.2)})
}

// A 180 and a 200 both ask for the gate: one Gate-Set, two DEC Install;
// an LDP for an unchanged installed gate is answered at once.
func TestRepeatedLDP(t *testing.T) {
	m := newUpMachine(t)
	run(t, m, ReqAAA{Key: k1, At: at(0), Session: session("c18", flow.Originating)}, "setup/3 AuthorizationRequest call=c18 token=false")
	run(t, m, AuthAnswered{Key: k1, At: at(0.1), Status: 200}, "setup/5 DEC Install AAA call=c18 token=false")
	run(t, m, ReqLDP{Key: k1, At: at(1), Media: media}, "setup/19 Gate-Set txn=1 call=c18 gate=0 flow=udp 198.18.1.2:20000 -> 198.18.5.2:30000 dscp=46")
	run(t, m, ReqLDP{Key: k1, At: at(1.01), Media: media})
	run(t, m, GateSetAcked{TransID: 1, At: at(1.1), GateID: 4},
		"setup/21 DEC Install LDP call=c18 token=false", "setup/21 DEC Install LDP call=c18 token=false")
	run(t, m, ReqLDP{Key: k1, At: at(2), Media: media}, "setup/21 DEC Install LDP call=c18 token=false")
	// New media (re-INVITE): the gate is replaced under its id.
	moved := []cops.MediaFlow{{Dir: cops.Forward, Tuple: flow.Tuple{Proto: 17, Src: netip.MustParseAddrPort("198.18.1.2:20002"), Dst: uasRTP}}}
	run(t, m, ReqLDP{Key: k1, At: at(3), Media: moved}, "setup/19 Gate-Set txn=2 call=c18 gate=4 flow=udp 198.18.1.2:20002 -> 198.18.5.2:30000 dscp=46")
}

func TestBadRequests(t *testing.T) {
	m := newUpMachine(t)
	run(t, m, ReqAAA{Key: k1, At: at(0), Session: cops.Session{CallID: "x"}}, `- DEC Remove AAA call=x status=400 reason="session information names no side"`)
	run(t, m, ReqAAA{Key: k1, At: at(0), Session: session("c19", flow.Originating)}, "setup/3 AuthorizationRequest call=c19 token=false")
	run(t, m, ReqAAA{Key: k1, At: at(0), Session: session("c19", flow.Originating)}, `- DEC Remove AAA call=c19 status=400 reason="AAA repeated on a handle already in use"`)
	run(t, m, ReqLDP{Key: k1, At: at(0.1), Media: media}, `setup/21 DEC Remove LDP call=c19 status=400 reason="LDP before the call was admitted"`)
	run(t, m, AuthAnswered{Key: k1, At: at(0.1), Status: 200}, "setup/5 DEC Install AAA call=c19 token=false")
	run(t, m, ReqLDP{Key: k1, At: at(1), Media: media[1:]}, `setup/21 DEC Remove LDP call=c19 status=400 reason="no media flow enters the network at the originating side"`)
	run(t, m, ReqNoLDP{Key: k2, At: at(1)}, `- DEC Remove noLDP call= status=0 reason="released: no call on this handle"`)
	run(t, m, GateDeleteAcked{TransID: 77}, "warn call= Gate-Delete answer for unknown transaction 77")
	run(t, m, GateSetFailed{TransID: 78, Reason: "x"}, "warn call= Gate-Set failure for unknown transaction 78: x")
}

// Usage delivery retries with doubling backoff up to the cap; records
// found in the spool at start are sent again.
func TestUsageRetryAndSpoolResume(t *testing.T) {
	m := newUpMachine(t)
	rec := UsageRecord{ID: "pol1/originating/old/1", Side: flow.Originating}
	run(t, m, SpoolLoaded{Records: []UsageRecord{rec}}, "teardown/8 UsageIndication pol1/originating/old/1 delay=0s")
	run(t, m, SpoolLoaded{Records: []UsageRecord{rec}}) // already pending: not sent twice
	for _, want := range []string{"1s", "2s", "4s", "8s", "8s"} {
		run(t, m, UsageFailed{RecordID: rec.ID, Err: "connection refused"}, "teardown/8 UsageIndication pol1/originating/old/1 delay="+want)
	}
	run(t, m, UsageConfirmed{RecordID: rec.ID}, "unspool "+rec.ID)
	run(t, m, UsageFailed{RecordID: rec.ID}, "warn call= delivery failure for unknown usage record "+rec.ID)
}

// The transaction counter wraps around and skips ids still in use.
func TestTransactionIDsWrap(t *testing.T) {
	m := newUpMachine(t)
	m.lastTxn = 65534
	busy := m.newTxn(txn{op: opDelete})
	if busy != 65535 {
		t.Fatalf("got %d", busy)
	}
	m.txns[1] = txn{op: opDelete}
	if got := m.newTxn(txn{op: opDelete}); got != 2 {
		t.Fatalf("after wrap got %d, want 2 (0 is never used, 1 is busy)", got)
	}
}

// Describe labels received messages with the receiving side's steps.
func TestDescribe(t *testing.T) {
	m := newUpMachine(t)
	check := func(ev Event, wantCall string, want Label) {
		t.Helper()
		if c, l := m.Describe(ev); c != wantCall || l != want {
			t.Fatalf("Describe(%T) = %q %v, want %q %v", ev, c, l, wantCall, want)
		}
	}
	aaa := ReqAAA{Key: k1, At: at(0), Session: session("d1", flow.Terminating)}
	check(aaa, "d1", setupAt(7))
	m.Step(aaa)
	m.cfg.DSCPOf = func(c string) (uint8, bool) {
		return map[string]uint8{"AF41": 34, "BE": 0}[c], c == "AF41" || c == "BE"
	}
	ans := AuthAnswered{Key: k1, At: at(0.1), Status: 200, Class: "AF41", Bandwidth: 128000}
	check(ans, "d1", setupAt(9))
	m.Step(ans)
	ldp := ReqLDP{Key: k1, At: at(1), Media: media}
	check(ldp, "d1", setupAt(13))
	acts := calls(m.Step(ldp))
	if g := acts[0].(SendGateSet).Gate; g.DSCP != 34 || g.Bandwidth != 128000 {
		t.Fatalf("gate does not carry the granted class: %+v", g)
	}
	ack := GateSetAcked{TransID: 1, At: at(1.1), GateID: 3}
	check(ack, "d1", setupAt(15))
	m.Step(ack)
	bye := ReqNoLDP{Key: k1, At: at(2)}
	check(bye, "d1", teardownAt(13))
	m.Step(bye)
	del := GateDeleteAcked{TransID: 2, At: at(2.1)}
	check(del, "d1", teardownAt(15))
	acts = calls(m.Step(del))
	rec := acts[0].(SpoolUsage).Record
	if rec.Class != "AF41" || rec.Bandwidth != 128000 {
		t.Fatalf("usage does not carry the granted class: %+v", rec)
	}
	conf := UsageConfirmed{RecordID: rec.ID}
	check(conf, "d1", teardownAt(18))
	check(GateSetAcked{TransID: 99}, "", Label{})
}

// A Gate-Cmd-Err (reported as GateSetFailed) for a Gate-Delete's
// transaction ends the release without counters.
func TestGateCmdErrOnDelete(t *testing.T) {
	m := newUpMachine(t)
	setupCall(t, m, k1, "c20", flow.Originating, 1, 5)
	run(t, m, ReqNoLDP{Key: k1, At: at(3)}, "teardown/5 Gate-Delete txn=2 call=c20 gate=5")
	acts := calls(m.Step(GateSetFailed{TransID: 2, At: at(3.1), Reason: "Unknown-Gate-Command"}))
	if len(acts) != 4 || !acts[1].(SpoolUsage).Record.CountersLost {
		t.Fatalf("want warn, spool (counters lost), DEC, usage: %v", acts)
	}
}

// The gate book: every installed gate is recorded and forgotten once the
// router deleted it; gates a previous run left are deleted at the first
// router connection; a Gate-Delete with no answer is retried, one the
// router refused (no such gate) is not.
func TestGateBook(t *testing.T) {
	m := NewMachine(MachineConfig{Node: "pol1"})
	runAll(t, m, GatesLoaded{IDs: []uint32{7, 3}})
	runAll(t, m, RouterUp{At: t0}, "- Gate-Delete txn=1 call= gate=3", "- Gate-Delete txn=2 call= gate=7")
	runAll(t, m, GateDeleteFailed{TransID: 1, Reason: "Unknown-GateID"}, "forget gate 3")
	runAll(t, m, GateDeleteFailed{TransID: 2, Reason: "timeout", NoAnswer: true})
	runAll(t, m, RouterDown{At: t0})
	runAll(t, m, RouterUp{At: t0}, "- Gate-Delete txn=3 call= gate=7")
	runAll(t, m, GateDeleteAcked{TransID: 3}, "forget gate 7")

	runAll(t, m, ReqAAA{Key: k1, At: at(0), Session: session("g1", flow.Originating)}, "setup/3 AuthorizationRequest call=g1 token=false")
	runAll(t, m, AuthAnswered{Key: k1, At: at(0.1), Status: 200}, "setup/5 DEC Install AAA call=g1 token=false")
	runAll(t, m, ReqLDP{Key: k1, At: at(1), Media: media}, "setup/19 Gate-Set txn=4 call=g1 gate=0 flow=udp 198.18.1.2:20000 -> 198.18.5.2:30000 dscp=46")
	runAll(t, m, GateSetAcked{TransID: 4, At: at(1.1), GateID: 12}, "record gate 12 call=g1", "setup/21 DEC Install LDP call=g1 token=false")
	runAll(t, m, ReqNoLDP{Key: k1, At: at(2)}, "teardown/5 Gate-Delete txn=5 call=g1 gate=12")
	// No answer: the call ends, the gate stays in the book and is deleted
	// again at the router's next connection.
	id := "pol1/originating/g1/" + fmt.Sprint(t0.UnixNano())
	runAll(t, m, GateDeleteFailed{TransID: 5, Reason: "timeout", NoAnswer: true},
		"warn call=g1 Gate-Delete failed, usage with the last polled counters: timeout",
		"spool "+id+` duration=900ms packets=0 bytes=0 lost=true reason="released"`,
		`teardown/7 DEC Remove noLDP call=g1 status=0 reason="released"`,
		"teardown/8 UsageIndication "+id+" delay=0s")
	runAll(t, m, RouterDown{At: at(3)})
	runAll(t, m, RouterUp{At: at(4)}, "- Gate-Delete txn=6 call= gate=12")
	runAll(t, m, GateDeleteAcked{TransID: 6}, "forget gate 12")
	if len(m.orphans) != 0 || len(m.txns) != 0 {
		t.Fatalf("orphans %v txns %v left", m.orphans, m.txns)
	}
}

// A best-effort grant gates with DSCP 0, not the default EF.
func TestBestEffortGrant(t *testing.T) {
	m := NewMachine(MachineConfig{Node: "pol1", DSCPOf: func(c string) (uint8, bool) { return 0, c == "BE" }})
	m.Step(RouterUp{})
	m.Step(ReqAAA{Key: k1, At: at(0), Session: session("be", flow.Originating)})
	m.Step(AuthAnswered{Key: k1, At: at(0.1), Status: 200, Class: "BE"})
	acts := m.Step(ReqLDP{Key: k1, At: at(1), Media: media})
	if g := acts[0].(SendGateSet).Gate; g.DSCP != 0 {
		t.Fatalf("BE grant gated with DSCP %d", g.DSCP)
	}
}

// A call admitted but never connected nor released is ended after the
// setup timeout (usage with no connect time, no DEC); a connected call is
// not.
func TestSetupTimeout(t *testing.T) {
	m := NewMachine(MachineConfig{Node: "pol1", SetupTimeout: time.Minute})
	m.Step(RouterUp{})
	setupCall(t, m, k2, "up", flow.Originating, 1, 3)
	run(t, m, ReqAAA{Key: k1, At: at(0), Session: session("stuck", flow.Originating)}, "setup/3 AuthorizationRequest call=stuck token=false")
	run(t, m, AuthAnswered{Key: k1, At: at(0.1), Status: 200}, "setup/5 DEC Install AAA call=stuck token=false")
	run(t, m, Tick{At: at(59)})
	id := "pol1/originating/stuck/" + fmt.Sprint(t0.UnixNano())
	run(t, m, Tick{At: at(61)},
		"warn call=stuck call admitted but neither connected nor released: ending it",
		"spool "+id+` duration=0s packets=0 bytes=0 lost=false reason="setup timed out"`,
		"teardown/8 UsageIndication "+id+" delay=0s")
	if m.Calls() != 1 {
		t.Fatalf("calls %d, want the connected one kept", m.Calls())
	}
}

// Gate-Info polling: the figures a gate counted up to the last poll before
// the router restarted are added to those of its re-installed successor.
func TestGateInfoAcrossRouterRestart(t *testing.T) {
	m := NewMachine(MachineConfig{Node: "pol1", GateInfoEvery: 5 * time.Second})
	m.Step(RouterUp{})
	setupCall(t, m, k1, "gi", flow.Originating, 1, 7)
	run(t, m, Tick{At: at(3)}, "Gate-Info txn=2 call=gi gate=7")
	run(t, m, Tick{At: at(6)}) // every 5s at most
	run(t, m, GateInfoAcked{TransID: 2, At: at(3.1), Counters: Counters{Packets: 250, Bytes: 43000}})
	run(t, m, RouterDown{At: at(8)})
	run(t, m, RouterUp{At: at(9)}, "setup/19 Gate-Set txn=3 call=gi gate=7 flow=udp 198.18.1.2:20000 -> 198.18.5.2:30000 dscp=46")
	run(t, m, GateSetAcked{TransID: 3, At: at(9.1), GateID: 7})
	run(t, m, Tick{At: at(11)}, "Gate-Info txn=4 call=gi gate=7")
	run(t, m, ReqNoLDP{Key: k1, At: at(12)}, "teardown/5 Gate-Delete txn=5 call=gi gate=7")
	acts := calls(m.Step(GateDeleteAcked{TransID: 5, At: at(12.1), Counters: Counters{Packets: 150, Bytes: 25800}}))
	rec := acts[0].(SpoolUsage).Record
	if rec.Packets != 400 || rec.Bytes != 68800 || !rec.CountersLost {
		t.Fatalf("usage across a router restart: %+v", rec)
	}
	// The late Gate-Info answer of the ended call is dropped quietly.
	run(t, m, GateInfoAcked{TransID: 4, At: at(12.2)})
	if len(m.txns) != 0 {
		t.Fatalf("transactions left: %v", m.txns)
	}
}

// Post-dial delay runs to the callee's first answer: the 180, or the 200
// of a callee that answers without ringing (RFC 6076 4.1).
func TestPostDialDelay(t *testing.T) {
	for _, tc := range []struct {
		r    UsageRecord
		want time.Duration
	}{
		{UsageRecord{Start: t0, Alert: at(0.1), Connect: at(0.3)}, 100 * time.Millisecond},
		{UsageRecord{Start: t0, Connect: at(0.3)}, 300 * time.Millisecond},
		{UsageRecord{Start: t0}, 0},
	} {
		if got := tc.r.PostDialDelay(); got != tc.want {
			t.Errorf("%+v: post-dial delay %v, want %v", tc.r, got, tc.want)
		}
	}
}
