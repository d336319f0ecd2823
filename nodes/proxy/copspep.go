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
	"github.com/qoslab/qoslab/protocol/copsconn"
)

// pepPolicy is the proxy's PEP (client-type 0x5153) over the COPS
// connection layer: one connection to the PDP, redialled by itself, whose
// open requests are re-sent after a reconnect. It adapts the layer to the
// proxy's Policy: session data in, decisions out.
type pepPolicy struct {
	client *copsconn.Client

	mu    sync.Mutex
	proxy *Proxy
}

// newPEPPolicy builds the PEP for the PDP at addr (host:port).
func newPEPPolicy(addr, pepID string, log *slog.Logger) *pepPolicy {
	a := &pepPolicy{}
	a.client = copsconn.NewClient(addr, copsconn.Config{
		Role:       copsconn.PEP,
		ClientType: cops.ClientTypeSession,
		PEPID:      pepID,
		Log:        log,
		OnClose:    a.onLost,
		OnMessage:  a.onUnsolicited,
	})
	return a
}

// attach names the proxy that hears about losses and PDP-initiated DECs.
func (a *pepPolicy) attach(p *Proxy) {
	a.mu.Lock()
	a.proxy = p
	a.mu.Unlock()
}

func (a *pepPolicy) attached() *Proxy {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.proxy
}

// run keeps the COPS connection up until ctx ends.
func (a *pepPolicy) run(ctx context.Context) error {
	if err := a.client.Run(ctx); err != nil {
		return fmt.Errorf("proxy: cops pep: %w", err)
	}
	return nil
}

// onLost tells the proxy that the calls' policy state is gone.
func (a *pepPolicy) onLost(*copsconn.Conn, error) {
	if p := a.attached(); p != nil {
		p.PolicyLost()
	}
}

// onUnsolicited takes the DECs that answer no waiting request:
// PDP-initiated changes and the answers to requests re-sent after a
// reconnect.
func (a *pepPolicy) onUnsolicited(c *copsconn.Conn, m *cops.Message) {
	d, err := decisionOf(m)
	if err != nil {
		c.Send(failureReport(m.Handle))
		return
	}
	if p := a.attached(); p != nil && m.Error.Code == 0 {
		p.Unsolicited(uint32(m.Handle), d)
	}
}

// Request waits for a connection (a call may arrive while the PEP is still
// connecting, e.g. right after the lab came up), then asks the PDP.
func (a *pepPolicy) Request(ctx context.Context, handle uint32, kind cops.Kind, s cops.Session) (Decision, error) {
	c, err := a.client.Wait(ctx)
	if err != nil {
		return Decision{}, fmt.Errorf("%w: %w", errNoPDP, err)
	}
	data, err := s.AppendTo(nil)
	if err != nil {
		return Decision{}, fmt.Errorf("proxy: REQ %s: %w", kind, err)
	}
	m, err := c.Request(ctx, cops.Handle(handle), kind.Context(), data)
	if err != nil {
		return Decision{}, fmt.Errorf("proxy: REQ %s: %w", kind, err)
	}
	d, err := decisionOf(m)
	if err != nil {
		// A decision we cannot read: tell the PDP, keep the connection.
		c.Send(failureReport(m.Handle))
		return Decision{}, fmt.Errorf("proxy: REQ %s: %w", kind, err)
	}
	return d, nil
}

// failureReport is the RPT telling the PDP its decision could not be
// applied (RFC 2748 3.5).
func failureReport(h cops.Handle) *cops.Message {
	return &cops.Message{Header: cops.Header{Op: cops.OpRPT}, Handle: h, ReportType: cops.ReportFailure}
}

// Delete sends the DRQ; Tear says the call's state was torn down.
func (a *pepPolicy) Delete(handle uint32) error {
	if err := a.client.Delete(cops.Handle(handle), cops.ReasonTear); err != nil && !errors.Is(err, copsconn.ErrClosed) {
		return fmt.Errorf("proxy: DRQ: %w", err)
	}
	return nil
}

// decisionOf reads a DEC: its command and the session data the PDP put in
// its client-specific decision data.
func decisionOf(m *cops.Message) (Decision, error) {
	var cmd cops.Command
	var s cops.Session
	if len(m.Decisions) > 0 {
		cmd = m.Decisions[0].Command
		if data := m.Decisions[0].ClientData; data != nil {
			if err := s.Decode(data); err != nil {
				return Decision{}, err
			}
		}
	}
	out := Decision{Install: cmd == cops.CommandInstall, Token: tokenHeaderValue(s.Token),
		Reason: s.Reason, Status: int(s.Result)}
	// The PDP's reason may lead with its result code ("503 clearinghouse
	// unreachable"); the SIP status says that already.
	if out.Status != 0 {
		out.Reason = strings.TrimPrefix(out.Reason, strconv.Itoa(out.Status)+" ")
	}
	if !out.Install && out.Reason == "" {
		out.Reason = "refused by policy"
	}
	return out, nil
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
