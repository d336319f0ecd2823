package osp

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Path is the HTTP path OSP messages are posted to.
const Path = "/osp"

// DefaultPort is the clearinghouse's TCP port (docs/FLOW.md).
const DefaultPort = 1080

// ContentType is what qoslab sends; the OSP toolkit sends unsigned
// messages as text/plain. Receivers also accept application/xml and
// text/xml.
const ContentType = "text/plain; charset=utf-8"

// Responder answers decoded OSP requests. The clearinghouse implements it;
// every method must return a non-nil answer whose Status says the outcome.
// peer is who sent the request.
type Responder interface {
	Authorize(ctx context.Context, peer Peer, req *AuthorizationRequest) *AuthorizationResponse
	ValidateToken(ctx context.Context, peer Peer, ind *AuthorizationIndication) *AuthorizationConfirmation
	ReportUsage(ctx context.Context, peer Peer, ind *UsageIndication) *UsageConfirmation
	Reauthorize(ctx context.Context, peer Peer, req *ReauthorizationRequest) *ReauthorizationResponse
	IndicateCapabilities(ctx context.Context, peer Peer, ind *CapabilitiesIndication) *CapabilitiesConfirmation
}

// Peer is who sent a request: the remote "address:port" and, over mutual
// TLS, the verified client certificate (nil over plain HTTP).
type Peer struct {
	Addr string
	Cert *x509.Certificate
}

// peerOf returns the request's peer.
func peerOf(r *http.Request) Peer {
	p := Peer{Addr: r.RemoteAddr}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		p.Cert = r.TLS.PeerCertificates[0]
	}
	return p
}

// RefusalObserver is told about a body refused before it reached the
// Responder (malformed, too large, wrong kind), so the node can log it.
type RefusalObserver func(peer Peer, kind Kind, status Status)

// Handler serves OSP over HTTP: POST Path with one message per request,
// one answer per response, keep-alive friendly. Every answer carries a
// Content-Length and is never chunked: the OSP Toolkit's HTTP reader needs
// the length (its error 14220 otherwise). An answer is spelt like its
// request (see Spelling).
type Handler struct {
	svc     Responder
	refused RefusalObserver
	now     func() time.Time
}

// NewHandler wraps svc. onRefused may be nil.
func NewHandler(svc Responder, onRefused RefusalObserver) *Handler {
	return &Handler{svc: svc, refused: onRefused, now: time.Now}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeText(w, http.StatusMethodNotAllowed, "osp: only POST is served")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxMessageSize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.refuse(w, r, body, StatusTooLarge, fmt.Sprintf("body over %d bytes", MaxMessageSize))
			return
		}
		writeText(w, http.StatusBadRequest, "osp: read body: "+err.Error())
		return
	}
	m, err := Unmarshal(body)
	if err != nil {
		h.refuse(w, r, body, StatusBadRequest, err.Error())
		return
	}
	ctx, peer := r.Context(), peerOf(r)
	answer := &Message{MessageID: m.MessageID, Random: newRandom(), Spelling: m.Spelling}
	switch m.Kind() {
	case KindAuthorizationRequest:
		answer.AuthorizationResponse = h.svc.Authorize(ctx, peer, m.AuthorizationRequest)
	case KindAuthorizationIndication:
		answer.AuthorizationConfirmation = h.svc.ValidateToken(ctx, peer, m.AuthorizationIndication)
	case KindUsageIndication:
		answer.UsageConfirmation = h.svc.ReportUsage(ctx, peer, m.UsageIndication)
	case KindReauthorizationRequest:
		answer.ReauthorizationResponse = h.svc.Reauthorize(ctx, peer, m.ReauthorizationRequest)
	case KindCapabilitiesIndication:
		answer.CapabilitiesConfirmation = h.svc.IndicateCapabilities(ctx, peer, m.CapabilitiesIndication)
	default:
		h.refuse(w, r, nil, StatusUnsupported, m.Kind().String()+" is an answer, not a request")
		return
	}
	h.write(w, answer)
}

// refuse answers a body that never reached the Responder. When the request's
// kind can be told from the body, the answer is that kind's answer with
// the status, spelt like the request; otherwise a plain HTTP error carries
// the same code and text.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, body []byte, code StatusCode, why string) {
	st := Status{Code: code, Description: why}
	kind := SniffKind(body)
	if h.refused != nil {
		h.refused(peerOf(r), kind, st)
	}
	now := At(h.now())
	answer := &Message{Random: newRandom()}
	if bytes.Contains(body, []byte("uthorization")) {
		answer.Spelling = SpellingUS
	}
	switch kind {
	case KindAuthorizationRequest:
		answer.AuthorizationResponse = &AuthorizationResponse{Timestamp: now, Status: st}
	case KindAuthorizationIndication:
		answer.AuthorizationConfirmation = &AuthorizationConfirmation{Timestamp: now, Status: st}
	case KindUsageIndication:
		answer.UsageConfirmation = &UsageConfirmation{Timestamp: now, Status: st}
	case KindReauthorizationRequest:
		answer.ReauthorizationResponse = &ReauthorizationResponse{Timestamp: now, Status: st}
	case KindCapabilitiesIndication:
		answer.CapabilitiesConfirmation = &CapabilitiesConfirmation{Timestamp: now, Status: st}
	default:
		writeText(w, httpStatus(code), fmt.Sprintf("osp: %s: %s", code, why))
		return
	}
	h.write(w, answer)
}

func (h *Handler) write(w http.ResponseWriter, m *Message) {
	b, err := Marshal(m)
	if err != nil {
		writeText(w, http.StatusInternalServerError, "osp: "+err.Error())
		return
	}
	writeBody(w, http.StatusOK, ContentType, b)
}

// writeText answers with a plain-text HTTP error, with its length.
func writeText(w http.ResponseWriter, code int, text string) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	writeBody(w, code, "text/plain; charset=utf-8", []byte(text+"\n"))
}

// writeBody sets Content-Length before the header goes out, so net/http
// never falls back to chunked encoding for a body larger than its buffer.
func writeBody(w http.ResponseWriter, code int, contentType string, b []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func httpStatus(c StatusCode) int {
	if c >= 400 && c < 600 {
		return int(c)
	}
	return http.StatusBadRequest
}

// SniffKind guesses the component kind of a body that may not parse, from
// the first component name it contains (either spelling). It never fails;
// KindUnknown means no guess.
func SniffKind(body []byte) Kind {
	best, kind := -1, KindUnknown
	for k := KindAuthorizationRequest; k <= KindCapabilitiesConfirmation; k++ {
		for _, sp := range []Spelling{SpellingETSI, SpellingUS} {
			if i := bytes.Index(body, []byte("<"+k.wireName(sp))); i >= 0 && (best < 0 || i < best) {
				best, kind = i, k
			}
		}
	}
	return kind
}
