package clearinghouse

import (
	"context"
	"crypto/tls"
	"errors"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/qoslab/qoslab/nodes/usage"
	"github.com/qoslab/qoslab/protocol/osp"
	"go.uber.org/goleak"
)

// Issue 16: only policy servers may obtain tokens or write bills, each
// transaction's usage is recorded for its own parties and once, and a
// restart forgets neither the transactions nor the used tokens.

// TestOnlyPolicyServersOverHTTP: over plain HTTP the clearinghouse knows
// its peers by address; a subscriber's node and an address that is no node
// of the lab get OSP's own refusal (401) for every request kind, and
// nothing is issued or recorded.
func TestOnlyPolicyServersOverHTTP(t *testing.T) {
	defer goleak.VerifyNone(t)
	lab := newTestLab(t, nil)
	url, stop := lab.start(t)
	defer stop()
	ctx := context.Background()
	tx, tok := issue(t, client(t, url, addrPol1), "call-u")
	for who, from := range map[string]netip.Addr{"uac": addrUAC, "unconfigured": addrNone} {
		c := client(t, url, from)
		r, err := c.Authorize(ctx, authRequest("call-x", osp.RoleSource, nil))
		if err != nil || r.Status.Code != osp.StatusUnauthorized || len(r.Destinations) != 0 || r.TransactionID != "" {
			t.Errorf("%s: authorisation %+v %v", who, r, err)
		}
		r, err = c.Authorize(ctx, authRequest("call-u", osp.RoleDestination, tok))
		if err != nil || r.Status.Code != osp.StatusUnauthorized {
			t.Errorf("%s: token presented: %+v %v", who, r, err)
		}
		cnf, err := c.ReportUsage(ctx, usageIndication(tx))
		if err != nil || cnf.Status.Code != osp.StatusUnauthorized {
			t.Errorf("%s: usage: %+v %v", who, cnf, err)
		}
		v, err := c.ValidateToken(ctx, &osp.AuthorizationIndication{CallID: osp.Base64("call-u"), Token: tok})
		if err != nil || v.Status.Code != osp.StatusUnauthorized {
			t.Errorf("%s: validation: %+v %v", who, v, err)
		}
	}
	if recs := countRecords(t, lab.cfg.Dir); len(recs) != 0 {
		t.Fatalf("records written by non policy servers: %+v", recs)
	}
	// A stranger's messages are logged, without a docs/FLOW.md step: they
	// are no step of any call.
	msgs := lab.log.Messages("call-x")
	for _, m := range msgs {
		if m.Step != 0 || m.Flow != "" {
			t.Errorf("a stranger's message logged as a step: %+v", m)
		}
	}
	if len(msgs) != 4 {
		t.Errorf("%d log lines for the strangers' requests, want 4", len(msgs))
	}
	// The token was not consumed by the refused presentation: pol2 may
	// still use it.
	r, err := client(t, url, addrPol2).Authorize(ctx, authRequest("call-u", osp.RoleDestination, tok))
	if err != nil || !r.Status.OK() {
		t.Fatalf("pol2 after the refusals: %+v %v", r, err)
	}
}

// TestOnlyPolicyServerCertificates: over mutual TLS the certificate must
// be a lab policy server's (subject OU) and be used from that server's
// address. Certificates of other lab nodes get OSP's 401; a certificate
// from another CA, or none, never completes the TLS handshake (TLS's own
// answer, a bad_certificate / certificate_required alert).
func TestOnlyPolicyServerCertificates(t *testing.T) {
	defer goleak.VerifyNone(t)
	lab := newTestLab(t, map[string]string{"tls": "on", "keylog": "off"})
	url, stop := lab.start(t)
	defer stop()
	ctx := context.Background()
	tlsFor := func(node string) *tls.Config {
		cfg, err := osp.ClientTLSConfig(lab.pki, node, "ch", nil)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	// uac's own certificate, from uac: a valid lab certificate, not a
	// policy server's.
	r, err := client(t, url, addrUAC, osp.WithTLS(tlsFor("uac"))).Authorize(ctx, authRequest("c", osp.RoleSource, nil))
	if err != nil || r.Status.Code != osp.StatusUnauthorized || !strings.Contains(r.Status.Description, "not issued to a policy server") {
		t.Errorf("uac certificate: %+v %v", r, err)
	}
	// pol1's certificate from another address.
	r, err = client(t, url, addrNone, osp.WithTLS(tlsFor("pol1"))).Authorize(ctx, authRequest("c", osp.RoleSource, nil))
	if err != nil || r.Status.Code != osp.StatusUnauthorized || !strings.Contains(r.Status.Description, "used from 127.0.0.9") {
		t.Errorf("pol1 certificate from elsewhere: %+v %v", r, err)
	}
	// A policy server certificate of another lab's CA: no handshake.
	other := newTestLab(t, nil)
	foreign, err := osp.ClientTLSConfig(other.pki, "pol1", "ch", nil)
	if err != nil {
		t.Fatal(err)
	}
	foreign.RootCAs = tlsFor("pol1").RootCAs // it trusts our server; we do not trust it
	if _, err := client(t, url, addrPol1, osp.WithTLS(foreign), osp.WithTimeout(time.Second)).
		Authorize(ctx, authRequest("c", osp.RoleSource, nil)); !errors.Is(err, osp.ErrUnreachable) {
		t.Errorf("foreign CA: got %v, want a failed handshake", err)
	}
	// The real pol1 still gets through.
	if r, err := client(t, url, addrPol1, osp.WithTLS(tlsFor("pol1"))).Authorize(ctx, authRequest("c", osp.RoleSource, nil)); err != nil || !r.Status.OK() {
		t.Fatalf("pol1: %+v %v", r, err)
	}
}

// TestUsageRules: a UsageIndication is recorded only for a transaction
// the clearinghouse issued, about that transaction's call and parties,
// from the side's own policy server, with non-negative amounts, once; a
// retry is confirmed again, a conflicting duplicate refused and logged.
func TestUsageRules(t *testing.T) {
	defer goleak.VerifyNone(t)
	lab := newTestLab(t, nil)
	url, stop := lab.start(t)
	defer stop()
	ctx := context.Background()
	pol1, pol2 := client(t, url, addrPol1), client(t, url, addrPol2)
	tx, tok := issue(t, pol1, "call-u")
	if r, err := pol2.Authorize(ctx, authRequest("call-u", osp.RoleDestination, tok)); err != nil || !r.Status.OK() {
		t.Fatalf("pol2: %+v %v", r, err)
	}
	with := func(mod func(*osp.UsageIndication)) *osp.UsageIndication {
		ind := usageIndication(tx)
		mod(ind)
		return ind
	}
	cases := []struct {
		name string
		c    *osp.Client
		ind  *osp.UsageIndication
		code osp.StatusCode
		why  string
	}{
		{"never issued", pol1, usageIndication("123456789"), osp.StatusNoRoute, "not issued"},
		{"not a number", pol1, usageIndication("abc"), osp.StatusNoRoute, "not issued"},
		{"other call", pol1, with(func(u *osp.UsageIndication) { u.CallID = osp.Base64("call-z") }), osp.StatusBadRequest, "is not transaction"},
		{"other caller", pol1, with(func(u *osp.UsageIndication) { u.SourceInfo.Value = "sip:mallory@x" }), osp.StatusBadRequest, "is not transaction"},
		{"source side from pol2", pol2, usageIndication(tx), osp.StatusForbidden, "belongs to pol1"},
		{"destination side from pol1", pol1, with(func(u *osp.UsageIndication) { u.Role = osp.RoleDestination }), osp.StatusForbidden, "belongs to pol2"},
		{"negative amount", pol1, with(func(u *osp.UsageIndication) { u.UsageDetail.Amount = -osp.Seconds(time.Second) }), osp.StatusBadRequest, "negative"},
		{"negative post-dial delay", pol1, with(func(u *osp.UsageIndication) { u.UsageDetail.PostDialDelay = -osp.Seconds(time.Millisecond) }), osp.StatusBadRequest, "negative"},
		{"genuine", pol1, usageIndication(tx), osp.StatusOK, "recorded"},
		{"retry", pol1, usageIndication(tx), osp.StatusOK, "already recorded"},
		{"retry with another timestamp", pol1, with(func(u *osp.UsageIndication) { u.Timestamp = osp.At(time.Now()) }), osp.StatusOK, "already recorded"},
		{"conflicting duplicate", pol1, with(func(u *osp.UsageIndication) { u.UsageDetail.Amount = osp.Seconds(time.Hour) }), osp.StatusBadRequest, "already recorded with other figures"},
		{"destination side", pol2, with(func(u *osp.UsageIndication) { u.Role = osp.RoleDestination }), osp.StatusOK, "recorded"},
	}
	for _, c := range cases {
		cnf, err := c.c.ReportUsage(ctx, c.ind)
		if err != nil || cnf.Status.Code != c.code || !strings.Contains(cnf.Status.Description, c.why) {
			t.Errorf("%s: %+v %v, want %d %q", c.name, cnf, err, c.code, c.why)
		}
	}
	recs := countRecords(t, lab.cfg.Dir)
	if len(recs) != 2 || recs[0].DurationMs != 30250 || recs[0].Reporter != "pol1" || recs[1].Reporter != "pol2" {
		t.Fatalf("records %+v, want the genuine source and destination ones", recs)
	}
	stop()
	if !strings.Contains(lab.log.String(), `"msg":"conflicting usage refused"`) {
		t.Error("the conflicting duplicate was not logged")
	}
}

// TestLedgerSurvivesRestart: after a restart the clearinghouse still
// refuses a token used before it, and still records usage for a
// transaction it issued before it. The ledger is in the usage database.
func TestLedgerSurvivesRestart(t *testing.T) {
	defer goleak.VerifyNone(t)
	lab := newTestLab(t, nil)
	ctx := context.Background()
	url, stop := lab.start(t)
	c1 := osp.NewClient(url, osp.WithLocalAddr(addrPol1))
	c2 := osp.NewClient(url, osp.WithLocalAddr(addrPol2))
	tx, tok := issue(t, c1, "call-u")
	if r, err := c2.Authorize(ctx, authRequest("call-u", osp.RoleDestination, tok)); err != nil || !r.Status.OK() {
		t.Fatalf("first use: %+v %v", r, err)
	}
	c1.Close()
	c2.Close()
	stop()

	url, stop = lab.start(t)
	defer stop()
	r, err := client(t, url, addrPol2).Authorize(ctx, authRequest("call-u", osp.RoleDestination, tok))
	if err != nil || r.Status.Code != osp.StatusUnauthorized || !strings.Contains(r.Status.Description, "already used") {
		t.Fatalf("replay after restart: %+v %v", r, err)
	}
	cnf, err := client(t, url, addrPol1).ReportUsage(ctx, usageIndication(tx))
	if err != nil || cnf.Status.Description != "recorded" {
		t.Fatalf("usage of a transaction issued before the restart: %+v %v", cnf, err)
	}
	if out, err := exec.Command("sqlite3", lab.cfg.Dir+"/"+usage.FileName, "select count(*) from transactions; select count(*) from used_tokens").CombinedOutput(); err == nil {
		if got := strings.Fields(string(out)); len(got) != 2 || got[0] != "1" || got[1] != "1" {
			t.Errorf("sqlite3 sees %q, want 1 transaction and 1 used token", out)
		}
	} // sqlite3 is optional here; the store is read through the clearinghouse above
}
