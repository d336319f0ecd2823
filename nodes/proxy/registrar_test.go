package proxy

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// RFC 3261 10.3: bindings by address-of-record, their expiry, and the
// Call-ID/CSeq rule against reordered REGISTERs.
func TestLocation(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLocation(func() time.Time { return now })
	aor := sip.Uri{User: "uas", Host: "B.qoslab.test"}
	c1 := sip.Uri{User: "uas", Host: "198.18.4.2", Port: 5060}
	c2 := sip.Uri{User: "uas", Host: "198.18.4.3"}
	if !l.update(aor, c1, 60, "reg1", 1) || !l.update(aor, c2, 120, "reg2", 1) {
		t.Fatal("fresh registrations refused")
	}
	if bs := l.lookup(sip.Uri{User: "uas", Host: "b.QOSLAB.test"}); len(bs) != 2 {
		t.Fatalf("lookup (host compared case-insensitively) = %v, want 2 bindings", bs)
	}
	if bs := l.lookup(sip.Uri{User: "UAS", Host: "b.qoslab.test"}); len(bs) != 0 {
		t.Errorf("user parts are case-sensitive (RFC 3261 19.1.4), got %v", bs)
	}
	if l.update(aor, c1, 3600, "reg1", 1) {
		t.Error("a REGISTER with the binding's Call-ID and no higher CSeq must be ignored")
	}
	now = now.Add(61 * time.Second)
	bs := l.lookup(aor)
	if len(bs) != 1 || bs[0].Contact.Host != "198.18.4.3" {
		t.Fatalf("after 61 s: %v, want only the 120 s binding", bs)
	}
	l.update(aor, c2, 0, "reg2", 2)
	if bs := l.lookup(aor); len(bs) != 0 {
		t.Errorf("expires=0 must remove the binding, left %v", bs)
	}
}

// domainLab is the two-proxy lab with domains: SIP1 is the registrar of
// a.test, SIP2 of b.test, each routes the other's domain to the other.
func domainLab(t *testing.T) (*lab, *scriptedPDP, *scriptedPDP) {
	pdp1, pdp2 := newScriptedPDP(t, nil), newScriptedPDP(t, nil)
	l := startLabWith(t, pdp1, pdp2, time.Second, func(l *lab, side int, cfg *Config) {
		cfg.Peer = netip.AddrPort{} // domains only: no default route
		if side == 1 {
			cfg.Domain, cfg.Routes = "a.test", map[string]netip.AddrPort{"b.test": l.sip2Addr}
		} else {
			cfg.Domain, cfg.Routes = "b.test", map[string]netip.AddrPort{"a.test": l.sip1Addr}
		}
	})
	return l, pdp1, pdp2
}

// registerUA sends a REGISTER for user@domain from u to the registrar.
func registerUA(t *testing.T, u *testUA, user, domain string, registrar netip.AddrPort, expires string) *sip.Response {
	t.Helper()
	aor := sip.Uri{Scheme: "sip", User: user, Host: domain}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: domain})
	req.AppendHeader(&sip.ToHeader{Address: aor})
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", "r1")
	req.AppendHeader(from)
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: u.addr.Addr().String(), Port: int(u.addr.Port())}})
	req.AppendHeader(sip.NewHeader("Expires", expires))
	req.SetDestination(registrar.String())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res, err := u.cli.Do(ctx, req)
	if err != nil {
		t.Fatalf("REGISTER: %v", err)
	}
	return res
}

// Each proxy is the registrar of its domain; an INVITE for
// sip:uas@b.test goes SIP1 -> SIP2 by the routing table and SIP2 -> UAS
// by the registered contact (the Request-URI becomes the contact).
func TestRoutingByAddressOfRecord(t *testing.T) {
	l, pdp1, pdp2 := domainLab(t)
	l.uas.setAnswer(answerRing(0))
	if res := registerUA(t, l.uas, "uas", "b.test", l.sip1Addr, "600"); res.StatusCode != 404 {
		t.Errorf("REGISTER for b.test at SIP1 answered %d, want 404 (not its domain)", res.StatusCode)
	}
	if res := registerUA(t, l.uas, "uas", "b.test", l.sip2Addr, "30"); res.StatusCode != 423 || res.GetHeader("Min-Expires") == nil {
		t.Errorf("REGISTER for 30 s answered %d, want 423 with Min-Expires", res.StatusCode)
	}
	res := registerUA(t, l.uas, "uas", "b.test", l.sip2Addr, "600")
	if res.StatusCode != 200 || res.Contact() == nil || !strings.Contains(res.Contact().Value(), "expires=600") {
		t.Fatalf("REGISTER answered %d %v, want 200 with the binding", res.StatusCode, res.Contact())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	toAOR := func(user, domain string) func(*sip.Request) {
		return func(r *sip.Request) {
			r.Recipient = sip.Uri{Scheme: "sip", User: user, Host: domain}
			r.RemoveHeader("To")
			r.AppendHeader(&sip.ToHeader{Address: r.Recipient})
		}
	}
	call := l.invite(ctx, sdpBody(l.uacAddr.Addr(), 20000, "0"), toAOR("uas", "b.test"))
	if call.final == nil || call.final.StatusCode != 200 {
		t.Fatalf("call to sip:uas@b.test: %v", call)
	}
	inv := l.uas.invite(0)
	if inv.Recipient.Host != l.uasAddr.Addr().String() || inv.To().Address.Host != "b.test" {
		t.Errorf("INVITE at UAS: Request-URI %s, To %s; want the contact and the AOR", inv.Recipient.String(), inv.To().Address.String())
	}
	call.dialog.Ack(ctx)
	call.dialog.Bye(ctx)

	for _, tc := range []struct {
		user, domain string
		want         int
	}{
		{"nobody", "b.test", 480}, // b.test's, but not registered
		{"uas", "c.test", 404},    // no route to the domain
	} {
		res := l.invite(ctx, sdpBody(l.uacAddr.Addr(), 20000, "0"), toAOR(tc.user, tc.domain))
		if res.final == nil || res.final.StatusCode != tc.want {
			t.Errorf("call to sip:%s@%s: %v, want %d", tc.user, tc.domain, res, tc.want)
		}
	}
	l.settled(pdp1, pdp2)
}

// Issue 13: a 503's Reason carried the policy server's whole error chain
// (URLs, Go errors) to the caller; only its summary goes out.
func TestPublicReason(t *testing.T) {
	for _, tc := range []struct {
		status   int
		in, want string
	}{
		{503, `clearinghouse unreachable: Post "http://198.18.8.2:1080/osp": dial tcp 198.18.8.2:1080: connect: connection refused`, "clearinghouse unreachable"},
		{403, "barred in the e2e suite", "barred in the e2e suite"},
		{403, "line\r\nInjected: header", "lineInjected: header"},
		{403, strings.Repeat("é", 80), strings.Repeat("é", 50)},
	} {
		if got := publicReason(tc.status, tc.in); got != tc.want {
			t.Errorf("publicReason(%d, %q) = %q, want %q", tc.status, tc.in, got, tc.want)
		}
	}
}
