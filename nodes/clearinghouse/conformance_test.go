package clearinghouse

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/protocol/osp"
	"go.uber.org/goleak"
)

// TestRoutesAndMaximumDestinations: each Destination's
// DestinationSignalAddress is "[address]:port" of a proxy that terminates
// the call (ETSI TS 101 321 DestinationSignalAddress; what Kamailio's osp
// module sends the INVITE to), and an AuthorisationRequest gets at most
// MaximumDestinations of them, each with its own token; absent means one.
// A called party is found by its node (user part or address) or its
// domain's registrar; one the lab has no way to has no route (404).
func TestRoutesAndMaximumDestinations(t *testing.T) {
	defer goleak.VerifyNone(t)
	lab := newTestLab(t, map[string]string{"routes": "uas=sip2,sip3"})
	url, stop := lab.start(t)
	defer stop()
	c := client(t, url, addrPol1)
	ctx := context.Background()
	want := []string{"[127.0.0.6]:5060", "[127.0.0.7]:5070"}
	for asked, n := range map[int]int{0: 1, 1: 1, 2: 2, 5: 2} {
		req := authRequest("call-r", osp.RoleSource, nil)
		req.MaximumDestinations = asked
		r, err := c.Authorize(ctx, req)
		if err != nil || !r.Status.OK() || len(r.Destinations) != n {
			t.Fatalf("MaximumDestinations %d: %+v %v, want %d destinations", asked, r, err, n)
		}
		tokens := map[string]bool{}
		for i, d := range r.Destinations {
			if d.DestinationSignalAddress != (osp.Party{Type: osp.PartyTransport, Value: want[i]}) || string(d.CallID) != "call-r" {
				t.Errorf("MaximumDestinations %d, destination %d: %+v", asked, i, d)
			}
			tokens[string(d.Token)] = true
		}
		if len(tokens) != n {
			t.Errorf("MaximumDestinations %d: %d distinct tokens for %d destinations", asked, len(tokens), n)
		}
	}
	req := authRequest("call-r", osp.RoleSource, nil)
	req.DestinationInfo.Value = "2002"
	if r, err := c.Authorize(ctx, req); err != nil || r.Status.Code != osp.StatusNoRoute {
		t.Errorf("unknown called party: %+v %v", r, err)
	}
	for _, called := range []string{
		"sip:someone@127.0.0.5",      // uas by address
		"sip:bob@B.qoslab.test:5060", // a user of sip2's domain
	} {
		req.DestinationInfo.Value = called
		if r, err := c.Authorize(ctx, req); err != nil || !r.Status.OK() || r.Destinations[0].DestinationSignalAddress.Value != want[0] {
			t.Errorf("called party %s: %+v %v", called, r, err)
		}
	}
	req.MaximumDestinations = -1
	if r, err := c.Authorize(ctx, req); err != nil || r.Status.Code != osp.StatusBadRequest {
		t.Errorf("negative MaximumDestinations: %+v %v", r, err)
	}
}

func TestRoutesParamErrors(t *testing.T) {
	for _, v := range []string{"uas", "nobody=sip2", "uas=nobody", "=sip2"} {
		env := nodes.Env{Config: nodes.Config{Name: "ch", Nodes: labNodes(), Params: map[string]string{"routes": v}}}
		if _, err := parseConfig(env); err == nil || !strings.Contains(err.Error(), "routes") {
			t.Errorf("routes=%q: got %v", v, err)
		}
	}
}

// post sends a raw OSP body from pol1 and returns the answer.
func post(t *testing.T, url, body string) *osp.Message {
	t.Helper()
	resp, err := http.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m, err := osp.Unmarshal(b)
	if err != nil {
		t.Fatalf("answer %q: %v", b, err)
	}
	return m
}

// TestToolkitRequests answers what the OSP Toolkit 4.33.1 sent (the
// captured bodies in protocol/osp/testdata), in OSP and in the toolkit's
// spelling: its AuthorizationRequest (newlines after every start tag)
// gets a route and a token whose parties carry no newline, its
// ReauthorizationRequest for a transaction of ours gets a fresh token, one
// for a transaction never issued gets 404, and its CapabilitiesIndication
// a CapabilitiesConfirmation.
func TestToolkitRequests(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer http.DefaultClient.CloseIdleConnections()
	lab := newTestLab(t, nil)
	url, stop := lab.start(t)
	defer stop()
	fixture := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "protocol", "osp", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	m := post(t, url, fixture("toolkit433_authreq.xml"))
	r := m.AuthorizationResponse
	if m.Spelling != osp.SpellingUS || r == nil || !r.Status.OK() || len(r.Destinations) != 1 {
		t.Fatalf("authorisation: %+v", m)
	}
	ti, err := osp.ParseToken(r.Destinations[0].Token)
	if err != nil || ti.SourceInfo.Value != "sip:uac@198.18.1.2" || ti.DestinationInfo.Value != "sip:uas@198.18.4.2" {
		t.Fatalf("token info %+v %v", ti, err)
	}

	// The captured reauthorisation names the toolkit run's transaction:
	// ours has another id.
	reauth := fixture("toolkit433_reauthreq.xml")
	m = post(t, url, reauth)
	if ra := m.ReauthorizationResponse; m.Spelling != osp.SpellingUS || ra == nil || ra.Status.Code != osp.StatusNoRoute {
		t.Fatalf("reauthorisation of a foreign transaction: %+v", m)
	}
	reauth = strings.Replace(reauth, "7002775872055334456", r.TransactionID, 1)
	reauth = strings.Replace(reauth, "YzM=", "YzI=", 1) // the call id of the captured request above
	m = post(t, url, reauth)
	ra := m.ReauthorizationResponse
	if ra == nil || !ra.Status.OK() || ra.TransactionID != r.TransactionID || ra.Destination == nil || len(ra.Destination.Token) == 0 ||
		ra.Destination.DestinationSignalAddress.Value != "[127.0.0.6]:5060" {
		t.Fatalf("reauthorisation: %+v", m)
	}

	m = post(t, url, fixture("toolkit433_capind.xml"))
	if c := m.CapabilitiesConfirmation; c == nil || !c.Status.OK() {
		t.Fatalf("capabilities: %+v", m)
	}
}
