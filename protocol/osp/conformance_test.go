package osp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
)

// The testdata/toolkit433_*.xml bodies are what the TransNexus OSP Toolkit
// 4.33.1 (the peer in ../shared/peers) put on the wire when the e2e
// interop harness drove it against a qoslab clearinghouse: captured, not
// written by hand. The toolkit puts a newline after every start tag,
// writes Amount and PostDialDelay in decimal seconds and ReleaseSource as
// a word, and spells its requests "Authorization...".

func readFixture(t *testing.T, name string) *Message {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Unmarshal(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// TestToolkit433Bodies: tolerant in what we receive. Element text is
// trimmed (no "\n1001" in records or tokens), decimal seconds and word
// release sources decode (ETSI TS 101 321 UsageDetail: Amount with Unit
// "s", PostDialDelay, ReleaseSource), and the spelling is remembered for
// the answer.
func TestToolkit433Bodies(t *testing.T) {
	m := readFixture(t, "toolkit433_authreq.xml")
	r := m.AuthorizationRequest
	if m.Spelling != SpellingUS || r == nil || r.SourceInfo != (Party{PartySIP, "sip:uac@198.18.1.2"}) ||
		r.DestinationInfo.Value != "sip:uas@198.18.4.2" || string(r.CallID) != "c2" || r.MaximumDestinations != 3 ||
		!r.Timestamp.Equal(time.Date(2026, 12, 4, 3, 40, 10, 0, time.UTC)) {
		t.Errorf("authorization request: %+v (spelling %d)", r, m.Spelling)
	}

	u := readFixture(t, "toolkit433_usageind_source.xml").UsageIndication
	if u.Role != RoleSource || u.TransactionID != "3503663558332603978" || u.SourceInfo.Value != "sip:uac@198.18.1.2" ||
		u.UsageDetail.Amount != Seconds(5250*time.Millisecond) || u.UsageDetail.Unit != "s" ||
		u.UsageDetail.PostDialDelay != Seconds(1500*time.Millisecond) || u.UsageDetail.ReleaseSource != ReleaseDestination ||
		!u.UsageDetail.ConnectTime.Equal(time.Date(2026, 12, 4, 3, 40, 5, 0, time.UTC)) {
		t.Errorf("source usage: %+v", u)
	}
	u = readFixture(t, "toolkit433_usageind_destination.xml").UsageIndication
	if u.Role != RoleDestination || u.UsageDetail.Amount != Seconds(5100*time.Millisecond) || u.UsageDetail.PostDialDelay != 0 {
		t.Errorf("destination usage: %+v", u)
	}

	c := readFixture(t, "toolkit433_capind.xml").CapabilitiesIndication
	if c == nil || c.AlmostOut() || c.SourceAlternate == nil || c.SourceAlternate.Value != "[127.0.0.1]" {
		t.Errorf("capabilities indication: %+v", c)
	}

	m = readFixture(t, "toolkit433_reauthreq.xml")
	ra := m.ReauthorizationRequest
	if m.Spelling != SpellingUS || ra == nil || ra.TransactionID != "7002775872055334456" || ra.Role != RoleSource ||
		ra.UsageDetail == nil || ra.UsageDetail.Amount != Seconds(time.Millisecond) || string(ra.CallID) != "c3" {
		t.Errorf("reauthorization request: %+v", ra)
	}
}

// TestExtensionsNotCritical: strict in what we send. Every qoslab
// extension element carries critical="False" (ETSI TS 101 321: an element
// is critical unless it says otherwise; the toolkit refuses a message with
// an unknown critical element, its error 13308), and the elements the
// standard defines do not.
func TestExtensionsNotCritical(t *testing.T) {
	ext := map[string]bool{"ServiceClass": true, "Bandwidth": true, "MarkedTraffic": true}
	for name, m := range sampleMessages() {
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if name == "AuthorizationRequest" {
			// Role and Token are qoslab's only in a request.
			for _, e := range []string{"Role", "Token"} {
				if !bytes.Contains(b, []byte("<"+e+` critical="False"`)) {
					t.Errorf("%s: %s not marked critical=\"False\": %s", name, e, b)
				}
			}
		}
		d := xml.NewDecoder(bytes.NewReader(b))
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			se, ok := tok.(xml.StartElement)
			if !ok {
				continue
			}
			critical := false
			for _, a := range se.Attr {
				critical = critical || (a.Name.Local == "critical" && a.Value == "False")
			}
			switch {
			case ext[se.Name.Local] && !critical:
				t.Errorf("%s: extension %s not marked critical=\"False\"", name, se.Name.Local)
			case critical && !ext[se.Name.Local] && !(name == "AuthorizationRequest" && (se.Name.Local == "Role" || se.Name.Local == "Token")):
				t.Errorf("%s: standard element %s marked non-critical", name, se.Name.Local)
			}
		}
	}
}

// TestTokenContent: the signed content starts with an XML declaration (the
// toolkit takes content without "<?xml" for its ASCII token format, error
// 13621), carries its extensions as non-critical, and holds no newline: a
// party given as "\n1001" is signed as "1001".
func TestTokenContent(t *testing.T) {
	lab := newLabPKI(t)
	ti := sampleTokenInfo(time.Now())
	m, err := Unmarshal([]byte(`<Message><AuthorizationRequest><SourceInfo type="sip">
sip:uac@198.18.1.2</SourceInfo></AuthorizationRequest></Message>`))
	if err != nil {
		t.Fatal(err)
	}
	ti.SourceInfo = m.AuthorizationRequest.SourceInfo
	tok, err := lab.signer.Sign(ti)
	if err != nil {
		t.Fatal(err)
	}
	p7, err := pkcs7.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(p7.Content, []byte("<?xml")) {
		t.Errorf("token content does not start with an XML declaration: %q", p7.Content)
	}
	if bytes.ContainsAny(p7.Content, "\r\n") {
		t.Errorf("token content holds a line break: %q", p7.Content)
	}
	if !bytes.Contains(p7.Content, []byte(`<ServiceClass critical="False">EF</ServiceClass>`)) {
		t.Errorf("token content: %q", p7.Content)
	}
	parsed, err := ParseToken(tok)
	if err != nil || parsed.SourceInfo.Value != "sip:uac@198.18.1.2" {
		t.Fatalf("parsed %+v %v", parsed, err)
	}
}

func TestSeconds(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"5": 5 * time.Second, "5.000": 5 * time.Second, "\n5.250": 5250 * time.Millisecond, "0.001": time.Millisecond,
		"14400": 4 * time.Hour, ".5": 500 * time.Millisecond, "5.": 5 * time.Second, "+2": 2 * time.Second,
		"-1.5": -1500 * time.Millisecond, "1.0004": time.Second, "1.0005": 1001 * time.Millisecond,
	} {
		got, err := ParseSeconds(in)
		if err != nil || got.Duration() != want {
			t.Errorf("ParseSeconds(%q) = %v, %v; want %v", in, got.Duration(), err, want)
		}
	}
	for _, in := range []string{"", ".", "-", "5s", "1e3", "0x10", "NaN", "five", "1.2.3", "99999999999999999999"} {
		if _, err := ParseSeconds(in); err == nil {
			t.Errorf("ParseSeconds(%q) accepted", in)
		}
	}
	for d, want := range map[time.Duration]string{
		0: "0", 5 * time.Second: "5", 5250 * time.Millisecond: "5.25", time.Millisecond: "0.001",
		1999 * time.Microsecond: "0.002", -1500 * time.Millisecond: "-1.5",
	} {
		if got := Seconds(d).String(); got != want {
			t.Errorf("Seconds(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestReleaseSource(t *testing.T) {
	for in, want := range map[string]ReleaseSource{
		"source": ReleaseSourceParty, "\nDestination": ReleaseDestination, "internal": ReleaseInternal,
		"external": ReleaseExternal, "unknown": ReleaseUnknown, "1": ReleaseSourceParty, "2": ReleaseDestination,
	} {
		if got, err := ParseReleaseSource(in); err != nil || got != want {
			t.Errorf("ParseReleaseSource(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "caller", "3"} {
		if _, err := ParseReleaseSource(in); err == nil {
			t.Errorf("ParseReleaseSource(%q) accepted", in)
		}
	}
	b, err := Marshal(&Message{UsageIndication: &UsageIndication{Role: RoleSource, TransactionID: "1",
		UsageDetail: UsageDetail{ReleaseSource: ReleaseDestination}}})
	if err != nil || !bytes.Contains(b, []byte("<ReleaseSource>destination</ReleaseSource>")) {
		t.Errorf("release source on the wire: %s %v", b, err)
	}
}

// TestHandlerContentLength: every answer carries Content-Length and is
// never chunked, however large (the toolkit's HTTP reader needs the
// length: error 14220). Read from the raw socket, not through net/http's
// client, which would hide the framing.
func TestHandlerContentLength(t *testing.T) {
	big := &echoResponder{}
	srv := httptest.NewServer(NewHandler(bigAnswers{big}, nil))
	defer srv.Close()
	for _, body := range []string{
		`<Message><AuthorizationRequest><CallId>x</CallId></AuthorizationRequest></Message>`,           // answered by the responder
		`<Message><AuthorizationRequest><Timestamp>never</Timestamp></AuthorizationRequest></Message>`, // refused: 400 in OSP
		`garbage`, // refused: plain HTTP 400
	} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+Path, strings.NewReader(body))
		if err := req.Write(conn); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		conn.Close()
		if len(resp.TransferEncoding) != 0 || resp.ContentLength != int64(len(got)) || resp.Header.Get("Content-Length") == "" {
			t.Errorf("%.30s: framing %v, Content-Length %q, body %d bytes", body, resp.TransferEncoding,
				resp.Header.Get("Content-Length"), len(got))
		}
	}
}

// bigAnswers makes every authorisation answer larger than net/http's
// buffer, where it would switch to chunked encoding by itself.
type bigAnswers struct{ *echoResponder }

func (b bigAnswers) Authorize(ctx context.Context, p Peer, req *AuthorizationRequest) *AuthorizationResponse {
	r := b.echoResponder.Authorize(ctx, p, req)
	r.Destinations[0].Token = bytes.Repeat([]byte{0x30}, 16<<10)
	return r
}

// TestHandlerAnswersInRequestSpelling: the toolkit reads
// "AuthorizationConfirmation" and "ReauthorizationResponse" only in that
// spelling, so an answer is spelt like its request; an ETSI request gets
// an ETSI answer.
func TestHandlerAnswersInRequestSpelling(t *testing.T) {
	srv := httptest.NewServer(NewHandler(&echoResponder{}, nil))
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()
	for req, want := range map[string]string{
		`<Message><AuthorizationRequest/></Message>`:    "<AuthorizationResponse",
		`<Message><AuthorisationRequest/></Message>`:    "<AuthorisationResponse",
		`<Message><AuthorizationIndication/></Message>`: "<AuthorizationConfirmation",
		`<Message><AuthorisationIndication/></Message>`: "<AuthorisationConfirmation",
		`<Message><ReauthorizationRequest/></Message>`:  "<ReauthorizationResponse",
		`<Message><ReauthorisationRequest/></Message>`:  "<ReauthorisationResponse",
		`<Message><CapabilitiesIndication/></Message>`:  "<CapabilitiesConfirmation",
		`<Message><AuthorizationRequest><Timestamp>x`:   "<AuthorizationResponse", // refused, same spelling
		`<Message><ReauthorizationRequest><Amount>x`:    "<ReauthorizationResponse",
		`<Message><CapabilitiesIndication><Resources>x`: "<CapabilitiesConfirmation",
	} {
		resp, err := http.Post(srv.URL+Path, "text/plain", strings.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("%s: answer %s, want %s", req, b, want)
		}
		if _, err := Unmarshal(b); err != nil {
			t.Errorf("%s: answer does not decode: %v", req, err)
		}
	}
}

func TestSplitParty(t *testing.T) {
	for in, want := range map[string][2]string{
		"sip:alice@198.18.4.2":              {"alice", "198.18.4.2"},
		"sip:alice@b.qoslab.test:5060;lr":   {"alice", "b.qoslab.test"},
		"\"A\" <sips:bob@[::1]:5061>;tag=1": {"bob", "::1"},
		"tel:+15551234;phone-context=x":     {"+15551234", ""},
		"\n4045551212":                      {"4045551212", ""},
		"uas":                               {"uas", ""},
	} {
		if u, h := SplitParty(in); u != want[0] || h != want[1] {
			t.Errorf("SplitParty(%q) = %q, %q; want %q", in, u, h, want)
		}
	}
}
