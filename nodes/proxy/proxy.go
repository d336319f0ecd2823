// Package proxy is the policy-enforcing SIP proxy of WO 01/35294 (SIP1 and
// SIP2 in docs/FLOW.md): a stateful, record-routing SIP proxy on UDP that is a
// COPS PEP towards its policy server. Every call is held at each step until
// the PDP decides: the INVITE until the DEC for "REQ AAA", the first
// answer (and everything after it) until the DEC for "REQ LDP"; a BYE is
// forwarded at once and released with "REQ noLDP". The hold-until-policy
// logic is the pure state machine in callstate.go; this file and its
// neighbours are the I/O around it.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
)

// Defaults of the role parameters.
const (
	DefaultSIPPort       = 5060
	DefaultCOPSPort      = 3288
	DefaultPolicyTimeout = 2 * time.Second
)

// Config is what a Proxy needs, independent of how a lab describes it.
type Config struct {
	Self netip.AddrPort // SIP address (UDP and TCP) to listen on and to Record-Route
	// Domain is the domain this proxy is the registrar of ("" for none):
	// INVITEs for it go to the contacts registered in it.
	Domain string
	// Routes is the static routing table (RFC 3263 lookups are out of
	// scope in a lab): the proxy of each other domain, by lower-case
	// domain. Requests from these addresses arrive from peer proxies.
	Routes map[string]netip.AddrPort
	// Peer is the default peer proxy, for Request-URIs that name an
	// address instead of a domain; invalid when there is none.
	Peer netip.AddrPort
	// Local lists addresses reached on this proxy's own side: an INVITE
	// for them is not sent to the peer proxy.
	Local         map[netip.Addr]bool
	PolicyTimeout time.Duration // how long a REQ may wait for its DEC
	// NameOf names the node at an address, for the message log.
	NameOf func(netip.Addr) string
	// PDPName names the policy server in the message log.
	PDPName string
}

// Proxy is one running SIP proxy / COPS PEP.
type Proxy struct {
	cfg    Config
	log    *slog.Logger
	policy Policy

	st  *sipstack.Stack
	srv *sipgo.Server
	cli *sipgo.Client

	ctx context.Context // lifetime of Serve; set before the first request
	wg  sync.WaitGroup  // goroutines the proxy started for calls

	reg *location // the registrar's bindings (Domain's address-of-records)

	mu         sync.Mutex
	closing    bool             // Serve is waiting for the owned goroutines
	calls      map[string]*call // by Call-ID
	byHandle   map[uint32]*call // the same calls, by COPS handle
	nextHandle atomic.Uint32
}

// Run is the proxy role: it reads its parameters from env (domain, routes,
// peer_proxy, pdp, policy_timeout, local, sip_port, pdp_port), keeps a COPS connection
// to its PDP, listens on UDP and TCP 5060 on env.Self() and serves until
// ctx ends.
func Run(ctx context.Context, env nodes.Env) error {
	cfg, pdp, err := configFromEnv(env)
	if err != nil {
		return err
	}
	cfg.PDPName = env.Param("pdp", "pdp")
	pep := newPEPPolicy(pdp.String(), env.Name, env.Log)
	p, err := New(cfg, pep, env.Log)
	if err != nil {
		return err
	}
	pep.attach(p)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pepDone := make(chan error, 1)
	go func() { pepDone <- pep.run(ctx) }()
	err = p.Serve(ctx, env.Ready)
	cancel()
	if perr := <-pepDone; err == nil {
		err = perr
	}
	return err
}

func configFromEnv(env nodes.Env) (Config, netip.AddrPort, error) {
	sipPort, err := portParam(env, "sip_port", DefaultSIPPort)
	if err != nil {
		return Config{}, netip.AddrPort{}, err
	}
	copsPort, err := portParam(env, "pdp_port", DefaultCOPSPort)
	if err != nil {
		return Config{}, netip.AddrPort{}, err
	}
	timeout, err := env.DurationParam("policy_timeout", DefaultPolicyTimeout)
	if err != nil {
		return Config{}, netip.AddrPort{}, fmt.Errorf("proxy: %w", err)
	}
	pdpAddr, err := env.PeerAddr("pdp")
	if err != nil {
		return Config{}, netip.AddrPort{}, fmt.Errorf("proxy: %w", err)
	}
	cfg := Config{
		Self:          netip.AddrPortFrom(env.Self(), sipPort),
		Local:         map[netip.Addr]bool{},
		PolicyTimeout: timeout,
		NameOf:        env.NameOf,
	}
	if env.Param("peer_proxy", "") != "" {
		peer, err := env.PeerAddr("peer_proxy")
		if err != nil {
			return Config{}, netip.AddrPort{}, fmt.Errorf("proxy: %w", err)
		}
		cfg.Peer = netip.AddrPortFrom(peer, sipPort)
	}
	cfg.Domain = strings.ToLower(strings.TrimSpace(env.Param("domain", "")))
	if cfg.Routes, err = routesParam(env, sipPort); err != nil {
		return Config{}, netip.AddrPort{}, err
	}
	for _, name := range strings.Split(env.Param("local", ""), ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		a, err := env.Addr(name)
		if err != nil {
			return Config{}, netip.AddrPort{}, fmt.Errorf("proxy: parameter local: %w", err)
		}
		cfg.Local[a] = true
	}
	return cfg, netip.AddrPortFrom(pdpAddr, copsPort), nil
}

// routesParam reads the routing table: "routes: b.qoslab.test=sip2,
// c.qoslab.test=sip3" (domain=proxy node, comma separated).
func routesParam(env nodes.Env, sipPort uint16) (map[string]netip.AddrPort, error) {
	out := map[string]netip.AddrPort{}
	for _, e := range strings.Split(env.Param("routes", ""), ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		domain, node, ok := strings.Cut(e, "=")
		domain, node = strings.ToLower(strings.TrimSpace(domain)), strings.TrimSpace(node)
		if !ok || domain == "" || node == "" {
			return nil, fmt.Errorf("proxy: parameter routes: %q is not domain=proxy", e)
		}
		a, err := env.Addr(node)
		if err != nil {
			return nil, fmt.Errorf("proxy: parameter routes: %s: %w", domain, err)
		}
		out[domain] = netip.AddrPortFrom(a, sipPort)
	}
	return out, nil
}

func portParam(env nodes.Env, key string, def uint16) (uint16, error) {
	v := env.Param(key, strconv.Itoa(int(def)))
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("proxy: parameter %s=%q is not a port", key, v)
	}
	return uint16(n), nil
}

// New builds a proxy that asks policy about every call.
func New(cfg Config, policy Policy, log *slog.Logger) (*Proxy, error) {
	if !cfg.Self.IsValid() {
		return nil, errors.New("proxy: no SIP address")
	}
	if cfg.PolicyTimeout <= 0 {
		cfg.PolicyTimeout = DefaultPolicyTimeout
	}
	if cfg.PDPName == "" {
		cfg.PDPName = "pdp"
	}
	if cfg.NameOf == nil {
		cfg.NameOf = func(netip.Addr) string { return "" }
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{cfg: cfg, log: log, policy: policy, calls: map[string]*call{}, byHandle: map[uint32]*call{}, reg: newLocation(nil)}

	st, err := sipstack.New(sipstack.Config{Name: "qoslab-proxy", Addr: cfg.Self, Log: log, Unhandled: p.onStrayResponse})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	p.st, p.srv, p.cli = st, st.Server, st.Client
	srv := st.Server
	srv.OnInvite(p.onInvite)
	srv.OnAck(p.onAck)
	srv.OnCancel(p.onStrayCancel)
	srv.OnBye(p.onBye)
	srv.OnRegister(p.onRegister)
	srv.OnNoRoute(p.onOther)
	return p, nil
}

// Serve runs the proxy on its sockets (UDP and TCP on cfg.Self, bound by
// New) until ctx ends, then closes them and waits for every goroutine it
// started. ready (may be nil) is called once the proxy serves SIP.
func (p *Proxy) Serve(ctx context.Context, ready func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.ctx = ctx

	err := p.st.Serve(ctx)
	if err == nil {
		if ready != nil {
			ready()
		}
		select {
		case <-ctx.Done():
		case <-p.st.Stopped():
			err = p.st.Err()
		}
	}
	if err != nil && ctx.Err() != nil {
		err = nil // stopped because we were told to
	}
	if err != nil {
		err = fmt.Errorf("proxy: %w", err)
	}
	// Shutdown, in an order that leaves no socket behind: sipgo binds a
	// fresh socket (and reads it forever) whenever it must send without a
	// pooled one. So: calls stop acting (step drops events once p.ctx is
	// done) and no new work starts; the listeners close and their readers
	// end; only then the UA closes, terminating every transaction, which
	// ends the goroutines waiting on them.
	cancel()
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.st.CloseListeners()
	p.st.Close()
	p.wg.Wait()
	// A handler that was already sending when the listener closed may
	// have made sipgo bind a socket: closing the stack again (its
	// transport pool) closes that one too, now that nothing of ours runs.
	p.st.Close()
	return err
}

// goOwned runs f as a goroutine owned by the proxy (Serve waits for it).
// Once Serve is shutting down, f does not run.
func (p *Proxy) goOwned(f func()) {
	if !p.enter() {
		return
	}
	go func() {
		defer p.exit()
		f()
	}()
}

// enter registers work that Serve must wait for; false once it is closing.
// sipgo runs each request handler on its own goroutine: handlers enter too.
func (p *Proxy) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return false
	}
	p.wg.Add(1)
	return true
}

func (p *Proxy) exit() { p.wg.Done() }

// PolicyLost tells the proxy that its PEP connection is gone, and with it
// every handle: each call that has one fails (503 while setting up, BYE
// both ways when established). Never a call that proceeds without policy.
func (p *Proxy) PolicyLost() {
	p.mu.Lock()
	var hit []*call
	for _, c := range p.calls {
		hit = append(hit, c)
	}
	p.mu.Unlock()
	for _, c := range hit {
		c.mu.Lock()
		asked := c.asked
		c.mu.Unlock()
		if asked {
			p.goOwned(func() { c.step(Event{Kind: EvPDPLost, Reason: ReasonPDPLost}, nil) })
		}
	}
}

// Unsolicited hands a PDP-initiated decision to the call on handle: a
// Remove withdraws the call's policy and ends it.
func (p *Proxy) Unsolicited(handle uint32, d Decision) {
	p.mu.Lock()
	c := p.byHandle[handle]
	p.mu.Unlock()
	if c == nil || d.Install {
		return
	}
	p.logCOPS(nodes.Received, c.id, c.side, "DEC Remove", noStep)
	p.goOwned(func() { c.step(Event{Kind: EvDecRemove, Reason: d.Reason, Status: d.Status}, nil) })
}

// Calls reports how many calls hold state (for tests and leak checks).
func (p *Proxy) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

func (p *Proxy) forget(c *call) {
	p.mu.Lock()
	if p.calls[c.id] == c {
		delete(p.calls, c.id)
	}
	delete(p.byHandle, c.handle)
	p.mu.Unlock()
}

func (p *Proxy) lookup(callID string) *call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[callID]
}

// logSIP writes one SIP message to the node's message log.
// at names it as the step tables do (noStep: none); byCallee selects the
// numbering of a teardown the callee started.
func (p *Proxy) logSIP(dir, callID string, side flow.Side, what string, at flow.Ref, byCallee bool, peer string) {
	s, _ := stepOf(side, dir, at, byCallee)
	nodes.LogMessage(p.log, nodes.Message{
		Dir: dir, Proto: "sip", What: what, CallID: callID, Flow: string(s.Phase), Step: s.N, Peer: p.peerName(peer),
	})
}

// logCOPS writes one COPS message to the node's message log.
func (p *Proxy) logCOPS(dir, callID string, side flow.Side, what string, at flow.Ref) {
	s, _ := stepOf(side, dir, at, false)
	nodes.LogMessage(p.log, nodes.Message{
		Dir: dir, Proto: "cops", What: what, CallID: callID, Flow: string(s.Phase), Step: s.N, Peer: p.cfg.PDPName,
	})
}

func (p *Proxy) peerName(hostport string) string {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return hostport
	}
	if n := p.cfg.NameOf(ap.Addr()); n != "" {
		return n
	}
	return hostport
}

// onStrayResponse sees responses that match no client transaction: 2xx
// retransmissions after the transaction ended, or junk.
func (p *Proxy) onStrayResponse(res *sip.Response) {
	p.log.Debug("stray response", "call", callIDOf(res), "status", res.StatusCode, "from", res.Source())
}
