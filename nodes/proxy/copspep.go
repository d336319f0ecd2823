package proxy

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/qoslab/qoslab/protocol/cops"
)

// pepPolicy adapts a cops.PEP (client-type 0x5153, one TCP connection to
// the PDP, reconnecting by itself) to the proxy's Policy.
type pepPolicy struct {
	pep *cops.PEP

	mu        sync.Mutex
	proxy     *Proxy
	connected bool
	up        chan struct{} // closed when the PEP connects; replaced when it is lost
}

// newPEPPolicy builds the PEP for the PDP at addr (host:port).
func newPEPPolicy(addr, pepID string, log *slog.Logger) *pepPolicy {
	a := &pepPolicy{up: make(chan struct{})}
	a.pep = cops.NewPEP(cops.PEPConfig{
		Addr:          addr,
		PEPID:         pepID,
		Log:           log,
		OnConnected:   a.onConnected,
		OnLost:        a.onLost,
		OnUnsolicited: a.onUnsolicited,
	})
	return a
}

// attach names the proxy that hears about losses and PDP-initiated DECs.
func (a *pepPolicy) attach(p *Proxy) {
	a.mu.Lock()
	a.proxy = p
	a.mu.Unlock()
}

// run keeps the COPS connection up until ctx ends.
func (a *pepPolicy) run(ctx context.Context) error {
	if err := a.pep.Run(ctx); err != nil {
		return fmt.Errorf("proxy: cops pep: %w", err)
	}
	return nil
}

func (a *pepPolicy) onConnected() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.connected {
		a.connected = true
		close(a.up)
	}
}

func (a *pepPolicy) onLost(err error) {
	a.mu.Lock()
	was := a.connected
	if was {
		a.connected = false
		a.up = make(chan struct{})
	}
	p := a.proxy
	a.mu.Unlock()
	if was && p != nil {
		p.PolicyLost()
	}
}

func (a *pepPolicy) onUnsolicited(h cops.Handle, d cops.SessionDecision) {
	a.mu.Lock()
	p := a.proxy
	a.mu.Unlock()
	if p != nil && d.Error.Code == 0 {
		p.Unsolicited(uint32(h), decisionOf(d))
	}
}

// Request waits for a connection (a call may arrive while the PEP is still
// connecting, e.g. right after the lab came up), then asks the PDP.
func (a *pepPolicy) Request(ctx context.Context, handle uint32, kind ReqKind, s Session) (Decision, error) {
	for {
		a.mu.Lock()
		connected, up := a.connected, a.up
		a.mu.Unlock()
		if connected {
			break
		}
		select {
		case <-up:
		case <-ctx.Done():
			return Decision{}, fmt.Errorf("%w: %w", errNoPDP, ctx.Err())
		}
	}
	d, err := a.pep.Request(ctx, cops.Handle(handle), copsKind(kind), copsSession(s))
	if err != nil {
		return Decision{}, fmt.Errorf("proxy: REQ %s: %w", kind, err)
	}
	return decisionOf(d), nil
}

// Delete sends the DRQ; Tear says the call's state was torn down.
func (a *pepPolicy) Delete(handle uint32) error {
	if err := a.pep.Delete(cops.Handle(handle), cops.ReasonTear); err != nil && !errors.Is(err, cops.ErrNoPDP) {
		return fmt.Errorf("proxy: DRQ: %w", err)
	}
	return nil
}

func copsKind(k ReqKind) cops.Kind {
	switch k {
	case ReqAAA:
		return cops.KindAAA
	case ReqLDP:
		return cops.KindLDP
	case ReqNoLDP:
		return cops.KindNoLDP
	}
	return cops.KindUnknown
}

// copsSession is the ClientSI of a REQ (protocol/cops/session.go).
func copsSession(s Session) cops.Session {
	cs := cops.Session{
		Alerting:  s.Alerting,
		CallID:    s.CallID,
		Side:      cops.SideOriginating,
		Caller:    s.From,
		Callee:    s.To,
		Bandwidth: uint64(s.BandwidthKbps) * 1000,
	}
	if s.Side == Terminating.String() {
		cs.Side = cops.SideTerminating
	}
	if s.Token != "" {
		cs.Token = tokenBytes(s.Token)
	}
	if len(s.Media) > 0 {
		cs.Class = "EF" // G.711 voice: expedited forwarding (DSCP 46)
	}
	for i, f := range s.Media {
		dir := cops.Forward // flows(): the offerer (caller) first
		if i%2 == 1 {
			dir = cops.Backward
		}
		cs.Media = append(cs.Media, cops.MediaFlow{Dir: dir, Proto: 17, Src: f.Src, Dst: f.Dst})
	}
	return cs
}

func decisionOf(d cops.SessionDecision) Decision {
	out := Decision{Install: d.Command == cops.CommandInstall, Token: tokenHeaderValue(d.Session.Token),
		Reason: d.Session.Reason, Status: int(d.Session.Result)}
	// The PDP's reason may lead with its result code ("503 clearinghouse
	// unreachable"); the SIP status says that already.
	if out.Status != 0 {
		out.Reason = strings.TrimPrefix(out.Reason, strconv.Itoa(out.Status)+" ")
	}
	if !out.Install && out.Reason == "" {
		out.Reason = "refused by policy"
	}
	return out
}

// The OSP token is binary (a CMS SignedData); SIP header values must be
// text (RFC 3261 25.1), so P-OSP-Auth-Token carries it base64-encoded, as
// OSP-aware proxies do. COPS carries the bytes themselves.
func tokenHeaderValue(token []byte) string {
	if len(token) == 0 {
		return ""
	}
	return base64.StdEncoding.EncodeToString(token)
}

// tokenBytes decodes a P-OSP-Auth-Token value. A value that is not base64
// is passed on as it is, so the policy server refuses it as a malformed
// token with a reason the caller sees, instead of the proxy guessing.
func tokenBytes(header string) []byte {
	if b, err := base64.StdEncoding.DecodeString(header); err == nil {
		return b
	}
	return []byte(header)
}
