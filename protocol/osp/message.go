package osp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
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
	KindReauthorizationRequest
	KindReauthorizationResponse
	KindCapabilitiesIndication
	KindCapabilitiesConfirmation
)

var kindNames = [...]string{
	KindUnknown:                   "Unknown",
	KindAuthorizationRequest:      "AuthorizationRequest",
	KindAuthorizationResponse:     "AuthorizationResponse",
	KindAuthorizationIndication:   "AuthorizationIndication",
	KindAuthorizationConfirmation: "AuthorizationConfirmation",
	KindUsageIndication:           "UsageIndication",
	KindUsageConfirmation:         "UsageConfirmation",
	KindReauthorizationRequest:    "ReauthorizationRequest",
	KindReauthorizationResponse:   "ReauthorizationResponse",
	KindCapabilitiesIndication:    "CapabilitiesIndication",
	KindCapabilitiesConfirmation:  "CapabilitiesConfirmation",
}

// String returns the component name in docs/FLOW.md's (American) spelling, the
// one nodes log.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// wireName returns the element name of kind k in a spelling: ETSI's
// "Authorisation..." or the toolkit's "Authorization...". Kinds without
// the word are spelt the same either way.
func (k Kind) wireName(sp Spelling) string {
	n := k.String()
	if sp == SpellingETSI {
		n = strings.Replace(n, "uthorization", "uthorisation", 1)
	}
	return n
}

// Answer returns the kind that answers a request kind (KindUnknown for an
// answer).
func (k Kind) Answer() Kind {
	switch k {
	case KindAuthorizationRequest:
		return KindAuthorizationResponse
	case KindAuthorizationIndication:
		return KindAuthorizationConfirmation
	case KindUsageIndication:
		return KindUsageConfirmation
	case KindReauthorizationRequest:
		return KindReauthorizationResponse
	case KindCapabilitiesIndication:
		return KindCapabilitiesConfirmation
	}
	return KindUnknown
}

// Spelling says how a message spells "Authorisation" in its component
// name. ETSI TS 101 321 writes "Authorisation"; the OSP Toolkit writes
// "AuthorizationRequest", "AuthorizationIndication" and
// "ReauthorizationRequest", and reads "AuthorizationConfirmation" and
// "ReauthorizationResponse" only in that spelling. A server answers in the
// spelling of the request (osp.Handler does).
type Spelling uint8

// Spellings.
const (
	SpellingETSI Spelling = iota // "Authorisation", the default
	SpellingUS                   // "Authorization", as the toolkit writes it
)

// Message is one OSP message: the root element's attributes and exactly one
// component (the others nil).
type Message struct {
	MessageID string // messageId attribute
	Random    string // random attribute
	// Spelling is how the component's name was spelt on the wire
	// (decoding) or is to be spelt (encoding).
	Spelling Spelling

	AuthorizationRequest      *AuthorizationRequest
	AuthorizationResponse     *AuthorizationResponse
	AuthorizationIndication   *AuthorizationIndication
	AuthorizationConfirmation *AuthorizationConfirmation
	UsageIndication           *UsageIndication
	UsageConfirmation         *UsageConfirmation
	ReauthorizationRequest    *ReauthorizationRequest
	ReauthorizationResponse   *ReauthorizationResponse
	CapabilitiesIndication    *CapabilitiesIndication
	CapabilitiesConfirmation  *CapabilitiesConfirmation
}

// present lists the kinds of the components m carries.
func (m *Message) present() []Kind {
	var out []Kind
	for _, c := range [...]struct {
		kind Kind
		set  bool
	}{
		{KindAuthorizationRequest, m.AuthorizationRequest != nil},
		{KindAuthorizationResponse, m.AuthorizationResponse != nil},
		{KindAuthorizationIndication, m.AuthorizationIndication != nil},
		{KindAuthorizationConfirmation, m.AuthorizationConfirmation != nil},
		{KindUsageIndication, m.UsageIndication != nil},
		{KindUsageConfirmation, m.UsageConfirmation != nil},
		{KindReauthorizationRequest, m.ReauthorizationRequest != nil},
		{KindReauthorizationResponse, m.ReauthorizationResponse != nil},
		{KindCapabilitiesIndication, m.CapabilitiesIndication != nil},
		{KindCapabilitiesConfirmation, m.CapabilitiesConfirmation != nil},
	} {
		if c.set {
			out = append(out, c.kind)
		}
	}
	return out
}

// Kind returns which component m carries (KindUnknown if none or more
// than one).
func (m *Message) Kind() Kind {
	if p := m.present(); len(p) == 1 {
		return p[0]
	}
	return KindUnknown
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
	case m.ReauthorizationRequest != nil:
		return string(m.ReauthorizationRequest.CallID)
	case m.ReauthorizationResponse != nil && m.ReauthorizationResponse.Destination != nil:
		return string(m.ReauthorizationResponse.Destination.CallID)
	}
	return ""
}

// wireMessage is the XML shape of a Message. The authorisation components
// appear twice, once per spelling; encoding fills the fields of the
// message's Spelling.
type wireMessage struct {
	XMLName   xml.Name `xml:"Message"`
	MessageID string   `xml:"messageId,attr,omitempty"`
	Random    string   `xml:"random,attr,omitempty"`

	AuthReqS   *AuthorizationRequest      `xml:"AuthorisationRequest"`
	AuthReqZ   *AuthorizationRequest      `xml:"AuthorizationRequest"`
	AuthRspS   *AuthorizationResponse     `xml:"AuthorisationResponse"`
	AuthRspZ   *AuthorizationResponse     `xml:"AuthorizationResponse"`
	AuthIndS   *AuthorizationIndication   `xml:"AuthorisationIndication"`
	AuthIndZ   *AuthorizationIndication   `xml:"AuthorizationIndication"`
	AuthCnfS   *AuthorizationConfirmation `xml:"AuthorisationConfirmation"`
	AuthCnfZ   *AuthorizationConfirmation `xml:"AuthorizationConfirmation"`
	UsageInd   *UsageIndication           `xml:"UsageIndication"`
	UsageCnf   *UsageConfirmation         `xml:"UsageConfirmation"`
	ReauthReqS *ReauthorizationRequest    `xml:"ReauthorisationRequest"`
	ReauthReqZ *ReauthorizationRequest    `xml:"ReauthorizationRequest"`
	ReauthRspS *ReauthorizationResponse   `xml:"ReauthorisationResponse"`
	ReauthRspZ *ReauthorizationResponse   `xml:"ReauthorizationResponse"`
	CapInd     *CapabilitiesIndication    `xml:"CapabilitiesIndication"`
	CapCnf     *CapabilitiesConfirmation  `xml:"CapabilitiesConfirmation"`
}

// Marshal encodes m with an XML declaration. It fails unless m carries
// exactly one component.
func Marshal(m *Message) ([]byte, error) {
	if n := len(m.present()); n != 1 {
		return nil, fmt.Errorf("osp: marshal: message carries %d components, want 1", n)
	}
	w := wireMessage{
		MessageID: m.MessageID,
		Random:    m.Random,
		UsageInd:  m.UsageIndication,
		UsageCnf:  m.UsageConfirmation,
		CapInd:    m.CapabilitiesIndication,
		CapCnf:    m.CapabilitiesConfirmation,
	}
	if m.Spelling == SpellingUS {
		w.AuthReqZ, w.AuthRspZ, w.AuthIndZ, w.AuthCnfZ = m.AuthorizationRequest, m.AuthorizationResponse, m.AuthorizationIndication, m.AuthorizationConfirmation
		w.ReauthReqZ, w.ReauthRspZ = m.ReauthorizationRequest, m.ReauthorizationResponse
	} else {
		w.AuthReqS, w.AuthRspS, w.AuthIndS, w.AuthCnfS = m.AuthorizationRequest, m.AuthorizationResponse, m.AuthorizationIndication, m.AuthorizationConfirmation
		w.ReauthReqS, w.ReauthRspS = m.ReauthorizationRequest, m.ReauthorizationResponse
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
	spelt := map[Spelling]int{}
	pick := func(name string, s, z bool) error {
		if s && z {
			return malformed(name+" present in both spellings", nil)
		}
		if s {
			spelt[SpellingETSI]++
		}
		if z {
			spelt[SpellingUS]++
		}
		return nil
	}
	for _, p := range []struct {
		kind Kind
		s, z bool
	}{
		{KindAuthorizationRequest, w.AuthReqS != nil, w.AuthReqZ != nil},
		{KindAuthorizationResponse, w.AuthRspS != nil, w.AuthRspZ != nil},
		{KindAuthorizationIndication, w.AuthIndS != nil, w.AuthIndZ != nil},
		{KindAuthorizationConfirmation, w.AuthCnfS != nil, w.AuthCnfZ != nil},
		{KindReauthorizationRequest, w.ReauthReqS != nil, w.ReauthReqZ != nil},
		{KindReauthorizationResponse, w.ReauthRspS != nil, w.ReauthRspZ != nil},
	} {
		if err := pick(p.kind.String(), p.s, p.z); err != nil {
			return nil, err
		}
	}
	if spelt[SpellingUS] > 0 {
		m.Spelling = SpellingUS
	}
	m.AuthorizationRequest = firstNonNil(w.AuthReqS, w.AuthReqZ)
	m.AuthorizationResponse = firstNonNil(w.AuthRspS, w.AuthRspZ)
	m.AuthorizationIndication = firstNonNil(w.AuthIndS, w.AuthIndZ)
	m.AuthorizationConfirmation = firstNonNil(w.AuthCnfS, w.AuthCnfZ)
	m.ReauthorizationRequest = firstNonNil(w.ReauthReqS, w.ReauthReqZ)
	m.ReauthorizationResponse = firstNonNil(w.ReauthRspS, w.ReauthRspZ)
	m.UsageIndication = w.UsageInd
	m.UsageConfirmation = w.UsageCnf
	m.CapabilitiesIndication = w.CapInd
	m.CapabilitiesConfirmation = w.CapCnf
	if n := len(m.present()); n != 1 {
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
	case m.ReauthorizationResponse != nil:
		st = &m.ReauthorizationResponse.Status
	case m.CapabilitiesConfirmation != nil:
		st = &m.CapabilitiesConfirmation.Status
	}
	if st != nil && st.Code == 0 {
		return nil, malformed(m.Kind().String()+" without a Status Code", nil)
	}
	m.trim()
	return m, nil
}

// trim drops the whitespace around element text that writers such as the
// OSP Toolkit put after every start tag ("<SourceInfo>\n1001"). Numbers
// and times are trimmed by their decoders; identifiers, parties and words
// here, so that neither records nor signed tokens carry a newline.
func (m *Message) trim() {
	switch {
	case m.AuthorizationRequest != nil:
		m.AuthorizationRequest.trim()
	case m.AuthorizationResponse != nil:
		m.AuthorizationResponse.trim()
	case m.AuthorizationIndication != nil:
		m.AuthorizationIndication.trim()
	case m.AuthorizationConfirmation != nil:
		m.AuthorizationConfirmation.Status.trim()
	case m.UsageIndication != nil:
		m.UsageIndication.trim()
	case m.UsageConfirmation != nil:
		m.UsageConfirmation.Status.trim()
	case m.ReauthorizationRequest != nil:
		m.ReauthorizationRequest.trim()
	case m.ReauthorizationResponse != nil:
		m.ReauthorizationResponse.trim()
	case m.CapabilitiesIndication != nil:
		m.CapabilitiesIndication.trim()
	case m.CapabilitiesConfirmation != nil:
		m.CapabilitiesConfirmation.Status.trim()
	}
}

func firstNonNil[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}
