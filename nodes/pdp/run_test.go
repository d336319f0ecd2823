package pdp

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes/usage"
	"github.com/qoslab/qoslab/protocol/cops"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// stepTrace renders the logged protocol messages of one call that carry a
// docs/FLOW.md step, as "dir what flow/step".
func stepTrace(b *bench, t *testing.T, call string) []string {
	var out []string
	for _, m := range b.logs.Messages("") {
		if m.CallID == call && m.Step != 0 {
			out = append(out, fmt.Sprintf("%s %s %s/%d", m.Dir, m.What, m.Flow, m.Step))
		}
	}
	return out
}

// One call through POL1 with the clearinghouse: FIG. 5 steps 2-5 and
// 18-21, FIG. 6 steps 4-9, over real sockets; the usage record carries the
// router's counters and lands once at the clearinghouse; the spool is
// empty afterwards.
func TestCallThroughPolicyServer(t *testing.T) {
	b := newBench(t, true)
	ch := newCH(t, b.chPort)
	ch.up()
	rtr := startRouter(t, b.rtrPort)
	rtr.counters = Counters{Packets: 250, Bytes: 43000}
	b.start(t)
	pep := dialPEP(t, b.copsPort)

	s := callSession("call-1", flow.Originating)
	cmd, dec := pep.request(7, cops.KindAAA, s)
	if cmd != cops.CommandInstall || dec.Result != 200 || string(dec.Token) != "token-txn-1" {
		t.Fatalf("AAA: %v %s", cmd, &dec)
	}
	eventually(t, "router connection", func() bool { return strings.Contains(b.logs.String(), "router connected") })
	cmd, dec = pep.request(7, cops.KindLDP, s)
	if cmd != cops.CommandInstall {
		t.Fatalf("LDP: %v %s", cmd, &dec)
	}
	if got := rtr.commands(); len(got) != 1 || got[0] != "Gate-Set udp 198.18.1.2:20000->198.18.5.2:30000 dscp=46 call=call-1" {
		t.Fatalf("router saw %q, want the caller's media gated EF", got)
	}
	cmd, dec = pep.request(7, cops.KindNoLDP, s)
	if cmd != cops.CommandRemove {
		t.Fatalf("noLDP: %v %s", cmd, &dec)
	}
	if rtr.gateCount() != 0 {
		t.Fatal("gate still installed after the release")
	}
	eventually(t, "usage at the clearinghouse", func() bool { return len(ch.records(t)) == 1 })
	eventually(t, "empty spool", func() bool { return b.spoolLen(t) == 0 })
	r := ch.records(t)[0]
	if r.TransactionID != "txn-1" || r.Role != "source" || r.CallID != "call-1" || r.StartTime.IsZero() ||
		r.ConnectTime.Before(r.StartTime) || r.EndTime.Before(r.ConnectTime) ||
		!r.CountersKnown || r.Packets != 250 || r.Octets != 43000 || r.CountersLost {
		t.Fatalf("usage record: %+v", r)
	}

	want := []string{
		"rx REQ AAA setup/2", "tx AuthorizationRequest setup/3", "rx AuthorizationResponse setup/4", "tx DEC Install setup/5",
		"rx REQ LDP setup/18", "tx DEC Gate-Set setup/19", "rx RPT Gate-Set-Ack setup/20", "tx DEC Install setup/21",
		"rx REQ noLDP teardown/4", "tx DEC Gate-Delete teardown/5", "rx RPT Gate-Delete-Ack teardown/6", "tx DEC Remove teardown/7",
		"tx UsageIndication teardown/8", "rx UsageConfirmation teardown/9",
	}
	if got := stepTrace(b, t, "call-1"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("message log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The clearinghouse refuses: DEC Remove with its status; unreachable: DEC
// Remove with 503 (fail closed). No gate either way.
func TestRefusedAndUnreachable(t *testing.T) {
	b := newBench(t, true)
	ch := newCH(t, b.chPort)
	ch.setRefuse(403)
	ch.up()
	rtr := startRouter(t, b.rtrPort)
	b.start(t)
	pep := dialPEP(t, b.copsPort)

	cmd, dec := pep.request(1, cops.KindAAA, callSession("denied", flow.Originating))
	if cmd != cops.CommandRemove || dec.Result != 403 || !strings.Contains(dec.Reason, "calling party barred") {
		t.Fatalf("refused call: %v %s", cmd, &dec)
	}
	ch.down()
	cmd, dec = pep.request(2, cops.KindAAA, callSession("no-ch", flow.Originating))
	if cmd != cops.CommandRemove || dec.Result != 503 {
		t.Fatalf("CH down: %v %s", cmd, &dec)
	}
	if len(rtr.commands()) != 0 {
		t.Fatalf("router got %q for refused calls", rtr.commands())
	}
}

// The router refuses the gate: the LDP is answered DEC Remove with the
// router's reason.
func TestGateSetErrOverTheWire(t *testing.T) {
	b := newBench(t, true)
	newCH(t, b.chPort).up()
	rtr := startRouter(t, b.rtrPort)
	rtr.setErr = cops.PCErrInsufficientResources
	b.start(t)
	pep := dialPEP(t, b.copsPort)
	s := callSession("c", flow.Terminating)
	s.Token = []byte("upstream-token")
	if cmd, _ := pep.request(1, cops.KindAAA, s); cmd != cops.CommandInstall {
		t.Fatal("AAA refused")
	}
	eventually(t, "router connection", func() bool { return strings.Contains(b.logs.String(), "router connected") })
	cmd, dec := pep.request(1, cops.KindLDP, s)
	if cmd != cops.CommandRemove || !strings.Contains(dec.Reason, "Insufficient-Resources") {
		t.Fatalf("LDP with Gate-Set-Err: %v %s", cmd, &dec)
	}
	// The terminating side gates the callee's media.
	if got := rtr.commands(); got[0] != "Gate-Set udp 198.18.5.2:30000->198.18.1.2:20000 dscp=46 call=c" {
		t.Fatalf("router saw %q", got)
	}
}

// Usage survives a clearinghouse that is down at teardown: the DEC goes
// out at once, the record waits in the spool and reaches the clearinghouse
// exactly once when it is back; the spool is empty afterwards.
func TestUsageSurvivesClearinghouseOutage(t *testing.T) {
	b := newBench(t, true)
	ch := newCH(t, b.chPort)
	ch.up()
	startRouter(t, b.rtrPort)
	b.start(t)
	pep := dialPEP(t, b.copsPort)
	eventually(t, "router connection", func() bool { return strings.Contains(b.logs.String(), "router connected") })

	for i, id := range []string{"a", "b", "c"} {
		s := callSession(id, flow.Originating)
		h := uint32(10 + i)
		pep.request(h, cops.KindAAA, s)
		pep.request(h, cops.KindLDP, s)
	}
	ch.down()
	for i, id := range []string{"a", "b", "c"} {
		if cmd, _ := pep.request(uint32(10+i), cops.KindNoLDP, callSession(id, flow.Originating)); cmd != cops.CommandRemove {
			t.Fatalf("noLDP %s not answered with Remove", id)
		}
	}
	if n := b.spoolLen(t); n != 3 {
		t.Fatalf("spool holds %d records while the CH is down, want 3", n)
	}
	eventually(t, "a few failed attempts", func() bool { return strings.Count(b.logs.String(), "usage delivery failed") >= 3 })
	ch.up()
	eventually(t, "usage delivered", func() bool { return len(ch.records(t)) == 3 })
	eventually(t, "empty spool", func() bool { return b.spoolLen(t) == 0 })
	// Every record is confirmed, so no attempt is left to deliver a late
	// duplicate.
	eventually(t, "every delivery confirmed", func() bool {
		return strings.Count(b.logs.String(), `"what":"UsageConfirmation"`) == 3
	})
	seen := map[string]int{}
	for _, r := range ch.records(t) {
		seen[r.CallID]++
	}
	if len(seen) != 3 {
		t.Fatalf("records per call: %v", seen)
	}
}

// A policy server restarted with records in its spool delivers them.
func TestRestartResumesSpool(t *testing.T) {
	b := newBench(t, true)
	ch := newCH(t, b.chPort)
	ch.up()
	startRouter(t, b.rtrPort)
	stop := b.start(t)
	pep := dialPEP(t, b.copsPort)
	eventually(t, "router connection", func() bool { return strings.Contains(b.logs.String(), "router connected") })
	s := callSession("r", flow.Originating)
	pep.request(1, cops.KindAAA, s)
	pep.request(1, cops.KindLDP, s)
	ch.down()
	pep.request(1, cops.KindNoLDP, s)
	stop()
	if n := b.spoolLen(t); n != 1 {
		t.Fatalf("spool after stop: %d records, want 1", n)
	}
	if len(ch.records(t)) != 0 {
		t.Fatal("record delivered while the CH was down")
	}
	ch.up()
	b.start(t)
	eventually(t, "resumed usage delivered", func() bool { return len(ch.records(t)) == 1 })
	eventually(t, "empty spool", func() bool { return b.spoolLen(t) == 0 })
}

// The router restarts with a clean table: the policy server re-installs
// the gate of the call in progress, and the release deletes the new gate.
func TestRouterRestartReinstallsGates(t *testing.T) {
	b := newBench(t, true)
	newCH(t, b.chPort).up()
	rtr := startRouter(t, b.rtrPort)
	b.start(t)
	pep := dialPEP(t, b.copsPort)
	eventually(t, "router connection", func() bool { return strings.Contains(b.logs.String(), "router connected") })
	s := callSession("rr", flow.Originating)
	pep.request(1, cops.KindAAA, s)
	pep.request(1, cops.KindLDP, s)
	rtr.stop()
	rtr2 := startRouter(t, b.rtrPort)
	eventually(t, "gate re-installed", func() bool { return rtr2.gateCount() == 1 })
	if got := rtr2.commands(); got[0] != "Gate-Set udp 198.18.1.2:20000->198.18.5.2:30000 dscp=46 call=rr" {
		t.Fatalf("re-install: %q", got)
	}
	rtr2.mu.Lock()
	_, sameID := rtr2.gates[1]
	rtr2.mu.Unlock()
	if !sameID {
		t.Fatal("the re-installed gate did not keep its id")
	}
	if cmd, _ := pep.request(1, cops.KindNoLDP, s); cmd != cops.CommandRemove {
		t.Fatal("release refused")
	}
	if rtr2.gateCount() != 0 {
		t.Fatal("re-installed gate not deleted")
	}
}

// The proxy's connection drops mid-call: the gate is deleted.
func TestProxyDisconnectDeletesGates(t *testing.T) {
	b := newBench(t, true)
	newCH(t, b.chPort).up()
	rtr := startRouter(t, b.rtrPort)
	b.start(t)
	pep := dialPEP(t, b.copsPort)
	eventually(t, "router connection", func() bool { return strings.Contains(b.logs.String(), "router connected") })
	s := callSession("pd", flow.Originating)
	pep.request(1, cops.KindAAA, s)
	pep.request(1, cops.KindLDP, s)
	pep.c.Close()
	eventually(t, "gate deleted", func() bool { return rtr.gateCount() == 0 })
}

// Without a clearinghouse the policy server authorises with the policy
// rules and records usage in its own usage.db; nothing goes to port 1080.
func TestNoClearinghouseMode(t *testing.T) {
	b := newBench(t, false)
	b.params["policy"] = `deny * -> sip:premium* code=403 reason="premium barred"; allow * -> * class=EF bw=64k`
	rtr := startRouter(t, b.rtrPort)
	rtr.counters = Counters{Packets: 10, Bytes: 1720}
	stop := b.start(t)
	pep := dialPEP(t, b.copsPort)
	eventually(t, "router connection", func() bool { return strings.Contains(b.logs.String(), "router connected") })

	barred := callSession("x", flow.Originating)
	barred.Callee = "sip:premium@198.18.5.2"
	if cmd, dec := pep.request(1, cops.KindAAA, barred); cmd != cops.CommandRemove || dec.Result != 403 || dec.Reason != "403 premium barred" {
		t.Fatalf("barred call: %v %s", cmd, &dec)
	}
	s := callSession("ok", flow.Originating)
	if cmd, _ := pep.request(2, cops.KindAAA, s); cmd != cops.CommandInstall {
		t.Fatal("allowed call refused")
	}
	pep.request(2, cops.KindLDP, s)
	pep.request(2, cops.KindNoLDP, s)
	eventually(t, "empty spool", func() bool { return b.spoolLen(t) == 0 })
	stop()
	st, err := usage.Open(context.Background(), filepath.Join(b.dir, usage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rs, err := st.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].CallID != "ok" || rs[0].Reporter != "pol1" || rs[0].ServiceClass != "EF" || rs[0].Bandwidth != 64000 ||
		!rs[0].CountersKnown || rs[0].Packets != 10 || rs[0].Octets != 1720 || rs[0].CountersLost {
		t.Fatalf("local usage: %+v", rs)
	}
	for _, m := range b.logs.Messages("") {
		if m.Proto == "osp" {
			t.Fatalf("OSP message logged in no-clearinghouse mode: %+v", m)
		}
	}
}

// A policy server restarted in the middle of a call forgets the call, but
// not the gate it installed: the gate book makes the new run delete it, so
// the router does not mark that media forever.
func TestRestartDeletesGatesLeftBehind(t *testing.T) {
	b := newBench(t, true)
	newCH(t, b.chPort).up()
	rtr := startRouter(t, b.rtrPort)
	stop := b.start(t)
	pep := dialPEP(t, b.copsPort)
	eventually(t, "router connection", func() bool { return strings.Contains(b.logs.String(), "router connected") })
	s := callSession("left", flow.Originating)
	pep.request(1, cops.KindAAA, s)
	pep.request(1, cops.KindLDP, s)
	stop()
	if rtr.gateCount() != 1 {
		t.Fatalf("router holds %d gates after the policy server stopped, want the call's 1", rtr.gateCount())
	}
	b.start(t)
	eventually(t, "left gate deleted", func() bool { return rtr.gateCount() == 0 })
	gb, err := OpenGateBook(context.Background(), filepath.Join(b.dir, GateBookFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer gb.Close()
	eventually(t, "gate book empty", func() bool { ids, err := gb.List(context.Background()); return err == nil && len(ids) == 0 })
}

// Over the wire: the counters polled before a router restart add up with
// those of the re-installed gate in the usage record, which reaches the
// clearinghouse flagged as counters lost.
func TestCountersSurviveRouterRestart(t *testing.T) {
	b := newBench(t, true)
	b.params["gate-info-every"] = "100ms"
	ch := newCH(t, b.chPort)
	ch.up()
	rtr := startRouter(t, b.rtrPort)
	rtr.mu.Lock()
	rtr.counters = Counters{Packets: 100, Bytes: 17200}
	rtr.mu.Unlock()
	b.start(t)
	pep := dialPEP(t, b.copsPort)
	eventually(t, "router connection", func() bool { return strings.Contains(b.logs.String(), "router connected") })
	s := callSession("cnt", flow.Originating)
	pep.request(1, cops.KindAAA, s)
	pep.request(1, cops.KindLDP, s)
	eventually(t, "a Gate-Info answered", func() bool { return strings.Contains(b.logs.String(), `"what":"RPT Gate-Info-Ack"`) })
	rtr.stop()
	rtr2 := startRouter(t, b.rtrPort)
	rtr2.mu.Lock()
	rtr2.counters = Counters{Packets: 10, Bytes: 1720}
	rtr2.mu.Unlock()
	eventually(t, "gate re-installed", func() bool { return rtr2.gateCount() == 1 })
	pep.request(1, cops.KindNoLDP, s)
	eventually(t, "usage logged", func() bool {
		return strings.Contains(b.logs.String(), `"packets":110,"bytes":18920,"counters_lost":true`)
	})
	eventually(t, "usage at the clearinghouse", func() bool { return len(ch.records(t)) == 1 })
	if r := ch.records(t)[0]; !r.CountersKnown || r.Packets != 110 || r.Octets != 18920 || !r.CountersLost {
		t.Fatalf("usage record at the clearinghouse: %+v", r)
	}
}

// A router that answers too late: the LDP is refused once gate-timeout is
// over, and the gate its late Gate-Set-Ack reports is deleted, so nothing
// stays marked for a call that was refused.
func TestSlowRouter(t *testing.T) {
	b := newBench(t, true)
	b.params["gate-timeout"] = "200ms"
	newCH(t, b.chPort).up()
	rtr := startRouter(t, b.rtrPort)
	rtr.mu.Lock()
	rtr.delay = 400 * time.Millisecond
	rtr.mu.Unlock()
	b.start(t)
	pep := dialPEP(t, b.copsPort)
	eventually(t, "router connection", func() bool { return strings.Contains(b.logs.String(), "router connected") })
	s := callSession("slow", flow.Originating)
	pep.request(1, cops.KindAAA, s)
	cmd, dec := pep.request(1, cops.KindLDP, s)
	if cmd != cops.CommandRemove || dec.Result != 503 || !strings.Contains(dec.Reason, "did not answer") {
		t.Fatalf("LDP with a silent router: %v %s", cmd, &dec)
	}
	eventually(t, "late gate deleted", func() bool {
		c := rtr.commands()
		return len(c) == 2 && strings.HasPrefix(c[1], "Gate-Delete") && rtr.gateCount() == 0
	})
}

// Garbage and the wrong client-type on the proxy port get a Client-Close,
// and the server keeps serving.
func TestProxyLegBadInput(t *testing.T) {
	b := newBench(t, false)
	startRouter(t, b.rtrPort)
	b.start(t)
	addr := "127.0.0.1:" + strconv.Itoa(b.copsPort)
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"PCMM client-type", func() []byte {
			m, _ := (&cops.Message{Header: cops.Header{Op: cops.OpOPN, ClientType: cops.ClientTypePCMM}, PEPID: "x"}).AppendTo(nil)
			return m
		}()},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(tc.msg)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		reply, err := cops.ReadMessage(bufio.NewReader(c), nil, 0)
		var m cops.Message
		if tc.name == "garbage" {
			// Not COPS at all: the connection is simply closed.
			if err == nil {
				t.Errorf("%s: answered", tc.name)
			}
		} else if err != nil || m.Decode(reply) != nil || m.Op != cops.OpCC || m.Error.Code != cops.ErrUnsupportedClient {
			t.Errorf("%s: want CC Unsupported-client, got %v %v", tc.name, &m, err)
		}
		c.Close()
	}
	dialPEP(t, b.copsPort) // still serving
}

// One malformed REQ on a proxy connection with a call in progress: the
// policy server answers it with a DEC carrying the RFC 2748 Error object
// (2.2.8: Mandatory-Object-Missing for a REQ without its Context,
// Mandatory-Client-Info-Missing for one without session information) on
// that REQ's handle, and the connection and the call on it go on to their
// end: gate, release, usage.
func TestMalformedREQKeepsTheConnection(t *testing.T) {
	b := newBench(t, true)
	ch := newCH(t, b.chPort)
	ch.up()
	rtr := startRouter(t, b.rtrPort)
	b.start(t)
	pep := dialPEP(t, b.copsPort)
	eventually(t, "router connection", func() bool { return strings.Contains(b.logs.String(), "router connected") })
	s := callSession("kept", flow.Originating)
	if cmd, _ := pep.request(1, cops.KindAAA, s); cmd != cops.CommandInstall {
		t.Fatal("AAA refused")
	}

	noContext, _ := (&cops.Message{Header: cops.Header{Op: cops.OpREQ, ClientType: cops.ClientTypeSession}, Handle: 66,
		Context: cops.KindAAA.Context()}).AppendTo(nil)
	noContext = noContext[:16] // header and Handle only
	binary.BigEndian.PutUint32(noContext[4:], 16)
	if _, err := pep.c.Write(noContext); err != nil {
		t.Fatal(err)
	}
	if m := pep.read(); m.Op != cops.OpDEC || m.Handle != 66 || m.Error.Code != cops.ErrMandatoryObject || len(m.Decisions) != 0 {
		t.Fatalf("REQ without Context answered %s, want DEC with Error Mandatory-Object-Missing", m)
	}
	pep.send(&cops.Message{Header: cops.Header{Op: cops.OpREQ, ClientType: cops.ClientTypeSession}, Handle: 67,
		Context: cops.KindAAA.Context()})
	if m := pep.read(); m.Op != cops.OpDEC || m.Handle != 67 || m.Error.Code != cops.ErrMandatoryClientSI {
		t.Fatalf("REQ without session information answered %s, want DEC with Error Mandatory-Client-Info-Missing", m)
	}

	if cmd, _ := pep.request(1, cops.KindLDP, s); cmd != cops.CommandInstall || rtr.gateCount() != 1 {
		t.Fatalf("LDP after the malformed REQs: %v, %d gates", cmd, rtr.gateCount())
	}
	if cmd, _ := pep.request(1, cops.KindNoLDP, s); cmd != cops.CommandRemove || rtr.gateCount() != 0 {
		t.Fatalf("noLDP after the malformed REQs: %v, %d gates", cmd, rtr.gateCount())
	}
	eventually(t, "usage at the clearinghouse", func() bool { return len(ch.records(t)) == 1 })
	if n := strings.Count(b.logs.String(), "proxy connected"); n != 1 {
		t.Fatalf("the proxy connected %d times", n)
	}
}
