package osp

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// echoResponder answers every request with success and counts calls.
type echoResponder struct {
	calls atomic.Int64
	peers chan string
}

func (e *echoResponder) Authorize(_ context.Context, peer Peer, req *AuthorizationRequest) *AuthorizationResponse {
	e.calls.Add(1)
	if e.peers != nil {
		e.peers <- peer.Addr
	}
	return &AuthorizationResponse{ComponentID: req.ComponentID, Timestamp: At(time.Now()), Status: Status{StatusOK, "ok"},
		TransactionID: "77", Destinations: []Destination{{DestinationInfo: req.DestinationInfo, CallID: req.CallID, Token: Base64("t")}}}
}

func (e *echoResponder) ValidateToken(_ context.Context, _ Peer, ind *AuthorizationIndication) *AuthorizationConfirmation {
	e.calls.Add(1)
	return &AuthorizationConfirmation{Timestamp: At(time.Now()), Status: Status{StatusUnauthorized, "nope"}}
}

func (e *echoResponder) ReportUsage(_ context.Context, _ Peer, ind *UsageIndication) *UsageConfirmation {
	e.calls.Add(1)
	return &UsageConfirmation{Timestamp: At(time.Now()), Status: Status{StatusOK, "recorded " + ind.TransactionID}}
}

func (e *echoResponder) Reauthorize(_ context.Context, _ Peer, req *ReauthorizationRequest) *ReauthorizationResponse {
	e.calls.Add(1)
	return &ReauthorizationResponse{Timestamp: At(time.Now()), Status: Status{StatusOK, "ok"}, TransactionID: req.TransactionID}
}

func (e *echoResponder) IndicateCapabilities(_ context.Context, _ Peer, _ *CapabilitiesIndication) *CapabilitiesConfirmation {
	e.calls.Add(1)
	return &CapabilitiesConfirmation{Timestamp: At(time.Now()), Status: Status{StatusOK, "noted"}}
}

func TestClientServerExchange(t *testing.T) {
	defer goleak.VerifyNone(t)
	resp := &echoResponder{peers: make(chan string, 10)}
	srv := httptest.NewServer(NewHandler(resp, nil))
	defer srv.Close()
	c := NewClient(srv.URL)
	defer c.Close()
	if !strings.HasSuffix(c.URL(), Path) {
		t.Fatalf("url %s lacks %s", c.URL(), Path)
	}
	ctx := context.Background()
	ar, err := c.Authorize(ctx, &AuthorizationRequest{CallID: Base64("call-1"), SourceInfo: Party{PartySIP, "a"}, DestinationInfo: Party{PartySIP, "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if !ar.Status.OK() || ar.TransactionID != "77" || string(ar.Destinations[0].CallID) != "call-1" {
		t.Fatalf("response %+v", ar)
	}
	first := <-resp.peers
	if _, err := c.Authorize(ctx, &AuthorizationRequest{CallID: Base64("call-2")}); err != nil {
		t.Fatal(err)
	}
	if second := <-resp.peers; second != first {
		t.Errorf("keep-alive not reused: first request from %s, second from %s", first, second)
	}
	uc, err := c.ReportUsage(ctx, &UsageIndication{Role: RoleSource, TransactionID: "77"})
	if err != nil || uc.Status.Description != "recorded 77" {
		t.Fatalf("usage: %+v %v", uc, err)
	}
	cf, err := c.ValidateToken(ctx, &AuthorizationIndication{Token: Base64("x")})
	if err != nil || cf.Status.Code != StatusUnauthorized {
		t.Fatalf("validate: %+v %v", cf, err)
	}
}

func TestClientUnreachable(t *testing.T) {
	defer goleak.VerifyNone(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := NewClient("http://"+addr, WithUsageRetries(1))
	defer c.Close()
	_, err = c.Authorize(context.Background(), &AuthorizationRequest{})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
	_, err = c.ReportUsage(context.Background(), &UsageIndication{})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("usage: got %v, want ErrUnreachable", err)
	}
}

func TestClientTimeout(t *testing.T) {
	defer goleak.VerifyNone(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	c := NewClient(srv.URL, WithTimeout(50*time.Millisecond), WithUsageRetries(0))
	defer c.Close()
	_, err := c.Authorize(context.Background(), &AuthorizationRequest{})
	if !errors.Is(err, ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrUnreachable wrapping a deadline", err)
	}
}

func TestClientGarbageAnswers(t *testing.T) {
	defer goleak.VerifyNone(t)
	cases := map[string]http.HandlerFunc{
		"http error": func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) },
		"html": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html/>"))
		},
		"not xml": func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) },
		"wrong kind": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`<Message><UsageConfirmation><Status><Code>200</Code></Status></UsageConfirmation></Message>`))
		},
	}
	for name, h := range cases {
		srv := httptest.NewServer(h)
		c := NewClient(srv.URL)
		_, err := c.Authorize(context.Background(), &AuthorizationRequest{})
		if !errors.Is(err, ErrBadAnswer) {
			t.Errorf("%s: got %v, want ErrBadAnswer", name, err)
		}
		c.Close()
		srv.Close()
	}
}

func TestHandlerRefusals(t *testing.T) {
	defer goleak.VerifyNone(t)
	var refused []Status
	resp := &echoResponder{}
	srv := httptest.NewServer(NewHandler(resp, func(peer Peer, k Kind, st Status) { refused = append(refused, st) }))
	defer srv.Close()
	post := func(body string) (*http.Response, string) {
		r, err := http.Post(srv.URL+Path, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var sb strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := r.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return r, sb.String()
	}
	// A malformed AuthorizationRequest gets an AuthorisationResponse with 400.
	r, body := post(`<Message><AuthorisationRequest><Timestamp>never</Timestamp></AuthorisationRequest></Message>`)
	m, err := Unmarshal([]byte(body))
	if r.StatusCode != 200 || err != nil || m.AuthorizationResponse == nil || m.AuthorizationResponse.Status.Code != StatusBadRequest {
		t.Fatalf("malformed request answer: %d %q %v", r.StatusCode, body, err)
	}
	// A DTD inside a usage indication: UsageConfirmation 400.
	_, body = post(`<!DOCTYPE x><Message><UsageIndication/></Message>`)
	if m, err := Unmarshal([]byte(body)); err != nil || m.UsageConfirmation == nil || m.UsageConfirmation.Status.Code != StatusBadRequest {
		t.Fatalf("dtd answer: %q %v", body, err)
	}
	// Unidentifiable garbage: plain HTTP 400.
	if r, _ := post("garbage"); r.StatusCode != 400 {
		t.Fatalf("garbage: HTTP %d", r.StatusCode)
	}
	// Too large: 413 in an OSP answer.
	_, body = post(`<Message><UsageIndication>` + strings.Repeat(" ", MaxMessageSize) + `</UsageIndication></Message>`)
	if m, err := Unmarshal([]byte(body)); err != nil || m.UsageConfirmation.Status.Code != StatusTooLarge {
		t.Fatalf("large: %q %v", body, err)
	}
	// An answer posted as a request: 415.
	_, body = post(`<Message><UsageConfirmation><Status><Code>200</Code></Status></UsageConfirmation></Message>`)
	if !strings.Contains(body, "415") {
		t.Fatalf("answer as request: %q", body)
	}
	// GET is refused.
	g, err := http.Get(srv.URL + Path)
	if err != nil {
		t.Fatal(err)
	}
	g.Body.Close()
	if g.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", g.StatusCode)
	}
	if resp.calls.Load() != 0 {
		t.Errorf("refused bodies reached the responder %d times", resp.calls.Load())
	}
	if len(refused) != 5 {
		t.Errorf("observer saw %d refusals, want 5: %v", len(refused), refused)
	}
	http.DefaultClient.CloseIdleConnections()
}
