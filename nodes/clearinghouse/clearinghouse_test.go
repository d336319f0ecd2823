package clearinghouse

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/nodes/nodestest"
	"github.com/qoslab/qoslab/nodes/usage"
	"github.com/qoslab/qoslab/protocol/osp"
	"go.uber.org/goleak"
)

// Loopback addresses of the test lab's nodes: the clearinghouse listens on
// 127.0.0.1; each client binds the address of the node it plays
// (osp.WithLocalAddr), so that the clearinghouse tells them apart as it
// does in a lab.
var (
	addrPol1 = netip.MustParseAddr("127.0.0.1")
	addrPol2 = netip.MustParseAddr("127.0.0.3")
	addrUAC  = netip.MustParseAddr("127.0.0.4")
	addrUAS  = netip.MustParseAddr("127.0.0.5")
	addrSIP2 = netip.MustParseAddr("127.0.0.6")
	addrSIP3 = netip.MustParseAddr("127.0.0.7")
	addrNone = netip.MustParseAddr("127.0.0.9") // no node of the lab
)

// testLab is a lab directory with a PKI and a clearinghouse config: policy
// servers pol1 and pol2, the UAs uac and uas (uas behind proxy sip2), and
// a spare proxy sip3.
type testLab struct {
	cfg nodes.Config
	pki string
	log *nodestest.Log
}

func labNodes() map[string]nodes.NodeInfo {
	return map[string]nodes.NodeInfo{
		"ch":   {Role: "clearinghouse", Addr: netip.MustParseAddr("127.0.0.2")}, // serve listens on 127.0.0.1 itself
		"pol1": {Role: "pdp", Addr: addrPol1},
		"pol2": {Role: "pdp", Addr: addrPol2},
		"uac":  {Role: "uac", Addr: addrUAC, Params: map[string]string{"proxy": "sip1"}},
		"uas":  {Role: "uas", Addr: addrUAS, Params: map[string]string{"proxy": "sip2"}},
		"sip2": {Role: "proxy", Addr: addrSIP2, Params: map[string]string{"domain": "b.qoslab.test"}},
		"sip3": {Role: "proxy", Addr: addrSIP3, Params: map[string]string{"sip-port": "5070"}},
	}
}

func newTestLab(t testing.TB, params map[string]string) *testLab {
	t.Helper()
	labDir := t.TempDir()
	pki := filepath.Join(labDir, "pki")
	var pn []osp.PKINode
	for name, n := range labNodes() {
		pn = append(pn, osp.PKINode{Name: name, Role: n.Role, Addrs: []netip.Addr{n.Addr}})
	}
	if err := osp.WriteLabPKI(pki, pn); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(labDir, "nodes", "ch")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if params == nil {
		params = map[string]string{}
	}
	return &testLab{
		cfg: nodes.Config{
			Lab: "t", Name: "ch", Role: "clearinghouse", Dir: dir, LabDir: labDir, Params: params,
			Nodes: labNodes(),
		},
		pki: pki,
		log: &nodestest.Log{},
	}
}

// start runs the clearinghouse on a loopback port until the returned stop
// is called; it returns the OSP URL.
func (l *testLab) start(t testing.TB) (url string, stop func()) {
	t.Helper()
	env := nodes.Env{Config: l.cfg, Log: slog.New(slog.NewJSONHandler(l.log, nil))}
	ready := make(chan struct{})
	env.Ready = func() { close(ready) }
	cfg, err := parseConfig(env)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, env, cfg, ln) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("clearinghouse did not start: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	stopped := false
	return osp.ServerURL("127.0.0.1", port, cfg.tls), func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("clearinghouse stopped with %v", err)
		}
	}
}

// client returns an OSP client that connects from addr, closed with the
// test.
func client(t testing.TB, url string, from netip.Addr, opts ...osp.ClientOption) *osp.Client {
	c := osp.NewClient(url, append([]osp.ClientOption{osp.WithLocalAddr(from)}, opts...)...)
	t.Cleanup(c.Close)
	return c
}

func authRequest(callID, role string, token []byte) *osp.AuthorizationRequest {
	return &osp.AuthorizationRequest{
		CallID:          osp.Base64(callID),
		SourceInfo:      osp.Party{Type: osp.PartySIP, Value: "sip:uac@198.18.1.2"},
		DestinationInfo: osp.Party{Type: osp.PartySIP, Value: "sip:uas@198.18.4.2"},
		DeviceInfo:      &osp.Party{Type: osp.PartyTransport, Value: "[198.18.3.2]"},
		Role:            role,
		Token:           token,
	}
}

// issue authorises call callID from pol1 and returns the transaction id
// and the token.
func issue(t testing.TB, c *osp.Client, callID string) (string, []byte) {
	t.Helper()
	r, err := c.Authorize(context.Background(), authRequest(callID, osp.RoleSource, nil))
	if err != nil || !r.Status.OK() || len(r.Destinations) == 0 {
		t.Fatalf("authorise %s: %+v %v", callID, r, err)
	}
	return r.TransactionID, r.Destinations[0].Token
}

func TestAuthorizeBothSidesAndTokenChecks(t *testing.T) {
	defer goleak.VerifyNone(t)
	lab := newTestLab(t, nil)
	url, stop := lab.start(t)
	defer stop()
	c := client(t, url, addrPol1)
	c2 := client(t, url, addrPol2)
	ctx := context.Background()

	// Step 3/4: the originating side.
	r1, err := c.Authorize(ctx, authRequest("call-1", osp.RoleSource, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !r1.Status.OK() || len(r1.Destinations) != 1 {
		t.Fatalf("source side: %+v", r1)
	}
	d := r1.Destinations[0]
	if d.ServiceClass != "EF" || d.Bandwidth != 80000 || string(d.CallID) != "call-1" || len(d.Token) == 0 {
		t.Fatalf("destination %+v", d)
	}
	// The route is the terminating proxy's signalling address, as a SIP
	// client would dial it (ETSI TS 101 321 DestinationSignalAddress,
	// "[address]:port"), not the called party again.
	if d.DestinationSignalAddress != (osp.Party{Type: osp.PartyTransport, Value: "[127.0.0.6]:5060"}) {
		t.Fatalf("signal address %+v, want sip2's", d.DestinationSignalAddress)
	}
	// The token verifies with the lab CA (a fresh verifier, as a policy
	// server would hold).
	roots, err := osp.LoadCA(lab.pki)
	if err != nil {
		t.Fatal(err)
	}
	ti, err := osp.NewVerifier(roots, osp.WithSignerName("ch")).Check(d.Token, osp.Expect{CallID: "call-1", Source: "uac", Destination: "uas"})
	if err != nil {
		t.Fatalf("token from the clearinghouse: %v", err)
	}
	if ti.TransactionID != r1.TransactionID {
		t.Fatalf("token transaction %s, response %s", ti.TransactionID, r1.TransactionID)
	}

	// Step 8/9: the terminating side presents the token.
	r2, err := c2.Authorize(ctx, authRequest("call-1", osp.RoleDestination, d.Token))
	if err != nil {
		t.Fatal(err)
	}
	if !r2.Status.OK() || r2.TransactionID != r1.TransactionID {
		t.Fatalf("destination side: %+v (source transaction %s)", r2.Status, r1.TransactionID)
	}
	// The same token again is a replay.
	r3, err := c2.Authorize(ctx, authRequest("call-1", osp.RoleDestination, d.Token))
	if err != nil {
		t.Fatal(err)
	}
	if r3.Status.Code != osp.StatusUnauthorized || !strings.Contains(r3.Status.Description, "already used") {
		t.Fatalf("replay: %+v", r3.Status)
	}
	// A token for call-1 presented for call-2.
	r4, _ := c.Authorize(ctx, authRequest("call-1", osp.RoleSource, nil))
	r5, err := c2.Authorize(ctx, authRequest("call-2", osp.RoleDestination, r4.Destinations[0].Token))
	if err != nil {
		t.Fatal(err)
	}
	if r5.Status.Code != osp.StatusUnauthorized || !strings.Contains(r5.Status.Description, "another call") {
		t.Fatalf("wrong call: %+v", r5.Status)
	}
	// Missing call id.
	bad := authRequest("", osp.RoleSource, nil)
	r6, err := c.Authorize(ctx, bad)
	if err != nil || r6.Status.Code != osp.StatusBadRequest {
		t.Fatalf("no call id: %+v %v", r6, err)
	}
	stop()

	// The log holds the docs/FLOW.md steps, named by the peer.
	var steps []string
	for _, l := range lab.log.Records() {
		if l["msg"] == "msg" && l["call"] == "call-1" {
			steps = append(steps, l["dir"].(string)+" "+l["what"].(string)+" "+l["flow"].(string)+" "+
				strconv.Itoa(int(l["step"].(float64)))+" "+l["peer"].(string))
		}
	}
	want := []string{
		"rx AuthorizationRequest setup 3 pol1", "tx AuthorizationResponse setup 4 pol1",
		"rx AuthorizationRequest setup 8 pol2", "tx AuthorizationResponse setup 9 pol2",
	}
	if len(steps) < 4 || strings.Join(steps[:4], "|") != strings.Join(want, "|") {
		t.Fatalf("logged steps:\n%s\nwant first:\n%s", strings.Join(steps, "\n"), strings.Join(want, "\n"))
	}
}

func TestPolicyDenial(t *testing.T) {
	defer goleak.VerifyNone(t)
	lab := newTestLab(t, map[string]string{"policy": `deny * -> uas code=403 reason="uas does not take calls"; allow * -> *`})
	url, stop := lab.start(t)
	defer stop()
	c := client(t, url, addrPol1)
	r, err := c.Authorize(context.Background(), authRequest("call-9", osp.RoleSource, nil))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status.Code != osp.StatusForbidden || r.Status.Description != "uas does not take calls" || len(r.Destinations) != 0 {
		t.Fatalf("denial: %+v", r)
	}
}

// usageIndication is pol1's report for transaction tx of call-u (issue
// one with issue(t, c, "call-u")).
func usageIndication(tx string) *osp.UsageIndication {
	t0 := time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)
	req := authRequest("call-u", osp.RoleSource, nil)
	return &osp.UsageIndication{
		Role: osp.RoleSource, TransactionID: tx, CallID: osp.Base64("call-u"),
		SourceInfo: req.SourceInfo, DestinationInfo: req.DestinationInfo,
		UsageDetail: osp.UsageDetail{Amount: osp.Seconds(30250 * time.Millisecond), Increment: 1, Unit: "s",
			StartTime: osp.At(t0), ConnectTime: osp.At(t0.Add(2 * time.Second)), EndTime: osp.At(t0.Add(32250 * time.Millisecond)),
			PostDialDelay: osp.Seconds(1500 * time.Millisecond), ReleaseSource: osp.ReleaseDestination,
			TerminationCause: &osp.TermCause{Type: "q850", TCCode: 16, Description: "normal"}},
		ServiceClass: "EF", Bandwidth: 64000,
		Marked: &osp.MarkedTraffic{Packets: 1500, Octets: 258000},
	}
}

func countRecords(t *testing.T, dir string) []usage.Record {
	t.Helper()
	s, err := usage.Open(context.Background(), filepath.Join(dir, usage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestUsageIdempotentAcrossRestart: the same UsageIndication three times,
// then again after a restart of the clearinghouse: exactly one record,
// with the milliseconds and the release source the indication carried.
func TestUsageIdempotentAcrossRestart(t *testing.T) {
	defer goleak.VerifyNone(t)
	lab := newTestLab(t, nil)
	ctx := context.Background()
	url, stop := lab.start(t)
	c := osp.NewClient(url, osp.WithLocalAddr(addrPol1))
	tx, _ := issue(t, c, "call-u")
	for i := 0; i < 3; i++ {
		cnf, err := c.ReportUsage(ctx, usageIndication(tx))
		if err != nil || !cnf.Status.OK() {
			t.Fatalf("send %d: %+v %v", i, cnf, err)
		}
	}
	c.Close()
	stop()
	url, stop = lab.start(t)
	defer stop()
	c = client(t, url, addrPol1)
	cnf, err := c.ReportUsage(ctx, usageIndication(tx))
	if err != nil || cnf.Status.Description != "already recorded" {
		t.Fatalf("after restart: %+v %v", cnf, err)
	}
	recs := countRecords(t, lab.cfg.Dir)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	r := recs[0]
	if r.TransactionID != tx || r.Role != "source" || r.CallID != "call-u" || r.DurationMs != 30250 || r.TerminationCause != 16 ||
		r.PostDialDelay != 1500 || r.ReleaseSource != int(osp.ReleaseDestination) ||
		r.Reporter != "pol1" || r.ServiceClass != "EF" ||
		!r.CountersKnown || r.Packets != 1500 || r.Octets != 258000 || r.CountersLost {
		t.Fatalf("record %+v", r)
	}
	// A bad indication is refused with a status, not stored.
	bad := usageIndication("")
	cnf, err = c.ReportUsage(ctx, bad)
	if err != nil || cnf.Status.Code != osp.StatusBadRequest {
		t.Fatalf("bad indication: %+v %v", cnf, err)
	}
}

// TestUsageCounters: the marked packets and octets of each side land in
// the store as sent, with the lost flag; an indication without them is
// stored with the counters unknown, not zero.
func TestUsageCounters(t *testing.T) {
	defer goleak.VerifyNone(t)
	lab := newTestLab(t, nil)
	ctx := context.Background()
	url, stop := lab.start(t)
	defer stop()
	c := client(t, url, addrPol1)
	c2 := client(t, url, addrPol2)
	tx, _ := issue(t, c, "call-u")
	tx2, _ := issue(t, c, "call-u")
	src := usageIndication(tx)
	src.Marked = &osp.MarkedTraffic{Packets: 250, Octets: 43000, CountersLost: true}
	dst := usageIndication(tx)
	dst.Role, dst.Marked = osp.RoleDestination, nil
	huge := usageIndication(tx2)
	huge.Marked = &osp.MarkedTraffic{Packets: 1<<64 - 1, Octets: 1 << 63}
	for _, send := range []struct {
		c   *osp.Client
		ind *osp.UsageIndication
	}{{c, src}, {c2, dst}, {c, huge}} {
		if cnf, err := send.c.ReportUsage(ctx, send.ind); err != nil || !cnf.Status.OK() {
			t.Fatalf("%s/%s: %+v %v", send.ind.TransactionID, send.ind.Role, cnf, err)
		}
	}
	recs := countRecords(t, lab.cfg.Dir)
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	if r := recs[0]; !r.CountersKnown || r.Packets != 250 || r.Octets != 43000 || !r.CountersLost {
		t.Errorf("source record: %+v", r)
	}
	if r := recs[1]; r.Role != "destination" || r.Reporter != "pol2" || r.CountersKnown || r.Packets != 0 || r.Octets != 0 {
		t.Errorf("destination record without counters: %+v", r)
	}
	if r := recs[2]; !r.CountersKnown || r.Packets != math.MaxInt64 || r.Octets != math.MaxInt64 {
		t.Errorf("counters beyond int64 are not clamped: %+v", r)
	}
}

func TestMutualTLS(t *testing.T) {
	defer goleak.VerifyNone(t)
	lab := newTestLab(t, map[string]string{"tls": "on"})
	url, stop := lab.start(t)
	defer stop()
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("url %s", url)
	}
	tlsCfg, err := osp.ClientTLSConfig(lab.pki, "pol1", "ch", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := client(t, url, addrPol1, osp.WithTLS(tlsCfg))
	r, err := c.Authorize(context.Background(), authRequest("call-tls", osp.RoleSource, nil))
	if err != nil || !r.Status.OK() {
		t.Fatalf("mutual TLS: %+v %v", r, err)
	}
	// Without a client certificate the handshake fails.
	noCert := tlsCfg.Clone()
	noCert.Certificates = nil
	c2 := client(t, url, addrPol1, osp.WithTLS(noCert), osp.WithTimeout(time.Second))
	if _, err := c2.Authorize(context.Background(), authRequest("call-tls2", osp.RoleSource, nil)); !errors.Is(err, osp.ErrUnreachable) {
		t.Fatalf("no client cert: got %v", err)
	}
	keys, err := os.ReadFile(filepath.Join(lab.cfg.Dir, "tls-keylog.txt"))
	if err != nil || !bytes.Contains(keys, []byte("CLIENT_")) {
		t.Fatalf("key log: %q %v", keys, err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, p := range []map[string]string{
		{"port": "x"}, {"tls": "maybe"}, {"token_ttl": "-1s"}, {"max_duration": "0"}, {"policy": "permit all"},
	} {
		env := nodes.Env{Config: nodes.Config{Name: "ch", Params: p}}
		if _, err := parseConfig(env); err == nil || !strings.HasPrefix(err.Error(), "clearinghouse: ") {
			t.Errorf("%v: got %v", p, err)
		}
	}
}

func BenchmarkAuthorizeLoopback(b *testing.B) {
	lab := newTestLab(b, nil)
	url, stop := lab.start(b)
	defer stop()
	c := client(b, url, addrPol1)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r, err := c.Authorize(ctx, authRequest("bench-"+strconv.Itoa(i), osp.RoleSource, nil))
		if err != nil || !r.Status.OK() {
			b.Fatalf("%+v %v", r, err)
		}
	}
}

func TestValidateTokenAndRefusedBodies(t *testing.T) {
	defer goleak.VerifyNone(t)
	lab := newTestLab(t, nil)
	url, stop := lab.start(t)
	defer stop()
	c := client(t, url, addrPol1)
	c2 := client(t, url, addrPol2)
	ctx := context.Background()
	r, err := c.Authorize(ctx, authRequest("call-v", osp.RoleSource, nil))
	if err != nil || !r.Status.OK() {
		t.Fatalf("%+v %v", r, err)
	}
	ind := func() *osp.AuthorizationIndication {
		return &osp.AuthorizationIndication{Role: osp.RoleDestination, CallID: osp.Base64("call-v"),
			SourceInfo: osp.Party{Value: "sip:uac@x"}, DestinationInfo: osp.Party{Value: "sip:uas@y"},
			Token: r.Destinations[0].Token}
	}
	cnf, err := c2.ValidateToken(ctx, ind())
	if err != nil || !cnf.Status.OK() || cnf.ValidUntil.IsZero() {
		t.Fatalf("first validation: %+v %v", cnf, err)
	}
	cnf, err = c2.ValidateToken(ctx, ind())
	if err != nil || cnf.Status.Code != osp.StatusUnauthorized {
		t.Fatalf("second validation: %+v %v", cnf, err)
	}
	// A malformed request is answered 400 and logged without a docs/FLOW.md step.
	resp, err := http.Post(url, osp.ContentType, strings.NewReader(`<Message><AuthorisationRequest><Timestamp>soon</Timestamp></AuthorisationRequest></Message>`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	m, err := osp.Unmarshal(body)
	if err != nil || m.AuthorizationResponse == nil || m.AuthorizationResponse.Status.Code != osp.StatusBadRequest {
		t.Fatalf("malformed: %s %v", body, err)
	}
	stop()
	found := false
	for _, l := range lab.log.Records() {
		if l["msg"] == "msg" && l["call"] == "" && l["what"] == "AuthorizationRequest" {
			found = true
			if l["step"].(float64) != 0 || l["flow"] != "" {
				t.Errorf("refused body logged as a docs/FLOW.md step: %v", l)
			}
		}
	}
	if !found {
		t.Error("refused body not logged")
	}
}
