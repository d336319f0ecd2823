package pdp

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/nodes/nodestest"
	"github.com/qoslab/qoslab/nodes/usage"
	"github.com/qoslab/qoslab/protocol/cops"
	"github.com/qoslab/qoslab/protocol/copsconn"
	"github.com/qoslab/qoslab/protocol/osp"
)

// This file is the loopback test bench: a policy server under test (Run,
// the real node), a proxy PEP speaking COPS over TCP, a router PEP speaking
// PCMM over TCP with a scripted data plane, and a clearinghouse serving OSP
// over HTTP with the real usage store behind it.

var loopback = netip.MustParseAddr("127.0.0.1")

// freePort returns a TCP port free on loopback right now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// bench is one policy server with its peers' addresses.
type bench struct {
	name                      string
	dir                       string
	copsPort, rtrPort, chPort int
	chAddr                    netip.Addr // the clearinghouse's address (default loopback)
	params                    map[string]string
	logs                      *nodestest.Log
}

func newBench(t testing.TB, withCH bool) *bench {
	b := &bench{name: "pol1", dir: t.TempDir(), copsPort: freePort(t), rtrPort: freePort(t), chPort: freePort(t), logs: &nodestest.Log{}}
	b.params = map[string]string{
		"router": "r1", "router-port": strconv.Itoa(b.rtrPort),
		"cops-port":       strconv.Itoa(b.copsPort),
		"gate-timeout":    "2s",
		"usage-retry-min": "20ms", "usage-retry-max": "200ms",
		"osp-timeout": "500ms",
	}
	if withCH {
		b.params["clearinghouse"] = "ch"
		b.params["clearinghouse-port"] = strconv.Itoa(b.chPort)
	}
	return b
}

// start runs the policy server until the returned stop is called (or the
// test ends) and waits until it is ready.
func (b *bench) start(t testing.TB) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	env := nodes.Env{
		Config: nodes.Config{
			Lab: "t", Name: b.name, Role: "pdp", Dir: b.dir,
			Nodes: map[string]nodes.NodeInfo{
				b.name: {Role: "pdp", Addr: loopback},
				"r1":   {Role: "router", Addr: loopback},
				"ch":   {Role: "clearinghouse", Addr: cmp.Or(b.chAddr, loopback)},
			},
			Params: b.params,
		},
		Log:   slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Ready: func() { close(ready) },
	}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, env) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("Run failed before ready: %v", err)
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatal("policy server not ready in 5s")
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// spoolLen opens the spool while the policy server is stopped, or reads it
// concurrently (SQLite WAL allows a second reader).
func (b *bench) spoolLen(t testing.TB) int {
	t.Helper()
	s, err := OpenSpool(context.Background(), b.dir+"/"+SpoolFileName)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, err := s.Len(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// eventually polls cond for up to 5s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// --- proxy PEP -----------------------------------------------------------

// testPEP is the proxy's side of the proxy leg, over a real TCP connection.
type testPEP struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dialPEP(t testing.TB, port int) *testPEP {
	t.Helper()
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := &testPEP{t: t, c: c, r: bufio.NewReader(c)}
	p.send(&cops.Message{Header: cops.Header{Op: cops.OpOPN, ClientType: cops.ClientTypeSession}, PEPID: "sip1"})
	if m := p.read(); m.Op != cops.OpCAT {
		t.Fatalf("PDP answered OPN with %s", m.Op)
	}
	return p
}

func (p *testPEP) send(m *cops.Message) {
	p.t.Helper()
	b, err := m.AppendTo(nil)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.c.Write(b); err != nil {
		p.t.Fatal(err)
	}
}

func (p *testPEP) read() *cops.Message {
	p.t.Helper()
	p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := cops.ReadMessage(p.r, nil, 0)
	if err != nil {
		p.t.Fatalf("PEP read: %v", err)
	}
	m := new(cops.Message)
	if err := m.Decode(b); err != nil {
		p.t.Fatal(err)
	}
	return m
}

// request sends a REQ and returns the DEC's command and session data.
func (p *testPEP) request(h uint32, kind cops.Kind, s cops.Session) (cops.Command, cops.Session) {
	p.t.Helper()
	data, err := s.AppendTo(nil)
	if err != nil {
		p.t.Fatal(err)
	}
	p.send(&cops.Message{Header: cops.Header{Op: cops.OpREQ, ClientType: cops.ClientTypeSession},
		Handle: cops.Handle(h), Context: kind.Context(), ClientSI: []cops.ClientSI{{Data: data}}})
	m := p.read()
	if m.Op != cops.OpDEC || uint32(m.Handle) != h || len(m.Decisions) != 1 {
		p.t.Fatalf("want one DEC on handle %d, got %s", h, m)
	}
	d := m.Decisions[0]
	if cops.KindOf(d.Context) != kind {
		p.t.Fatalf("DEC for %v answers %v", kind, d.Context)
	}
	var out cops.Session
	if err := out.Decode(d.ClientData); err != nil {
		p.t.Fatal(err)
	}
	out.Token = append([]byte(nil), out.Token...)
	return d.Command, out
}

var (
	uacMedia = netip.MustParseAddrPort("198.18.1.2:20000")
	uasMedia = netip.MustParseAddrPort("198.18.5.2:30000")
)

func callSession(id string, side flow.Side) cops.Session {
	return cops.Session{CallID: id, Side: side, Caller: "sip:uac@198.18.1.2", Callee: "sip:uas@198.18.5.2", Class: "EF", Bandwidth: 87200,
		Media: []cops.MediaFlow{
			{Dir: cops.Forward, Tuple: flow.Tuple{Proto: 17, Src: uacMedia, Dst: uasMedia}},
			{Dir: cops.Backward, Tuple: flow.Tuple{Proto: 17, Src: uasMedia, Dst: uacMedia}},
		}}
}

// --- router PEP with a scripted data plane --------------------------------

// testRouter is the router side of the PCMM leg as the router node runs it
// (a PCMM PEP of protocol/copsconn: OPN, the synchronising REQ, one RPT
// per gate command)
// over a scripted data plane: a table of gates, no packets; the counters it
// reports are set by the test.
type testRouter struct {
	t      testing.TB
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	gates    map[uint32]cops.PCMM // installed gates by id
	nextGate uint32
	setErr   cops.PCMMErrorCode // answer Gate-Sets with this error when non-zero
	counters Counters           // reported in every Gate-Delete-Ack
	delay    time.Duration      // answer each command this late
	log      []string           // gate commands seen
}

func startRouter(t testing.TB, port int) *testRouter {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &testRouter{t: t, cancel: cancel, done: make(chan struct{}), gates: map[uint32]cops.PCMM{}}
	go func() {
		defer close(r.done)
		copsconn.Serve(ctx, ln, copsconn.Config{Role: copsconn.PEP, ClientType: cops.ClientTypePCMM, PEPID: "r1", Gates: r.apply})
	}()
	t.Cleanup(r.stop)
	return r
}

// stop ends the router: its connections close and its table is gone.
func (r *testRouter) stop() {
	r.cancel()
	<-r.done
}

// apply runs one gate command on the table and returns the answer.
func (r *testRouter) apply(ctx context.Context, p *cops.PCMM) cops.PCMM {
	r.mu.Lock()
	delay := r.delay
	r.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ans := cops.PCMM{HasAMID: p.HasAMID, AMID: p.AMID, SubscriberID: p.SubscriberID}
	switch p.Command {
	case cops.GateSet:
		c := p.Classifiers[0]
		d, _ := p.GateSpec.DSCP()
		r.log = append(r.log, fmt.Sprintf("Gate-Set %s dscp=%d call=%s", c, d, bytes.TrimRight(p.Opaque, "\x00")))
		if r.setErr != 0 {
			ans.Command, ans.Error = cops.GateSetErr, cops.PCMMError{Code: r.setErr}
			return ans
		}
		id := p.GateID
		if !p.HasGateID {
			r.nextGate++
			id = r.nextGate
		}
		r.gates[id] = *p
		ans.HasGateID, ans.GateID = true, id
	case cops.GateDelete:
		r.log = append(r.log, fmt.Sprintf("Gate-Delete %d", p.GateID))
		ans.HasGateID, ans.GateID = true, p.GateID
		if _, ok := r.gates[p.GateID]; !ok {
			ans.Command, ans.Error = cops.GateDeleteErr, cops.PCMMError{Code: cops.PCErrUnknownGateID}
			return ans
		}
		delete(r.gates, p.GateID)
		ans.HasGateUsageInfo, ans.GateUsageInfo = true, r.counters.Bytes
		ans.HasUsagePackets, ans.UsagePackets = true, r.counters.Packets
	case cops.GateInfo:
		ans.HasGateID, ans.GateID = true, p.GateID
		if _, ok := r.gates[p.GateID]; !ok {
			ans.Command, ans.Error = cops.GateInfoErr, cops.PCMMError{Code: cops.PCErrUnknownGateID}
			return ans
		}
		ans.HasGateUsageInfo, ans.GateUsageInfo = true, r.counters.Bytes
		ans.HasUsagePackets, ans.UsagePackets = true, r.counters.Packets
	default:
		ans.Command, ans.Error = p.Command.Err(), cops.PCMMError{Code: cops.PCErrUnknownGateCommand}
	}
	return ans
}

func (r *testRouter) gateCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.gates)
}

func (r *testRouter) commands() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// --- clearinghouse ---------------------------------------------------------

// testCH answers OSP over HTTP: authorises with a token unless told to
// refuse, and records usage in a real usage store (once per transaction
// and role, as the clearinghouse does).
type testCH struct {
	t     *testing.T
	port  int
	store *usage.Store

	mu     sync.Mutex
	refuse osp.StatusCode // refuse authorisations with this status when non-zero
	srv    *http.Server
	seq    int
	wg     sync.WaitGroup
}

func newCH(t *testing.T, port int) *testCH {
	st, err := usage.Open(context.Background(), t.TempDir()+"/usage.db")
	if err != nil {
		t.Fatal(err)
	}
	ch := &testCH{t: t, port: port, store: st}
	t.Cleanup(func() { ch.down(); st.Close() })
	return ch
}

// up starts serving on the CH's port (again, after down).
func (ch *testCH) up() {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ch.port)))
	if err != nil {
		ch.t.Fatal(err)
	}
	srv := &http.Server{Handler: osp.NewHandler(ch, nil)}
	ch.mu.Lock()
	ch.srv = srv
	ch.mu.Unlock()
	ch.wg.Add(1)
	go func() {
		defer ch.wg.Done()
		srv.Serve(ln)
	}()
}

// down stops serving: connections are refused until up.
func (ch *testCH) down() {
	ch.mu.Lock()
	srv := ch.srv
	ch.srv = nil
	ch.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	ch.wg.Wait()
}

func (ch *testCH) Authorize(ctx context.Context, peer osp.Peer, req *osp.AuthorizationRequest) *osp.AuthorizationResponse {
	ch.mu.Lock()
	if refuse := ch.refuse; refuse != 0 {
		ch.mu.Unlock()
		return &osp.AuthorizationResponse{Status: osp.Status{Code: refuse, Description: "calling party barred"}}
	}
	ch.seq++
	txn := fmt.Sprintf("txn-%d", ch.seq)
	ch.mu.Unlock()
	return &osp.AuthorizationResponse{Status: osp.Status{Code: osp.StatusOK}, TransactionID: txn,
		Destinations: []osp.Destination{{Token: osp.Base64("token-" + txn), CallID: req.CallID, ServiceClass: "EF", Bandwidth: 87200}}}
}

func (ch *testCH) ValidateToken(ctx context.Context, peer osp.Peer, ind *osp.AuthorizationIndication) *osp.AuthorizationConfirmation {
	return &osp.AuthorizationConfirmation{Status: osp.Status{Code: osp.StatusOK}}
}

func (ch *testCH) ReportUsage(ctx context.Context, peer osp.Peer, ind *osp.UsageIndication) *osp.UsageConfirmation {
	_, err := ch.store.Insert(ctx, usage.Record{TransactionID: ind.TransactionID, Role: ind.Role, CallID: string(ind.CallID),
		Source: ind.SourceInfo.Value, Destination: ind.DestinationInfo.Value, DurationMs: ind.UsageDetail.Amount.Milliseconds(), Unit: ind.UsageDetail.Unit,
		StartTime: ind.UsageDetail.StartTime.Time, ConnectTime: ind.UsageDetail.ConnectTime.Time, EndTime: ind.UsageDetail.EndTime.Time,
		CountersKnown: ind.Marked != nil, Packets: int64(marked(ind).Packets), Octets: int64(marked(ind).Octets),
		CountersLost: marked(ind).CountersLost})
	if err != nil {
		return &osp.UsageConfirmation{Status: osp.Status{Code: osp.StatusServerError, Description: err.Error()}}
	}
	return &osp.UsageConfirmation{Status: osp.Status{Code: osp.StatusOK}}
}

func (ch *testCH) Reauthorize(ctx context.Context, peer osp.Peer, req *osp.ReauthorizationRequest) *osp.ReauthorizationResponse {
	return &osp.ReauthorizationResponse{Status: osp.Status{Code: osp.StatusUnsupported}}
}

func (ch *testCH) IndicateCapabilities(ctx context.Context, peer osp.Peer, ind *osp.CapabilitiesIndication) *osp.CapabilitiesConfirmation {
	return &osp.CapabilitiesConfirmation{Status: osp.Status{Code: osp.StatusOK}}
}

// marked returns the indication's marked traffic, zero when absent.
func marked(ind *osp.UsageIndication) osp.MarkedTraffic {
	if ind.Marked == nil {
		return osp.MarkedTraffic{}
	}
	return *ind.Marked
}

func (ch *testCH) records(t *testing.T) []usage.Record {
	t.Helper()
	rs, err := ch.store.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// setRefuse makes the clearinghouse refuse (code != 0) or authorise.
func (ch *testCH) setRefuse(code osp.StatusCode) {
	ch.mu.Lock()
	ch.refuse = code
	ch.mu.Unlock()
}
