package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/internal/wait"
	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/nodes/sipstack"
	"github.com/qoslab/qoslab/protocol/cops"
	"github.com/qoslab/qoslab/protocol/copsconn"
)

// A loopback lab without namespaces: UAC, SIP1, SIP2 and UAS on their own
// 127.x addresses (port 5060), each proxy with its own PDP.

var labSeq atomic.Uint32

// labAddrs picks four fresh loopback addresses for one test. 127.0.0.0/8
// is all loopback on Linux; the 127.77.x.y range keeps clear of others.
func labAddrs() (uac, sip1, sip2, uas netip.Addr) {
	n := labSeq.Add(1)
	hi, lo := byte(10+n/250), byte(n%250)
	mk := func(last byte) netip.Addr { return netip.AddrFrom4([4]byte{127, 77 + hi - 10, lo, last}) }
	return mk(1), mk(2), mk(3), mk(4)
}

// msgRecorder keeps the nodes.LogMessage lines of one proxy ("tx sip 180
// Ringing", and whole in full) and passes everything on to stderr when
// QOSLAB_PROXY_TESTLOG is set.
type msgRecorder struct {
	next slog.Handler
	mu   *sync.Mutex
	msgs *[]string
	full *[]nodes.Message
}

func newRecorder(name string) *msgRecorder {
	var next slog.Handler = slog.DiscardHandler
	if os.Getenv("QOSLAB_PROXY_TESTLOG") != "" {
		next = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}).WithAttrs([]slog.Attr{slog.String("node", name)})
	}
	return &msgRecorder{next: next, mu: &sync.Mutex{}, msgs: new([]string), full: new([]nodes.Message)}
}

// Enabled keeps Info (the message log) and, when printing, Debug.
func (r *msgRecorder) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || r.next.Enabled(ctx, l)
}
func (r *msgRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &msgRecorder{next: r.next.WithAttrs(as), mu: r.mu, msgs: r.msgs, full: r.full}
}
func (r *msgRecorder) WithGroup(g string) slog.Handler {
	return &msgRecorder{next: r.next.WithGroup(g), mu: r.mu, msgs: r.msgs, full: r.full}
}
func (r *msgRecorder) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Message == "msg" {
		var m nodes.Message
		rec.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "dir":
				m.Dir = a.Value.String()
			case "proto":
				m.Proto = a.Value.String()
			case "what":
				m.What = a.Value.String()
			case "call":
				m.CallID = a.Value.String()
			case "flow":
				m.Flow = a.Value.String()
			case "step":
				m.Step = int(a.Value.Int64())
			case "peer":
				m.Peer = a.Value.String()
			}
			return true
		})
		r.mu.Lock()
		*r.msgs = append(*r.msgs, m.Dir+" "+m.Proto+" "+m.What)
		*r.full = append(*r.full, m)
		r.mu.Unlock()
	}
	if r.next.Enabled(ctx, rec.Level) {
		return r.next.Handle(ctx, rec)
	}
	return nil
}

// messages returns the message lines of one call.
func (r *msgRecorder) messages(call string) []nodes.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []nodes.Message
	for _, m := range *r.full {
		if m.CallID == call {
			out = append(out, m)
		}
	}
	return out
}

func (r *msgRecorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), *r.msgs...)
}

// lab is one UAC/SIP1/SIP2/UAS chain.
type lab struct {
	t                  testing.TB
	uacAddr, uasAddr   netip.AddrPort
	sip1Addr, sip2Addr netip.AddrPort
	sip1, sip2         *Proxy
	log1, log2         *msgRecorder
	uac                *testUA
	uas                *testUA
}

// startLab runs both proxies with dialers for their PDPs and both UAs.
func startLab(t testing.TB, pdp1, pdp2 *scriptedPDP, timeout time.Duration) *lab {
	return startLabWith(t, pdp1, pdp2, timeout, nil)
}

// startLabWith is startLab with each proxy's Config adjusted by edit
// (side 1 is SIP1, 2 is SIP2) before it starts.
func startLabWith(t testing.TB, pdp1, pdp2 *scriptedPDP, timeout time.Duration, edit func(l *lab, side int, cfg *Config)) *lab {
	t.Helper()
	a, b, c, d := labAddrs()
	l := &lab{
		t:        t,
		uacAddr:  netip.AddrPortFrom(a, 5060),
		sip1Addr: netip.AddrPortFrom(b, 5060),
		sip2Addr: netip.AddrPortFrom(c, 5060),
		uasAddr:  netip.AddrPortFrom(d, 5060),
	}
	names := map[netip.Addr]string{a: "uac", b: "sip1", c: "sip2", d: "uas"}
	nameOf := func(x netip.Addr) string { return names[x] }
	l.log1, l.log2 = newRecorder("sip1"), newRecorder("sip2")
	cfg1 := Config{Self: l.sip1Addr, Peer: l.sip2Addr, PolicyTimeout: timeout, NameOf: nameOf, PDPName: "pol1"}
	cfg2 := Config{Self: l.sip2Addr, Peer: l.sip1Addr, PolicyTimeout: timeout, NameOf: nameOf, PDPName: "pol2"}
	if edit != nil {
		edit(l, 1, &cfg1)
		edit(l, 2, &cfg2)
	}
	l.sip1 = startProxy(t, cfg1, pdp1.addr, slog.New(l.log1))
	l.sip2 = startProxy(t, cfg2, pdp2.addr, slog.New(l.log2))
	l.uac = startUA(t, l.uacAddr)
	l.uas = startUA(t, l.uasAddr)
	return l
}

// startProxy runs a proxy whose PEP talks COPS to the PDP at pdpAddr,
// the way Run wires them.
func startProxy(t testing.TB, cfg Config, pdpAddr string, log *slog.Logger) *Proxy {
	t.Helper()
	pep := newPEPPolicy(pdpAddr, cfg.Self.Addr().String(), log)
	p, err := New(cfg, pep, log)
	if err != nil {
		t.Fatal(err)
	}
	pep.attach(p)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- p.Serve(ctx, nil) }()
	go func() { done <- pep.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("%s: %v", cfg.Self, err)
			}
		}
	})
	return p
}

// testUA is a sipgo user agent acting as UAC or UAS.
type testUA struct {
	addr netip.AddrPort
	st   *sipstack.Stack
	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	cli  *sipgo.Client
	dc   *sipgo.DialogClientCache
	ds   *sipgo.DialogServerCache

	mu       sync.Mutex
	answer   func(d *sipgo.DialogServerSession) // UAS behaviour
	invites  []*sip.Request                     // INVITEs received
	byes     int                                // BYEs received
	acks     int                                // ACKs received
	inDialog chan *sipgo.DialogServerSession
}

// startUA runs a UA on the stack the lab's UAs use (nodes/sipstack: UDP
// and TCP, responses in wire order).
func startUA(t testing.TB, addr netip.AddrPort) *testUA {
	t.Helper()
	st, err := sipstack.New(sipstack.Config{Name: "ua", Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	ua, srv, cli := st.UA, st.Server, st.Client
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "ua", Host: addr.Addr().String(), Port: int(addr.Port())}}
	u := &testUA{addr: addr, st: st, ua: ua, srv: srv, cli: cli,
		dc: sipgo.NewDialogClientCache(cli, contact), ds: sipgo.NewDialogServerCache(cli, contact),
		inDialog: make(chan *sipgo.DialogServerSession, 16)}
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		u.mu.Lock()
		u.invites = append(u.invites, req)
		answer := u.answer
		u.mu.Unlock()
		d, err := u.ds.ReadInvite(req, tx)
		if err != nil {
			tx.Respond(sip.NewResponseFromRequest(req, 400, err.Error(), nil))
			return
		}
		defer d.Close()
		if answer == nil {
			answer = answerRing(0)
		}
		select {
		case u.inDialog <- d: // for tests that hang up from the UAS
		default:
		}
		answer(d)
		select {
		case <-d.Context().Done():
		case <-tx.Done():
		}
	})
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) {
		u.mu.Lock()
		u.acks++
		u.mu.Unlock()
		u.ds.ReadAck(req, tx)
	})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		u.mu.Lock()
		u.byes++
		u.mu.Unlock()
		if err := u.ds.ReadBye(req, tx); err != nil {
			if err := u.dc.ReadBye(req, tx); err != nil {
				tx.Respond(sip.NewResponseFromRequest(req, 481, "No Dialog", nil))
			}
		}
	})
	if err := st.Serve(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return u
}

func (u *testUA) setAnswer(f func(d *sipgo.DialogServerSession)) {
	u.mu.Lock()
	u.answer = f
	u.mu.Unlock()
}

func (u *testUA) invite(i int) *sip.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.invites[i]
}

func (u *testUA) counts() (invites, acks, byes int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.invites), u.acks, u.byes
}

func sdpBody(addr netip.Addr, port int, formats string) []byte {
	return []byte(fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=qoslab\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP %s\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n",
		addr, addr, port, formats))
}

var sdpType = sip.NewHeader("Content-Type", "application/sdp")

// answerRing rings with the SDP answer, then answers after ring.
func answerRing(ring time.Duration) func(d *sipgo.DialogServerSession) {
	return func(d *sipgo.DialogServerSession) {
		body := sdpBody(netip.MustParseAddr(d.InviteRequest.Recipient.Host), 30000, "0")
		d.Respond(180, "Ringing", body, sdpType)
		if ring > 0 {
			// Ring as a phone does: until the time is up or the caller
			// gives up.
			select {
			case <-time.After(ring):
			case <-d.Context().Done():
				return
			}
		}
		d.Respond(200, "OK", body, sdpType)
	}
}

// answerDirect answers 200 without ringing.
func answerDirect(d *sipgo.DialogServerSession) {
	body := sdpBody(netip.MustParseAddr(d.InviteRequest.Recipient.Host), 30000, "0")
	d.Respond(200, "OK", body, sdpType)
}

// callResult is what the UAC saw.
type callResult struct {
	statuses []int
	final    *sip.Response
	dialog   *sipgo.DialogClientSession
	err      error
}

func (r callResult) String() string {
	final := 0
	if r.final != nil {
		final = r.final.StatusCode
	}
	return fmt.Sprintf("statuses %v final %d err %v", r.statuses, final, r.err)
}

// invite places a call from the lab's UAC to its UAS through SIP1.
func (l *lab) invite(ctx context.Context, body []byte, mutate ...func(*sip.Request)) callResult {
	uri := sip.Uri{Scheme: "sip", User: "uas", Host: l.uasAddr.Addr().String(), Port: int(l.uasAddr.Port())}
	req := sip.NewRequest(sip.INVITE, uri)
	if body != nil {
		req.SetBody(body)
		req.AppendHeader(sdpType)
	}
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "uac", Host: l.uacAddr.Addr().String(), Port: int(l.uacAddr.Port())}})
	// SIP1 is the UAC's outbound proxy: a pre-loaded Route (RFC 3261 8.1.2),
	// which a CANCEL copies.
	req.AppendHeader(&sip.RouteHeader{Address: sip.Uri{Scheme: "sip", Host: l.sip1Addr.Addr().String(), Port: int(l.sip1Addr.Port()),
		UriParams: sip.HeaderParams{{K: "lr", V: ""}}}})
	for _, m := range mutate {
		m(req)
	}
	// The provisional responses as they came off the wire (sipgo's
	// transaction may drop a 180 it is handed after the 200); the final
	// from the transaction.
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: l.uacAddr.Addr().String(), Port: int(l.uacAddr.Port())}
	via.Params.Add("branch", sip.GenerateBranchN(16))
	req.PrependHeader(via)
	var (
		res callResult
		mu  sync.Mutex
	)
	stop := l.uac.st.Watch(sipstack.Branch(req), func(r *sip.Response) {
		if r.IsProvisional() {
			mu.Lock()
			res.statuses = append(res.statuses, r.StatusCode)
			mu.Unlock()
		}
	})
	defer stop()
	d, err := l.uac.dc.WriteInvite(ctx, req)
	if err != nil {
		res.err = err
		return res
	}
	res.dialog = d
	err = d.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
		if r.StatusCode >= 200 {
			mu.Lock()
			res.statuses = append(res.statuses, r.StatusCode)
			res.final = r
			mu.Unlock()
		}
		return nil
	}})
	stop()
	mu.Lock()
	defer mu.Unlock()
	var dr *sipgo.ErrDialogResponse
	if err != nil && !errors.As(err, &dr) {
		res.err = err
	}
	return res
}

// waitFor polls cond (the proxies' state settles asynchronously after the
// last SIP message: DRQ goroutines, transaction timers).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	wait.For(t, what, cond)
}

// scriptedPDP is a real COPS PDP on loopback TCP (protocol/copsconn, the
// connection layer the policy server runs) whose decisions follow a
// script. It logs the REQs it decides and counts open handles (REQ opens,
// DRQ or connection loss closes) so that tests can see a leaked handle. The
// REQs of one handle are decided one after the other, each in a goroutine
// of its own (a script may block).
type scriptedPDP struct {
	decide func(kind cops.Kind, s cops.Session) decision
	addr   string // host:port; "" for a PDP nobody listens for

	mu      sync.Mutex
	reqs    []string
	open    map[cops.Handle]bool
	silence bool    // never answers
	last    request // the latest REQ
	queues  map[*copsconn.Conn]map[cops.Handle]chan struct{}
	work    sync.WaitGroup
	stop    context.CancelFunc
	done    chan struct{}
}

// decision is what the script answers a REQ with.
type decision struct {
	Command cops.Command
	Session cops.Session
}

// request is one REQ as the script sees it.
type request struct {
	conn    *copsconn.Conn
	Handle  cops.Handle
	Kind    cops.Kind
	Session cops.Session
}

func newScriptedPDP(t testing.TB, decide func(cops.Kind, cops.Session) decision) *scriptedPDP {
	t.Helper()
	if decide == nil {
		decide = allowAll
	}
	p := &scriptedPDP{decide: decide, open: map[cops.Handle]bool{}, done: make(chan struct{}),
		queues: map[*copsconn.Conn]map[cops.Handle]chan struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	go func() {
		defer close(p.done)
		copsconn.Serve(ctx, ln, copsconn.Config{Role: copsconn.PDP, ClientType: cops.ClientTypeSession,
			OnMessage: p.onMessage, OnClose: p.onClose})
		p.work.Wait()
	}()
	t.Cleanup(p.crash)
	return p
}

// unreachablePDP is an address where no PDP listens: a loopback address
// of this test's own range, so no other listener can take it meanwhile.
func unreachablePDP(t testing.TB) *scriptedPDP {
	done := make(chan struct{})
	close(done)
	return &scriptedPDP{addr: "127.77.254.254:3288", open: map[cops.Handle]bool{}, stop: func() {}, done: done}
}

// crash stops the PDP: its connections close (CC), as when it dies.
func (p *scriptedPDP) crash() {
	p.stop()
	<-p.done
}

func session(kind cops.Kind, s cops.Session) decision {
	return decision{Command: cops.CommandInstall, Session: cops.Session{CallID: s.CallID, Side: s.Side, Result: 200}}
}

func allowAll(kind cops.Kind, s cops.Session) decision {
	d := session(kind, s)
	switch kind {
	case cops.KindAAA:
		d.Session.Token = []byte("tok-" + map[flow.Side]string{flow.Originating: "orig", flow.Terminating: "term"}[s.Side])
	case cops.KindNoLDP:
		d.Command = cops.CommandRemove
	}
	return d
}

func reqKind(k cops.Kind) cops.Kind {
	switch k {
	case cops.KindAAA:
		return cops.KindAAA
	case cops.KindLDP:
		return cops.KindLDP
	case cops.KindNoLDP:
		return cops.KindNoLDP
	}
	return 0
}

// onMessage queues a REQ's decision or a DRQ behind the work already
// queued on its handle.
func (p *scriptedPDP) onMessage(c *copsconn.Conn, m *cops.Message) {
	switch m.Op {
	case cops.OpREQ:
		r := request{conn: c, Handle: m.Handle, Kind: cops.KindOf(m.Context)}
		if len(m.ClientSI) == 0 || r.Session.Decode(m.ClientSI[0].Data) != nil {
			c.Send(&cops.Message{Header: cops.Header{Op: cops.OpDEC, Flags: cops.FlagSolicited}, Handle: m.Handle,
				Error: cops.Error{Code: cops.ErrMandatoryClientSI}})
			return
		}
		r.Session.Token = append([]byte(nil), r.Session.Token...)
		p.queue(c, m.Handle, func() {
			if d, ok := p.handle(r); ok {
				c.Send(decisionMessage(m.Handle, m.Context, d, true))
			}
		})
	case cops.OpDRQ:
		p.queue(c, m.Handle, func() {
			p.mu.Lock()
			p.reqs = append(p.reqs, "DRQ")
			delete(p.open, m.Handle)
			p.mu.Unlock()
		})
	}
}

// onClose drops the handles of a lost connection (RFC 2748 2.5).
func (p *scriptedPDP) onClose(c *copsconn.Conn, _ error) {
	p.mu.Lock()
	hs := p.queues[c]
	delete(p.queues, c)
	p.mu.Unlock()
	for h := range hs {
		p.queue(nil, h, func() {
			p.mu.Lock()
			delete(p.open, h)
			p.mu.Unlock()
		})
	}
}

// queue runs f after the work already queued on handle h of c.
func (p *scriptedPDP) queue(c *copsconn.Conn, h cops.Handle, f func()) {
	p.mu.Lock()
	hs := p.queues[c]
	if hs == nil {
		hs = map[cops.Handle]chan struct{}{}
		p.queues[c] = hs
	}
	prev := hs[h]
	next := make(chan struct{})
	hs[h] = next
	p.work.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.work.Done()
		defer close(next)
		if prev != nil {
			<-prev
		}
		f()
	}()
}

// decisionMessage builds the DEC for a decision.
func decisionMessage(h cops.Handle, ctx cops.Context, d decision, solicited bool) *cops.Message {
	data, _ := d.Session.AppendTo(nil)
	m := &cops.Message{Header: cops.Header{Op: cops.OpDEC}, Handle: h,
		Decisions: []cops.Decision{{Context: ctx, Command: d.Command, ClientData: data}}}
	if solicited {
		m.Flags = cops.FlagSolicited
	}
	return m
}

// unsolicited sends a DEC on the connection and handle of r (a
// PDP-initiated change, e.g. a Remove when the clearinghouse revokes).
func (p *scriptedPDP) unsolicited(r request, ctx cops.Context, d decision) error {
	return r.conn.Send(decisionMessage(r.Handle, ctx, d, false))
}

// handle logs a REQ and decides it; ok is false for a silent PDP.
func (p *scriptedPDP) handle(r request) (decision, bool) {
	kind := reqKind(r.Kind)
	s := r.Session
	p.mu.Lock()
	entry := "REQ " + kind.String()
	if len(s.Token) > 0 {
		entry += " token=" + string(s.Token)
	}
	if len(s.Media) > 0 {
		var f []string
		for _, m := range s.Media {
			f = append(f, m.String())
		}
		entry += " media=" + strings.Join(f, ",")
	}
	if s.Alerting {
		entry += " alerting"
	}
	if s.ReleasedBy != 0 {
		entry += " released-by=" + s.ReleasedBy.String()
	}
	p.reqs = append(p.reqs, entry)
	p.open[r.Handle] = true
	p.last = r
	silence := p.silence
	p.mu.Unlock()
	if silence {
		<-r.conn.Done()
		return decision{}, false
	}
	return p.decide(kind, s), true
}

func (p *scriptedPDP) log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.reqs...)
}

func (p *scriptedPDP) openHandles() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.open)
}
