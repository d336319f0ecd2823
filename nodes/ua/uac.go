package ua

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/nodes/sipstack"
	"github.com/qoslab/qoslab/traffic/rtp"
)

// setupTimeout bounds how long the UAC waits for a final response to an
// INVITE before it cancels (sipgo sends the CANCEL). It is longer than
// Timer B (32 s), so a proxy's own 408 reaches the caller as the outcome.
const setupTimeout = 40 * time.Second

// byeTimeout bounds a BYE transaction (64*T1, what Timer F allows).
const byeTimeout = 32 * time.Second

// UAC places calls. Create it with NewUAC, stop it with Close.
type UAC struct {
	env   nodes.Env
	p     params
	log   *slog.Logger
	sl    sipLog
	st    *stack
	calls *sipgo.DialogClientCache
	ports *portPool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per Call in progress

	mu sync.Mutex
	// byes holds, per Call-ID of a call in progress, a channel the BYE
	// handler closes when the UAS hangs up, and what it reported.
	byes   map[string]*remoteBye
	closed bool
}

type remoteBye struct {
	done   chan struct{}
	peer   *PeerMedia
	by     string // node that sent the BYE (its Via is the bottom one)
	reason string // the BYE's Reason header (RFC 3326), if any
	// callee is the remote target the 200 named (host:port): a BYE whose
	// bottom Via is that came from the callee.
	callee string
	name   string // the callee's node name
}

// NewUAC binds the UAC's SIP socket; it then accepts Call.
func NewUAC(ctx context.Context, env nodes.Env) (*UAC, error) {
	p, err := readParams(env, 20000)
	if err != nil {
		return nil, err
	}
	u := &UAC{
		env: env, p: p, log: env.Log,
		sl:    sipLog{log: env.Log, role: flow.UAC, nameOf: nameOfFunc(env)},
		ports: newPortPool(p.self, p.rtpBase),
		byes:  make(map[string]*remoteBye),
	}
	u.ctx, u.cancel = context.WithCancel(ctx)
	u.st, err = newStack(env.Name, p.sipAddr(), env.Log)
	if err != nil {
		u.cancel()
		return nil, err
	}
	u.calls = sipgo.NewDialogClientCache(u.st.cli, u.st.contact)
	u.st.srv.OnBye(u.onBye)
	u.st.srv.OnCancel(noTransaction)
	if err := u.st.serve(); err != nil {
		u.cancel()
		return nil, err
	}
	if err := registerSelf(u.ctx, env, p, u.st, u.sl, &u.wg); err != nil {
		u.cancel()
		u.st.close()
		return nil, err
	}
	return u, nil
}

// Close aborts calls in progress (each still sends its BYE, briefly),
// waits for them and releases the sockets.
func (u *UAC) Close() {
	u.cancel()
	u.mu.Lock()
	u.closed = true
	u.mu.Unlock()
	u.wg.Wait()
	u.st.close()
}

// Call places one call and returns its outcome. The error is for a
// request that could not be tried at all (bad parameters); everything
// that happens on the wire is in the result.
func (u *UAC) Call(ctx context.Context, r CallRequest) (CallResult, error) {
	spec, err := u.p.spec(r)
	if err != nil {
		return CallResult{}, err
	}
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return CallResult{}, errClosed
	}
	u.wg.Add(1)
	u.mu.Unlock()
	defer u.wg.Done()
	target, callee, err := u.resolve(spec.to)
	if err != nil {
		return CallResult{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(u.ctx, cancel) // node shutdown ends the call
	defer stop()

	c := &uacCall{
		u: u, spec: spec, target: target, callee: callee,
		res: CallResult{CallID: newCallID(), From: u.env.Name, To: spec.to, Outcome: OutcomeFailed},
	}
	c.run(ctx)
	return c.res, nil
}

// resolve turns a callee into the Request-URI to call and, for a node,
// its SIP address: a user agent node is called at its address-of-record
// when its proxy is a registrar (else at its address); a SIP URI (a
// third-party UA registered in the lab, say) is sent to the UAC's proxy
// as it is. Anything else is refused.
func (u *UAC) resolve(to string) (sip.Uri, netip.AddrPort, error) {
	if strings.HasPrefix(strings.ToLower(to), "sip:") {
		var uri sip.Uri
		if err := sip.ParseUri(to, &uri); err != nil || uri.Host == "" {
			return sip.Uri{}, netip.AddrPort{}, fmt.Errorf("ua: callee %q is not a SIP URI", to)
		}
		if !u.p.proxy.IsValid() {
			return sip.Uri{}, netip.AddrPort{}, fmt.Errorf("ua: callee %s: calling a URI needs the UAC's proxy parameter", to)
		}
		return uri, netip.AddrPort{}, nil
	}
	ip, err := u.env.Addr(to)
	if err != nil {
		return sip.Uri{}, netip.AddrPort{}, fmt.Errorf("ua: callee: %w", err)
	}
	if role := u.env.Nodes[to].Role; role != "uas" && role != "uac" {
		return sip.Uri{}, netip.AddrPort{}, fmt.Errorf("ua: callee %q is a %s, not a user agent", to, role)
	}
	callee := netip.AddrPortFrom(ip, u.p.calleePort)
	if uri, ok := aor(u.env.Config, to); ok {
		return uri, callee, nil
	}
	return sipURI(to, callee), callee, nil
}

// uacCall is one call's progress on the UAC side.
type uacCall struct {
	u      *UAC
	spec   callSpec
	target sip.Uri        // the Request-URI
	callee netip.AddrPort // the callee's address, when it is a lab node
	res    CallResult

	hop     string // where requests go first (proxy or callee), for logs
	answer  *media // SDP answer, from the 180 or the 200
	sent    time.Time
	sess    *rtp.Session
	release func() rtp.Report
	// provisional is set once any 1xx arrived (CANCEL is allowed then).
	provisional atomic.Bool
	mu          sync.Mutex // res and answer: responses arrive on two goroutines
	wireDone    bool       // onWire no longer looks (the INVITE has its answer)
}

// endWire stops watching the INVITE's responses on the wire; once it
// returns, onWire changes nothing more.
func (c *uacCall) endWire(stop func()) {
	stop()
	c.mu.Lock()
	c.wireDone = true
	c.mu.Unlock()
}

func (c *uacCall) fail(format string, args ...any) {
	c.res.Outcome = OutcomeFailed
	c.res.Error = fmt.Sprintf(format, args...)
}

func (c *uacCall) run(ctx context.Context) {
	u := c.u
	sess, release, err := u.ports.open(ctx, c.spec.codecs[0], c.spec.dscp)
	if err != nil {
		c.fail("%v", err)
		return
	}
	c.release, c.sess = release, sess
	defer func() {
		rep := release()
		c.res.Media = &rep
	}()
	offer, err := buildSDP(randUint64(), sess.LocalAddr(), c.spec.codecs)
	if err != nil {
		c.fail("%v", err)
		return
	}
	bye := &remoteBye{done: make(chan struct{})}
	u.mu.Lock()
	u.byes[c.res.CallID] = bye
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		delete(u.byes, c.res.CallID)
		u.mu.Unlock()
	}()

	dlg, ok := c.invite(ctx, offer)
	if !ok {
		return
	}
	defer dlg.Close()
	if ct := dlg.InviteResponse.Contact(); ct != nil {
		port := ct.Address.Port
		if port == 0 {
			port = defaultSIPPort
		}
		u.mu.Lock()
		bye.callee, bye.name = net.JoinHostPort(ct.Address.Host, strconv.Itoa(port)), c.spec.to
		u.mu.Unlock()
	}
	if err := sess.Send(c.answer.Addr, c.answer.Codecs[0]); err != nil {
		c.fail("%v", err)
		c.hangup(dlg)
		return
	}
	u.sl.mediaStart(c.res.CallID, c.answer.Addr.String())
	c.res.Outcome = OutcomeAnswered
	start := time.Now()
	if c.spec.hangup == "uas" {
		// The UAS hangs up after the talk time; give it generous slack.
		select {
		case <-bye.done:
		case <-ctx.Done():
		case <-time.After(c.spec.talk + setupTimeout):
		}
	} else {
		select {
		case <-bye.done:
		case <-ctx.Done():
		case <-time.After(c.spec.talk):
		}
	}
	c.res.TalkMillis = millis(time.Since(start))
	select {
	case <-bye.done:
		u.mu.Lock()
		c.res.PeerMedia = bye.peer
		c.res.HangupBy, c.res.HangupReason = bye.by, bye.reason
		u.mu.Unlock()
	default:
		c.hangup(dlg)
	}
	if c.spec.hangup == "uas" && c.res.HangupBy != c.spec.to {
		c.fail("the callee did not hang up within talk time + %v (hung up by %s)", setupTimeout, c.res.HangupBy)
	}
}

// invite sends the INVITE and waits for the final response. It returns
// the confirmed dialog (ACK sent) or false with the outcome filled in.
func (c *uacCall) invite(ctx context.Context, offer []byte) (*sipgo.DialogClientSession, bool) {
	u := c.u
	req := sip.NewRequest(sip.INVITE, c.target)
	from := &sip.FromHeader{Address: sipURI(u.env.Name, u.p.sipAddr()), Params: sip.NewParams()}
	if me, ok := aor(u.env.Config, u.env.Name); ok {
		from.Address = me
	}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	cid := sip.CallIDHeader(c.res.CallID)
	req.AppendHeader(&cid)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	if c.spec.ring != nil {
		req.AppendHeader(sip.NewHeader(hdrRing, c.spec.ring.String()))
	}
	if c.spec.hangup != "" {
		// Unset, the UAS follows its own hangup/talk parameters and the
		// UAC hangs up after its talk time unless the UAS was first.
		req.AppendHeader(sip.NewHeader(hdrHangup, c.spec.hangup))
	}
	if c.spec.hangup == "uas" {
		req.AppendHeader(sip.NewHeader(hdrTalk, c.spec.talk.String()))
	}
	req.SetBody(offer)
	c.hop = c.callee.String()
	if u.p.proxy.IsValid() {
		// Outbound proxy: the request URI names the callee and a
		// preloaded loose Route names the proxy (RFC 3261 8.1.2), so that
		// a CANCEL, which copies the INVITE's Route, reaches the proxy too
		// instead of the callee's address. The proxy pops its own entry.
		c.hop = u.p.proxy.String()
		route := sip.Uri{Host: u.p.proxy.Addr().String(), Port: int(u.p.proxy.Port()), UriParams: sip.NewParams()}
		route.UriParams.Add("lr", "")
		req.AppendHeader(&sip.RouteHeader{Address: route})
		req.SetDestination(c.hop)
	}

	// Our own Via, so that its branch is known before sending: the
	// provisional responses are read in wire order by that branch.
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: sipstack.UDP,
		Host: u.p.self.String(), Port: int(u.p.sipPort)}
	via.Params.Add("branch", sip.GenerateBranchN(16))
	req.PrependHeader(via)
	stopWatch := u.st.Watch(sipstack.Branch(req), c.onWire)
	defer c.endWire(stopWatch)

	setupCtx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	u.sl.msg(nodes.Sent, "INVITE", c.res.CallID, flow.InSetup(flow.SIPInvite), c.hop)
	c.sent = time.Now()
	dlg, err := u.calls.WriteInvite(setupCtx, req)
	if err != nil {
		c.fail("send INVITE: %v", err)
		return nil, false
	}
	err = dlg.WaitAnswer(c.answerContext(setupCtx), sipgo.AnswerOptions{OnResponse: c.onResponse})
	c.endWire(stopWatch)
	if err != nil {
		switch res := dialogResponse(err); {
		case res != nil:
			c.refused(res)
		case ctx.Err() != nil || setupCtx.Err() != nil:
			c.fail("cancelled before the answer: %v", err)
			if r := dlg.InviteResponse; r != nil && !r.IsProvisional() {
				c.res.Status, c.res.ReasonPhrase = r.StatusCode, r.Reason // 487 after our CANCEL
			}
		default:
			c.fail("INVITE: %v", err)
		}
		dlg.Close()
		return nil, false
	}
	if c.answer == nil {
		c.fail("200 OK without an SDP answer")
		c.ack(dlg)
		c.hangup(dlg)
		dlg.Close()
		return nil, false
	}
	if !c.ack(dlg) {
		dlg.Close()
		return nil, false
	}
	return dlg, true
}

// answerContext derives WaitAnswer's context from ctx. When ctx ends
// after a provisional response, sipgo sends CANCEL (RFC 3261 9.1); when
// nothing at all has come back, a CANCEL is not allowed and sipgo would
// wait for Timer B, so the wait is abandoned at once instead.
func (c *uacCall) answerContext(ctx context.Context) context.Context {
	wctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	context.AfterFunc(ctx, func() {
		if c.provisional.Load() {
			cancel(ctx.Err())
		} else {
			cancel(sipgo.WaitAnswerForceCancelErr)
		}
	})
	return wctx
}

// onWire sees the provisional responses to the INVITE in the order the
// transport read them (sipstack.Watch, on its reading goroutine): sipgo's
// transaction can be handed a 200 before the 180 read just ahead of it,
// and then drops the 180. The final response comes through onResponse.
func (c *uacCall) onWire(res *sip.Response) {
	if !res.IsProvisional() {
		return
	}
	c.provisional.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wireDone {
		return
	}
	at := noStep
	if res.StatusCode == 180 || res.StatusCode == 183 {
		if !c.res.Ringing {
			c.res.Ringing = true
			c.res.PostDialDelayMillis = millis(time.Since(c.sent))
		}
		at = flow.InSetup(flow.SIPRinging)
	}
	c.u.sl.msg(nodes.Received, itoa(res.StatusCode), c.res.CallID, at, res.Source())
	if res.StatusCode > 100 {
		c.takeAnswer(res)
	}
}

// onResponse sees the final response to the INVITE (provisional ones too,
// but those are onWire's).
func (c *uacCall) onResponse(res *sip.Response) error {
	if res.IsProvisional() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	at := noStep
	if res.IsSuccess() {
		c.res.SetupMillis = millis(time.Since(c.sent))
		at = flow.InSetup(flow.SIPOK)
		c.takeAnswer(res)
	}
	c.u.sl.msg(nodes.Received, itoa(res.StatusCode), c.res.CallID, at, res.Source())
	return nil
}

// takeAnswer keeps the SDP answer a 18x or 2xx carries.
func (c *uacCall) takeAnswer(res *sip.Response) {
	if len(res.Body()) == 0 {
		return
	}
	m, err := parseSDP(res.Body())
	if err != nil {
		c.u.log.Warn("ua: bad SDP answer", "call", c.res.CallID, "status", res.StatusCode, "err", err)
		return
	}
	c.answer = &m
}

func (c *uacCall) refused(res *sip.Response) {
	c.res.Outcome = OutcomeRefused
	c.res.Status = res.StatusCode
	c.res.ReasonPhrase = res.Reason
	if h := res.GetHeader("Reason"); h != nil {
		c.res.Reason = h.Value()
	}
	if h := res.GetHeader("Retry-After"); h != nil {
		c.res.RetryAfter = h.Value()
	}
}

func (c *uacCall) ack(dlg *sipgo.DialogClientSession) bool {
	c.res.Status = dlg.InviteResponse.StatusCode
	c.res.ReasonPhrase = dlg.InviteResponse.Reason
	c.u.sl.msg(nodes.Sent, "ACK", c.res.CallID, flow.InSetup(flow.SIPAck), c.hop)
	if err := dlg.Ack(c.u.ctx); err != nil {
		c.fail("send ACK: %v", err)
		return false
	}
	return true
}

// hangup sends BYE and waits for its final response. The UAS's 200 may
// carry its receive statistics.
func (c *uacCall) hangup(dlg *sipgo.DialogClientSession) {
	c.res.HangupBy = c.u.env.Name
	// Stop sending first, so that the UAS's figures cover everything
	// sent; keep receiving until the BYE is answered, so that the UAS's
	// last packets find an open port. The deferred release in run closes.
	c.sess.StopSending()
	timeout := byeTimeout
	if c.u.ctx.Err() != nil {
		timeout = 2 * time.Second // the node is stopping: try, but do not linger
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.u.ctx), timeout)
	defer cancel()
	target := dlg.InviteRequest.Recipient
	if ct := dlg.InviteResponse.Contact(); ct != nil {
		target = ct.Address // the remote target (RFC 3261 12.1.2)
	}
	bye := sip.NewRequest(sip.BYE, target)
	c.u.st.fromListener(bye, dlg.InviteRequest.Transport())
	c.u.sl.msg(nodes.Sent, "BYE", c.res.CallID, flow.InTeardown(flow.SIPBye), c.hop)
	res, err := dlg.Do(ctx, bye)
	if err != nil {
		c.fail("BYE: %v", err)
		return
	}
	c.res.ByeStatus = res.StatusCode
	at := noStep
	if res.IsSuccess() {
		at = flow.InTeardown(flow.SIPOK)
	}
	c.u.sl.msg(nodes.Received, itoa(res.StatusCode), c.res.CallID, at, res.Source())
	if h := res.GetHeader(hdrRTP); h != nil {
		if pm, err := parseMediaHeader(h.Value()); err == nil {
			c.res.PeerMedia = &pm
		} else {
			c.u.log.Warn("ua: peer media report", "call", c.res.CallID, "err", err)
		}
	}
	if !res.IsSuccess() {
		c.fail("BYE answered %d %s", res.StatusCode, res.Reason)
	}
}

// onBye handles the UAS hanging up.
func (u *UAC) onBye(req *sip.Request, tx sip.ServerTransaction) {
	callID := callIDOf(req)
	src := req.Source()
	u.sl.msg(nodes.Received, "BYE", callID, flow.InTeardown(flow.SIPBye).In(byCallee), src)
	u.mu.Lock()
	b := u.byes[callID]
	u.mu.Unlock()
	if b != nil {
		u.mu.Lock()
		b.by, b.reason = u.byeSender(req, b), ""
		if h := req.GetHeader("Reason"); h != nil {
			b.reason = h.Value()
		}
		if h := req.GetHeader(hdrRTP); h != nil {
			if pm, err := parseMediaHeader(h.Value()); err == nil {
				b.peer = &pm
			}
		}
		u.mu.Unlock()
	}
	if err := u.calls.ReadBye(req, tx); err != nil {
		u.sl.msg(nodes.Sent, "481", callID, noStep, src)
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	u.sl.msg(nodes.Sent, "200", callID, flow.InTeardown(flow.SIPOK).In(byCallee), src)
	if b != nil {
		u.mu.Lock()
		select {
		case <-b.done:
		default:
			close(b.done)
		}
		u.mu.Unlock()
	}
}

// byeSender names the node that sent a BYE: the one whose Via is at the
// bottom (every proxy on the way put its own above it). The callee when it
// hung up; a proxy when policy ended the call.
func (u *UAC) byeSender(req *sip.Request, b *remoteBye) string {
	vias := req.GetHeaders("Via")
	if len(vias) == 0 {
		return ""
	}
	v, ok := vias[len(vias)-1].(*sip.ViaHeader)
	if !ok {
		return ""
	}
	port := v.Port
	if port == 0 {
		port = defaultSIPPort
	}
	if b.callee != "" && net.JoinHostPort(v.Host, strconv.Itoa(port)) == b.callee {
		return b.name
	}
	host := v.Host
	if r, ok := v.Params.Get("received"); ok && r != "" {
		host = r
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if n := u.env.NameOf(a); n != "" {
			return n
		}
	}
	return host
}

func newCallID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "@qoslab"
}
