package osp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

// MaxMessageSize bounds an OSP body, in bytes. Real messages are a few
// kilobytes; anything much larger is refused before parsing.
const MaxMessageSize = 64 << 10

// Kind names the component a Message carries.
type Kind int

// Component kinds.
const (
	KindUnknown Kind = iota
	KindAuthorizationRequest
	KindAuthorizationResponse
	KindAuthorizationIndication
	KindAuthorizationConfirmation
	KindUsageIndication
	KindUsageConfirmation
)

var kindNames = [...]string{
	KindUnknown:                   "Unknown",
	KindAuthorizationRequest:      "AuthorizationRequest",
	KindAuthorizationResponse:     "AuthorizationResponse",
	KindAuthorizationIndication:   "AuthorizationIndication",
	KindAuthorizationConfirmation: "AuthorizationConfirmation",
	KindUsageIndication:           "UsageIndication",
	KindUsageConfirmation:         "UsageConfirmation",
}

// String returns the component name in docs/FLOW.md's (American) spelling, the
// one nodes log.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Message is one OSP message: the root element's attributes and exactly one
// component (the others nil).
type Message struct {
	MessageID string // messageId attribute
	Random    string // random attribute

	AuthorizationRequest      *AuthorizationRequest
	AuthorizationResponse     *AuthorizationResponse
	AuthorizationIndication   *AuthorizationIndication
	AuthorizationConfirmation *AuthorizationConfirmation
	UsageIndication           *UsageIndication
	UsageConfirmation         *UsageConfirmation
}

// Kind returns which component m carries (KindUnknown if none).
func (m *Message) Kind() Kind {
	switch {
	case m.AuthorizationRequest != nil:
		return KindAuthorizationRequest
	case m.AuthorizationResponse != nil:
		return KindAuthorizationResponse
	case m.AuthorizationIndication != nil:
		return KindAuthorizationIndication
	case m.AuthorizationConfirmation != nil:
		return KindAuthorizationConfirmation
	case m.UsageIndication != nil:
		return KindUsageIndication
	case m.UsageConfirmation != nil:
		return KindUsageConfirmation
	}
	return KindUnknown
}

func (m *Message) components() int {
	n := 0
	for _, present := range []bool{
		m.AuthorizationRequest != nil, m.AuthorizationResponse != nil,
		m.AuthorizationIndication != nil, m.AuthorizationConfirmation != nil,
		m.UsageIndication != nil, m.UsageConfirmation != nil,
	} {
		if present {
			n++
		}
	}
	return n
}

// CallID returns the SIP Call-ID the message is about ("" if it carries
// none): nodes log it with every message.
func (m *Message) CallID() string {
	switch {
	case m.AuthorizationRequest != nil:
		return string(m.AuthorizationRequest.CallID)
	case m.AuthorizationResponse != nil:
		for _, d := range m.AuthorizationResponse.Destinations {
			if len(d.CallID) > 0 {
				return string(d.CallID)
			}
		}
	case m.AuthorizationIndication != nil:
		return string(m.AuthorizationIndication.CallID)
	case m.UsageIndication != nil:
		return string(m.UsageIndication.CallID)
	}
	return ""
}

// wireMessage is the XML shape of a Message. The authorisation components
// appear twice, once per spelling; encoding fills only the ETSI
// ("Authorisation") fields.
type wireMessage struct {
	XMLName   xml.Name `xml:"Message"`
	MessageID string   `xml:"messageId,attr,omitempty"`
	Random    string   `xml:"random,attr,omitempty"`

	AuthReqS *AuthorizationRequest      `xml:"AuthorisationRequest"`
	AuthReqZ *AuthorizationRequest      `xml:"AuthorizationRequest"`
	AuthRspS *AuthorizationResponse     `xml:"AuthorisationResponse"`
	AuthRspZ *AuthorizationResponse     `xml:"AuthorizationResponse"`
	AuthIndS *AuthorizationIndication   `xml:"AuthorisationIndication"`
	AuthIndZ *AuthorizationIndication   `xml:"AuthorizationIndication"`
	AuthCnfS *AuthorizationConfirmation `xml:"AuthorisationConfirmation"`
	AuthCnfZ *AuthorizationConfirmation `xml:"AuthorizationConfirmation"`
	UsageInd *UsageIndication           `xml:"UsageIndication"`
	UsageCnf *UsageConfirmation         `xml:"UsageConfirmation"`
}

// Marshal encodes m with an XML declaration. It fails unless m carries
// exactly one component.
func Marshal(m *Message) ([]byte, error) {
	if n := m.components(); n != 1 {
		return nil, fmt.Errorf("osp: marshal: message carries %d components, want 1", n)
	}
	w := wireMessage{
		MessageID: m.MessageID,
		Random:    m.Random,
		AuthReqS:  m.AuthorizationRequest,
		AuthRspS:  m.AuthorizationResponse,
		AuthIndS:  m.AuthorizationIndication,
		AuthCnfS:  m.AuthorizationConfirmation,
		UsageInd:  m.UsageIndication,
		UsageCnf:  m.UsageConfirmation,
	}
	var buf bytes.Buffer
	buf.Grow(1024)
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(&w); err != nil {
		return nil, fmt.Errorf("osp: marshal %s: %w", m.Kind(), err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// ErrMalformed is wrapped by every decode error: the body is not a
// well-formed, strictly valid OSP message. Servers answer it with
// StatusBadRequest.
var ErrMalformed = errors.New("osp: malformed message")

// ErrTooLarge is returned for a body over MaxMessageSize.
var ErrTooLarge = errors.New("osp: message too large")

// DecodeError says why a body was refused.
type DecodeError struct {
	Reason string
	Err    error // underlying XML or value error, if any
}

// Error says why the body was refused.
func (e *DecodeError) Error() string {
	if e.Err != nil {
		return "osp: malformed message: " + e.Reason + ": " + e.Err.Error()
	}
	return "osp: malformed message: " + e.Reason
}

// Unwrap lets errors.Is(err, ErrMalformed) hold.
func (e *DecodeError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrMalformed, e.Err}
	}
	return []error{ErrMalformed}
}

func malformed(reason string, err error) error { return &DecodeError{Reason: reason, Err: err} }

// Unmarshal decodes one OSP message strictly (see the package comment).
func Unmarshal(b []byte) (*Message, error) {
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), MaxMessageSize)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.Entity = nil // only the five predefined entities
	d.CharsetReader = nil
	var w wireMessage
	seenRoot := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, malformed("xml", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, malformed("DTDs and other directives are refused", nil)
		case xml.ProcInst:
			if t.Target != "xml" || seenRoot {
				return nil, malformed(fmt.Sprintf("processing instruction %q refused", t.Target), nil)
			}
			if err := checkDecl(t.Inst); err != nil {
				return nil, err
			}
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return nil, malformed("text outside the root element", nil)
			}
		case xml.Comment:
		case xml.StartElement:
			if seenRoot {
				return nil, malformed("more than one root element", nil)
			}
			if t.Name.Local != "Message" {
				return nil, malformed(fmt.Sprintf("root element %q, want Message", t.Name.Local), nil)
			}
			if err := d.DecodeElement(&w, &t); err != nil {
				return nil, malformed("Message", err)
			}
			seenRoot = true
		default:
			return nil, malformed(fmt.Sprintf("unexpected token %T", tok), nil)
		}
	}
	if !seenRoot {
		return nil, malformed("no Message element", nil)
	}
	m, err := fromWire(&w)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// checkDecl refuses XML declarations that name an encoding other than
// UTF-8 (ASCII being a subset), since no charset conversion is done.
func checkDecl(inst []byte) error {
	s := string(inst)
	i := bytes.Index(inst, []byte("encoding="))
	if i < 0 {
		return nil
	}
	rest := s[i+len("encoding="):]
	if len(rest) < 2 {
		return malformed("bad XML declaration", nil)
	}
	q := rest[0]
	end := bytes.IndexByte([]byte(rest[1:]), q)
	if end < 0 {
		return malformed("bad XML declaration", nil)
	}
	switch enc := rest[1 : 1+end]; enc {
	case "UTF-8", "utf-8", "US-ASCII", "us-ascii", "ASCII":
		return nil
	default:
		return malformed(fmt.Sprintf("encoding %q refused, only UTF-8", enc), nil)
	}
}

func fromWire(w *wireMessage) (*Message, error) {
	m := &Message{MessageID: w.MessageID, Random: w.Random}
	pick := func(name string, s, z bool) error {
		if s && z {
			return malformed(name+" present in both spellings", nil)
		}
		return nil
	}
	if err := pick("AuthorizationRequest", w.AuthReqS != nil, w.AuthReqZ != nil); err != nil {
		return nil, err
	}
	if err := pick("AuthorizationResponse", w.AuthRspS != nil, w.AuthRspZ != nil); err != nil {
		return nil, err
	}
	if err := pick("AuthorizationIndication", w.AuthIndS != nil, w.AuthIndZ != nil); err != nil {
		return nil, err
	}
	if err := pick("AuthorizationConfirmation", w.AuthCnfS != nil, w.AuthCnfZ != nil); err != nil {
		return nil, err
	}
	m.AuthorizationRequest = firstNonNil(w.AuthReqS, w.AuthReqZ)
	m.AuthorizationResponse = firstNonNil(w.AuthRspS, w.AuthRspZ)
	m.AuthorizationIndication = firstNonNil(w.AuthIndS, w.AuthIndZ)
	m.AuthorizationConfirmation = firstNonNil(w.AuthCnfS, w.AuthCnfZ)
	m.UsageIndication = w.UsageInd
	m.UsageConfirmation = w.UsageCnf
	if n := m.components(); n != 1 {
		return nil, malformed(fmt.Sprintf("Message carries %d known components, want 1", n), nil)
	}
	// An answer without a Status would read as code 0: refuse it.
	var st *Status
	switch {
	case m.AuthorizationResponse != nil:
		st = &m.AuthorizationResponse.Status
	case m.AuthorizationConfirmation != nil:
		st = &m.AuthorizationConfirmation.Status
	case m.UsageConfirmation != nil:
		st = &m.UsageConfirmation.Status
	}
	if st != nil && st.Code == 0 {
		return nil, malformed(m.Kind().String()+" without a Status Code", nil)
	}
	return m, nil
}

func firstNonNil[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}
