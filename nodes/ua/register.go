package ua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/qoslab/qoslab/nodes"
)

// A UA whose proxy is the registrar of a domain registers its
// address-of-record there at start (RFC 3261 section 10.2) and refreshes
// the registration before it expires.

// defaultExpires is the registration time a UA asks for (seconds).
const defaultExpires = 600

// firstRegisterWithin bounds the first registration: the UA starts with
// its proxy, and is not ready before it is registered (a call placed right
// after `qoslab up` must find the callee).
const firstRegisterWithin = 8 * time.Second

// aor is the address-of-record of a UA node: sip:<user>@<domain>, the
// domain being that of the node's proxy. ok is false for a UA without a
// domain (its peers reach it by address).
func aor(env nodes.Config, node string) (uri sip.Uri, ok bool) {
	n, found := env.Nodes[node]
	if !found {
		return sip.Uri{}, false
	}
	domain := n.Params["domain"]
	if domain == "" {
		if proxy, ok := env.Nodes[n.Params["proxy"]]; ok {
			domain = proxy.Params["domain"]
		}
	}
	if domain == "" {
		return sip.Uri{}, false
	}
	user := n.Params["user"]
	if user == "" {
		user = node
	}
	return sip.Uri{Scheme: "sip", User: user, Host: strings.ToLower(domain)}, true
}

// registerSelf registers the node's address-of-record at its proxy when
// that proxy is a registrar (has a domain); nothing to do otherwise.
func registerSelf(ctx context.Context, env nodes.Env, p params, st *stack, sl sipLog, wg *sync.WaitGroup) error {
	me, ok := aor(env.Config, env.Name)
	if !ok || !p.proxy.IsValid() {
		return nil
	}
	return register(ctx, st, sl, env.Log, me, p.proxy, p.expires, wg)
}

// registration keeps one UA's binding at its registrar.
type registration struct {
	st      *stack
	sl      sipLog
	log     *slog.Logger
	aor     sip.Uri
	proxy   netip.AddrPort
	expires int
	callID  string

	mu   sync.Mutex
	cseq uint32
}

// register registers aor at the registrar behind proxy, then refreshes it
// at half its lifetime until ctx ends. It returns once the first
// registration is in (or failed).
func register(ctx context.Context, st *stack, sl sipLog, log *slog.Logger, aor sip.Uri, proxy netip.AddrPort, expires int, wg *sync.WaitGroup) error {
	r := &registration{st: st, sl: sl, log: log, aor: aor, proxy: proxy, expires: expires, callID: newCallID()}
	granted, err := r.first(ctx)
	if err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.refresh(ctx, granted)
	}()
	return nil
}

// first registers, trying again quickly while the registrar does not
// answer: it is a process started at the same moment as this one.
func (r *registration) first(ctx context.Context) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, firstRegisterWithin)
	defer cancel()
	wait := 20 * time.Millisecond
	for {
		granted, err := r.once(ctx, wait)
		if err == nil {
			return granted, nil
		}
		var refused *refusedError
		if errors.As(err, &refused) || ctx.Err() != nil {
			return 0, fmt.Errorf("ua: register %s at %s: %w", r.aor.Addr(), r.proxy, err)
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// refresh re-registers at half of each granted lifetime.
func (r *registration) refresh(ctx context.Context, granted time.Duration) {
	for {
		if !waitCtx(granted/2, ctx) {
			return
		}
		g, err := r.once(ctx, 5*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.log.Warn("ua: registration refresh failed", "aor", r.aor.Addr(), "err", err)
			g = 2 * time.Second // try again soon, the binding has time left
		}
		granted = g
	}
}

type refusedError struct{ res *sip.Response }

func (e *refusedError) Error() string { return fmt.Sprintf("%d %s", e.res.StatusCode, e.res.Reason) }

// once sends one REGISTER and waits up to wait for its final response.
func (r *registration) once(ctx context.Context, wait time.Duration) (time.Duration, error) {
	r.mu.Lock()
	r.cseq++
	cseq := r.cseq
	r.mu.Unlock()
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: r.aor.Host})
	from := &sip.FromHeader{Address: r.aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: r.aor})
	cid := sip.CallIDHeader(r.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.REGISTER})
	contact := r.st.contact
	contact.Address.User = r.aor.User
	req.AppendHeader(&contact)
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(r.expires)))
	req.SetDestination(r.proxy.String())
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	r.sl.msg(nodes.Sent, "REGISTER", r.callID, noStep, r.proxy.String())
	res, err := r.st.cli.Do(wctx, req)
	if err != nil {
		return 0, err
	}
	r.sl.msg(nodes.Received, itoa(res.StatusCode), r.callID, noStep, res.Source())
	if !res.IsSuccess() {
		return 0, &refusedError{res}
	}
	granted := time.Duration(r.expires) * time.Second
	for _, h := range res.GetHeaders("Contact") {
		if c, ok := h.(*sip.ContactHeader); ok && c.Address.User == contact.Address.User && c.Address.Host == contact.Address.Host {
			if v, ok := c.Params.Get("expires"); ok {
				if n, err := strconv.Atoi(v); err == nil && n > 0 {
					granted = time.Duration(n) * time.Second
				}
			}
		}
	}
	r.log.Info("registered", "aor", r.aor.Addr(), "registrar", r.proxy.String(), "expires_s", int(granted.Seconds()))
	return granted, nil
}
