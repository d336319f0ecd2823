package osp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// ErrUnreachable is wrapped by client errors where no answer came back:
// connection refused, timeout, reset.
var ErrUnreachable = errors.New("osp: clearinghouse unreachable")

// ErrBadAnswer is wrapped by client errors where something came back that
// is not a valid OSP answer to the request: HTTP error, wrong content
// type, malformed XML, wrong component kind.
var ErrBadAnswer = errors.New("osp: bad answer from clearinghouse")

// DefaultTimeout bounds one request/answer exchange.
const DefaultTimeout = 2 * time.Second

// Client posts OSP requests to one clearinghouse over HTTP/1.1 with
// keep-alive. It is safe for concurrent use.
type Client struct {
	url     string
	hc      *http.Client
	tr      *http.Transport
	timeout time.Duration
	retries int
	ids     atomic.Uint64
	now     func() time.Time
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithTimeout bounds each exchange (default DefaultTimeout). The caller's
// context may bound it further.
func WithTimeout(d time.Duration) ClientOption { return func(c *Client) { c.timeout = d } }

// WithTLS makes the client speak HTTPS with cfg (mutual TLS when cfg has a
// client certificate). ClientTLSConfig builds one from the lab PKI.
func WithTLS(cfg *tls.Config) ClientOption {
	return func(c *Client) { c.tr.TLSClientConfig = cfg }
}

// WithLocalAddr makes the client connect from addr (a policy server
// binds to its own address; the clearinghouse knows its peers by it).
func WithLocalAddr(addr netip.Addr) ClientOption {
	return func(c *Client) {
		d := &net.Dialer{Timeout: DefaultTimeout, KeepAlive: 30 * time.Second,
			LocalAddr: &net.TCPAddr{IP: addr.AsSlice()}}
		c.tr.DialContext = d.DialContext
	}
}

// WithUsageRetries sets how many times ReportUsage re-sends an indication
// that got no answer (default 2). Re-sending is safe: the clearinghouse
// counts each (transaction id, role) once.
func WithUsageRetries(n int) ClientOption { return func(c *Client) { c.retries = n } }

// ServerURL returns the OSP URL of a clearinghouse at host:port
// ("http://198.18.8.2:1080/osp"); with tls the scheme is https.
func ServerURL(host string, port int, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + Path
}

// NewClient returns a client for the clearinghouse at baseURL. A baseURL
// without a path gets Path ("/osp") appended.
func NewClient(baseURL string, opts ...ClientOption) *Client {
	if u, err := url.Parse(baseURL); err == nil && (u.Path == "" || u.Path == "/") {
		u.Path = Path
		baseURL = u.String()
	}
	tr := &http.Transport{
		Proxy:               nil, // lab traffic never goes through a proxy
		DialContext:         (&net.Dialer{Timeout: DefaultTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        16,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false, // OSP is HTTP/1.1
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	c := &Client{url: baseURL, tr: tr, timeout: DefaultTimeout, retries: 2, now: time.Now}
	for _, o := range opts {
		o(c)
	}
	c.hc = &http.Client{Transport: tr}
	return c
}

// URL returns the URL the client posts to.
func (c *Client) URL() string { return c.url }

// Close drops the client's idle connections.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// Authorize sends an AuthorizationRequest and returns the response. A
// refusal by the clearinghouse is a response with a non-2xx Status, not an
// error; errors wrap ErrUnreachable or ErrBadAnswer.
func (c *Client) Authorize(ctx context.Context, req *AuthorizationRequest) (*AuthorizationResponse, error) {
	if req.Timestamp.IsZero() {
		req.Timestamp = At(c.now())
	}
	if req.ComponentID == "" {
		req.ComponentID = c.nextID()
	}
	m, err := c.exchange(ctx, &Message{AuthorizationRequest: req}, KindAuthorizationResponse)
	if err != nil {
		return nil, err
	}
	return m.AuthorizationResponse, nil
}

// ValidateToken sends an AuthorizationIndication (online token validation).
func (c *Client) ValidateToken(ctx context.Context, ind *AuthorizationIndication) (*AuthorizationConfirmation, error) {
	if ind.Timestamp.IsZero() {
		ind.Timestamp = At(c.now())
	}
	if ind.ComponentID == "" {
		ind.ComponentID = c.nextID()
	}
	m, err := c.exchange(ctx, &Message{AuthorizationIndication: ind}, KindAuthorizationConfirmation)
	if err != nil {
		return nil, err
	}
	return m.AuthorizationConfirmation, nil
}

// ReportUsage sends a UsageIndication and returns the confirmation. It
// re-sends (see WithUsageRetries) when no answer came back.
func (c *Client) ReportUsage(ctx context.Context, ind *UsageIndication) (*UsageConfirmation, error) {
	if ind.Timestamp.IsZero() {
		ind.Timestamp = At(c.now())
	}
	if ind.ComponentID == "" {
		ind.ComponentID = c.nextID()
	}
	msg := &Message{UsageIndication: ind}
	var lastErr error
	for attempt := 0; attempt <= c.retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("osp: report usage: %w (after %v)", ctx.Err(), lastErr)
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			}
		}
		m, err := c.exchange(ctx, msg, KindUsageConfirmation)
		if err == nil {
			return m.UsageConfirmation, nil
		}
		lastErr = err
		if !errors.Is(err, ErrUnreachable) || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func (c *Client) nextID() string { return strconv.FormatUint(c.ids.Add(1), 10) }

// exchange posts one message and decodes the answer, which must be of kind
// want.
func (c *Client) exchange(ctx context.Context, m *Message, want Kind) (*Message, error) {
	what := m.Kind()
	if m.MessageID == "" {
		m.MessageID = c.nextID()
	}
	m.Random = newRandom()
	body, err := Marshal(m)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("osp: %s to %s: %w", what, c.url, err)
	}
	hreq.Header.Set("Content-Type", ContentType)
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("osp: %s to %s: %w: %w", what, c.url, ErrUnreachable, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, MaxMessageSize+1))
	if err != nil {
		return nil, fmt.Errorf("osp: %s to %s: reading answer: %w: %w", what, c.url, ErrUnreachable, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("osp: %s to %s: %w: HTTP %s: %s", what, c.url, ErrBadAnswer, resp.Status, snippet(rb))
	}
	if ct := resp.Header.Get("Content-Type"); !acceptedContentType(ct) {
		return nil, fmt.Errorf("osp: %s to %s: %w: content type %q", what, c.url, ErrBadAnswer, ct)
	}
	answer, err := Unmarshal(rb)
	if err != nil {
		return nil, fmt.Errorf("osp: %s to %s: %w: %w", what, c.url, ErrBadAnswer, err)
	}
	if answer.Kind() != want {
		return nil, fmt.Errorf("osp: %s to %s: %w: got %s, want %s", what, c.url, ErrBadAnswer, answer.Kind(), want)
	}
	return answer, nil
}

func acceptedContentType(ct string) bool {
	if ct == "" {
		return true // the toolkit sometimes omits it; the body decides
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch mt {
	case "text/plain", "application/xml", "text/xml":
		return true
	}
	return false
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strconv.Quote(s)
}
