package ua

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/traffic/rtp"
)

// UAS answers calls. Create it with NewUAS, stop it with Close.
type UAS struct {
	p       params
	log     *slog.Logger
	sl      sipLog
	st      *stack
	dialogs *sipgo.DialogServerCache
	ports   *portPool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per call in progress

	mu     sync.Mutex
	calls  map[string]*uasCall // by Call-ID
	closed bool                // no new calls once Close started
}

// uasCall is one answered call's media and the way to end it.
type uasCall struct {
	dlg     *sipgo.DialogServerSession
	sess    *rtp.Session
	release func() rtp.Report
	peer    string // SIP source of the INVITE: the first hop back
}

// NewUAS binds the UAS's SIP socket and starts answering.
func NewUAS(ctx context.Context, env nodes.Env) (*UAS, error) {
	p, err := readParams(env, 30000)
	if err != nil {
		return nil, err
	}
	u := &UAS{
		p: p, log: env.Log,
		sl:    sipLog{log: env.Log, role: flow.UAS, nameOf: nameOfFunc(env)},
		ports: newPortPool(p.self, p.rtpBase),
		calls: make(map[string]*uasCall),
	}
	u.ctx, u.cancel = context.WithCancel(ctx)
	u.st, err = newStack(env.Name, p.sipAddr(), env.Log)
	if err != nil {
		u.cancel()
		return nil, err
	}
	u.dialogs = sipgo.NewDialogServerCache(u.st.cli, u.st.contact)
	u.st.srv.OnInvite(u.onInvite)
	u.st.srv.OnAck(u.onAck)
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

// Addr is the UAS's SIP address.
func (u *UAS) Addr() string { return u.st.addr.String() }

// Close ends every call (without BYE: the node is going away) and
// releases the sockets.
func (u *UAS) Close() {
	u.cancel()
	u.mu.Lock()
	u.closed = true
	u.mu.Unlock()
	u.wg.Wait()
	u.st.close()
}

func (u *UAS) defaults() callOptions {
	return callOptions{ring: u.p.ring, talk: u.p.talk, hangupUAS: u.p.hangupUAS}
}

func (u *UAS) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	callID := callIDOf(req)
	src := req.Source()
	u.sl.msg(nodes.Received, "INVITE", callID, flow.InSetup(flow.SIPInvite), src)

	reject := func(code int, reason, warning string) {
		res := sip.NewResponseFromRequest(req, code, reason, nil)
		if warning != "" {
			res.AppendHeader(sip.NewHeader("Warning", `399 qoslab "`+warning+`"`))
		}
		u.sl.msg(nodes.Sent, itoa(code), callID, noStep, src)
		if err := tx.Respond(res); err != nil {
			u.log.Warn("ua: respond failed", "call", callID, "code", code, "err", err)
		}
	}

	opts, err := uasOptions(req, u.defaults())
	if err != nil {
		reject(400, "Bad Request", err.Error())
		return
	}
	offer, err := parseSDP(req.Body())
	if err != nil {
		reject(488, "Not Acceptable Here", err.Error())
		return
	}
	codec, err := negotiate(offer)
	if err != nil {
		reject(488, "Not Acceptable Here", err.Error())
		return
	}
	sess, release, err := u.ports.open(u.ctx, codec, u.p.dscp)
	if err != nil {
		u.log.Error("ua: no RTP port", "call", callID, "err", err)
		reject(503, "Service Unavailable", "no RTP port")
		return
	}
	answer, err := buildSDP(randUint64(), sess.LocalAddr(), []rtp.Codec{codec})
	if err != nil {
		release()
		reject(500, "Server Internal Error", err.Error())
		return
	}
	dlg, err := u.dialogs.ReadInvite(req, tx)
	if err != nil {
		release()
		reject(400, "Bad Request", err.Error())
		return
	}
	ok := u.ringAndAnswer(dlg, callID, src, answer, opts)
	if !ok {
		release()
		dlg.Close()
		return
	}
	if err := sess.Send(offer.Addr, codec); err != nil {
		u.log.Warn("ua: RTP send", "call", callID, "err", err)
	} else {
		u.sl.mediaStart(callID, offer.Addr.String())
	}
	c := &uasCall{dlg: dlg, sess: sess, release: release, peer: src}
	u.mu.Lock()
	if u.closed {
		// Close ran while this handler waited for the ACK.
		u.mu.Unlock()
		release()
		dlg.Close()
		return
	}
	u.calls[callID] = c
	u.wg.Add(1)
	u.mu.Unlock()
	go u.talk(c, callID, opts)
}

// ringAndAnswer sends 180 (with the SDP answer) and, after the ring time,
// 200 with the same SDP; it returns once the ACK arrived.
func (u *UAS) ringAndAnswer(dlg *sipgo.DialogServerSession, callID, src string, answer []byte, o callOptions) bool {
	if o.ring > 0 {
		u.sl.msg(nodes.Sent, "180", callID, flow.InSetup(flow.SIPRinging), src)
		if err := dlg.Respond(180, "Ringing", answer, sip.NewHeader("Content-Type", "application/sdp")); err != nil {
			u.log.Warn("ua: 180 failed", "call", callID, "err", err)
			return false
		}
		if !waitCtx(o.ring, u.ctx, dlg.Context()) {
			if u.ctx.Err() != nil {
				u.sl.msg(nodes.Sent, "480", callID, noStep, src)
				_ = dlg.Respond(480, "Temporarily Unavailable", nil)
			} else {
				// CANCEL: sipgo's transaction layer has answered it 200
				// and the INVITE 487 (RFC 3261 9.2); log what it sent.
				u.sl.msg(nodes.Sent, "487", callID, noStep, src)
			}
			return false
		}
	}
	u.sl.msg(nodes.Sent, "200", callID, flow.InSetup(flow.SIPOK), src)
	if err := dlg.RespondSDP(answer); err != nil {
		u.log.Warn("ua: 200 not acknowledged", "call", callID, "err", err)
		return false
	}
	return true
}

// talk holds the call until the UAC hangs up, or hangs up itself after
// the talk time when told to.
func (u *UAS) talk(c *uasCall, callID string, o callOptions) {
	defer u.wg.Done()
	defer func() {
		u.mu.Lock()
		delete(u.calls, callID)
		u.mu.Unlock()
	}()
	if o.hangupUAS && waitCtx(o.talk, u.ctx, c.dlg.Context()) {
		// Stop sending but keep receiving until the BYE is answered (see
		// the UAC's hangup); the BYE carries the figures up to now.
		c.sess.StopSending()
		early := c.sess.Report()
		// ReadInvite guaranteed the INVITE has a Contact: the remote target.
		bye := sip.NewRequest(sip.BYE, c.dlg.InviteRequest.Contact().Address)
		u.st.fromListener(bye, c.dlg.InviteRequest.Transport())
		bye.AppendHeader(sip.NewHeader(hdrRTP, formatMediaHeader(early.Received)))
		u.sl.msg(nodes.Sent, "BYE", callID, flow.InTeardown(flow.SIPBye).In(byCallee), c.peer)
		ctx, cancel := context.WithTimeout(u.ctx, 32*sip.T1)
		err := c.dlg.WriteBye(ctx, bye)
		cancel()
		switch res := dialogResponse(err); {
		case err == nil:
			u.sl.msg(nodes.Received, "200", callID, flow.InTeardown(flow.SIPOK).In(byCallee), c.peer)
		case res != nil:
			u.sl.msg(nodes.Received, itoa(res.StatusCode), callID, noStep, c.peer)
		default:
			u.log.Warn("ua: BYE failed", "call", callID, "err", err)
		}
		c.dlg.Close()
		u.logEnd(callID, "uas", c.release())
		return
	}
	select {
	case <-c.dlg.Context().Done():
	case <-u.ctx.Done():
	}
	u.logEnd(callID, "uac", c.release())
}

func (u *UAS) logEnd(callID, by string, rep rtp.Report) {
	u.log.Info("call ended", "call", callID, "hangup_by", by,
		"rtp_sent", rep.Sent.Packets, "rtp_received", rep.Received.Packets,
		"rtp_lost", rep.Received.Lost, "jitter_ms", rep.Received.JitterMillis,
		"dscp_seen", rep.Received.DSCP)
}

func (u *UAS) onAck(req *sip.Request, tx sip.ServerTransaction) {
	callID := callIDOf(req)
	u.sl.msg(nodes.Received, "ACK", callID, flow.InSetup(flow.SIPAck), req.Source())
	if err := u.dialogs.ReadAck(req, tx); err != nil {
		u.log.Warn("ua: ACK outside a dialog", "call", callID, "err", err)
	}
}

func (u *UAS) onBye(req *sip.Request, tx sip.ServerTransaction) {
	callID := callIDOf(req)
	src := req.Source()
	u.sl.msg(nodes.Received, "BYE", callID, flow.InTeardown(flow.SIPBye), src)
	u.mu.Lock()
	c := u.calls[callID]
	u.mu.Unlock()
	var hdr sip.Header
	if c != nil {
		// Stop the media now so the 200 carries the final figures; the
		// call goroutine's release is then a no-op returning the same.
		hdr = sip.NewHeader(hdrRTP, formatMediaHeader(c.release().Received))
	}
	err := u.dialogs.ReadBye(req, &addHeaderTx{ServerTransaction: tx, hdr: hdr})
	if err != nil {
		u.sl.msg(nodes.Sent, "481", callID, noStep, src)
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	u.sl.msg(nodes.Sent, "200", callID, flow.InTeardown(flow.SIPOK), src)
}

// noTransaction answers a CANCEL that matched no INVITE transaction
// (sipgo matches the others itself): 481, RFC 3261 section 9.2.
func noTransaction(req *sip.Request, tx sip.ServerTransaction) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
}

// addHeaderTx adds one header to the responses sipgo's dialog code builds
// itself (the 200 to a BYE).
type addHeaderTx struct {
	sip.ServerTransaction
	hdr sip.Header
}

// Respond adds the header, then responds through the real transaction.
func (t *addHeaderTx) Respond(res *sip.Response) error {
	if t.hdr != nil {
		res.AppendHeader(t.hdr)
	}
	return t.ServerTransaction.Respond(res)
}

func callIDOf(m interface{ CallID() *sip.CallIDHeader }) string {
	if h := m.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

func randUint64() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) >> 1 // SDP session ids are positive 63-bit
}

func nameOfFunc(env nodes.Env) func(string) string {
	return func(src string) string {
		if n := env.NameOf(hostPortOf(src)); n != "" {
			return n
		}
		return src
	}
}

// dialogResponse returns the final non-2xx response behind a sipgo dialog
// error (sipgo returns ErrDialogResponse both by value and by pointer).
func dialogResponse(err error) *sip.Response {
	var p *sipgo.ErrDialogResponse
	if errors.As(err, &p) && p != nil {
		return p.Res
	}
	var v sipgo.ErrDialogResponse
	if errors.As(err, &v) {
		return v.Res
	}
	return nil
}
