package osp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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
// peer is the remote "address:port".
type Responder interface {
	Authorize(ctx context.Context, peer string, req *AuthorizationRequest) *AuthorizationResponse
	ValidateToken(ctx context.Context, peer string, ind *AuthorizationIndication) *AuthorizationConfirmation
	ReportUsage(ctx context.Context, peer string, ind *UsageIndication) *UsageConfirmation
}

// RefusalObserver is told about a body refused before it reached the
// Responder (malformed, too large, wrong kind), so the node can log it.
type RefusalObserver func(peer string, kind Kind, status Status)

// Handler serves OSP over HTTP: POST Path with one message per request,
// one answer per response, keep-alive friendly.
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
		http.Error(w, "osp: only POST is served", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxMessageSize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.refuse(w, r, body, StatusTooLarge, fmt.Sprintf("body over %d bytes", MaxMessageSize))
			return
		}
		http.Error(w, "osp: read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	m, err := Unmarshal(body)
	if err != nil {
		h.refuse(w, r, body, StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	answer := &Message{MessageID: m.MessageID, Random: newRandom()}
	switch m.Kind() {
	case KindAuthorizationRequest:
		answer.AuthorizationResponse = h.svc.Authorize(ctx, r.RemoteAddr, m.AuthorizationRequest)
	case KindAuthorizationIndication:
		answer.AuthorizationConfirmation = h.svc.ValidateToken(ctx, r.RemoteAddr, m.AuthorizationIndication)
	case KindUsageIndication:
		answer.UsageConfirmation = h.svc.ReportUsage(ctx, r.RemoteAddr, m.UsageIndication)
	default:
		h.refuse(w, r, nil, StatusUnsupported, m.Kind().String()+" is an answer, not a request")
		return
	}
	h.write(w, answer)
}

// refuse answers a body that never reached the Responder. When the request's
// kind can be told from the body, the answer is that kind's response with
// the status; otherwise a plain HTTP error carries the same code and text.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, body []byte, code StatusCode, why string) {
	st := Status{Code: code, Description: why}
	kind := SniffKind(body)
	if h.refused != nil {
		h.refused(r.RemoteAddr, kind, st)
	}
	now := At(h.now())
	answer := &Message{Random: newRandom()}
	switch kind {
	case KindAuthorizationRequest:
		answer.AuthorizationResponse = &AuthorizationResponse{Timestamp: now, Status: st}
	case KindAuthorizationIndication:
		answer.AuthorizationConfirmation = &AuthorizationConfirmation{Timestamp: now, Status: st}
	case KindUsageIndication:
		answer.UsageConfirmation = &UsageConfirmation{Timestamp: now, Status: st}
	default:
		http.Error(w, fmt.Sprintf("osp: %s: %s", code, why), httpStatus(code))
		return
	}
	h.write(w, answer)
}

func (h *Handler) write(w http.ResponseWriter, m *Message) {
	b, err := Marshal(m)
	if err != nil {
		http.Error(w, "osp: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	_, _ = w.Write(b)
}

func httpStatus(c StatusCode) int {
	if c >= 400 && c < 600 {
		return int(c)
	}
	return http.StatusBadRequest
}

// SniffKind guesses the component kind of a body that may not parse, from
// the first component name it contains. It never fails; KindUnknown means
// no guess.
func SniffKind(body []byte) Kind {
	best, kind := -1, KindUnknown
	for k, names := range map[Kind][]string{
		KindAuthorizationRequest:      {"<AuthorisationRequest", "<AuthorizationRequest"},
		KindAuthorizationResponse:     {"<AuthorisationResponse", "<AuthorizationResponse"},
		KindAuthorizationIndication:   {"<AuthorisationIndication", "<AuthorizationIndication"},
		KindAuthorizationConfirmation: {"<AuthorisationConfirmation", "<AuthorizationConfirmation"},
		KindUsageIndication:           {"<UsageIndication"},
		KindUsageConfirmation:         {"<UsageConfirmation"},
	} {
		for _, n := range names {
			if i := bytes.Index(body, []byte(n)); i >= 0 && (best < 0 || i < best) {
				best, kind = i, k
			}
		}
	}
	return kind
}
