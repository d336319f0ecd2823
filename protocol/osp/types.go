package osp

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net"
	"strings"
	"time"
)

// Time is an OSP timestamp (ISO 8601 / RFC 3339, UTC on the wire). The zero
// Time is not emitted; a present but malformed or empty element is a decode
// error.
type Time struct{ time.Time }

// At wraps t as an OSP Time.
func At(t time.Time) Time { return Time{t} }

// MarshalXML writes the time in UTC, with fractional seconds only when it
// has them, and nothing at all for the zero time.
func (t Time) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if t.IsZero() {
		return nil
	}
	return e.EncodeElement(t.UTC().Format(time.RFC3339Nano), start)
}

// UnmarshalXML parses an RFC 3339 timestamp strictly.
func (t *Time) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var s string
	if err := d.DecodeElement(&s, &start); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("osp: element %s: malformed timestamp %q", start.Name.Local, s)
	}
	t.Time = v
	return nil
}

// Base64 is a binary value carried as <X encoding="base64">...</X> (CallId,
// Token). A value without the encoding attribute is taken as literal text,
// as the toolkit accepts; any other encoding is an error.
type Base64 []byte

// MarshalXML writes the value base64-encoded; an empty value is not
// emitted.
func (b Base64) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if len(b) == 0 {
		return nil
	}
	start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "encoding"}, Value: "base64"})
	return e.EncodeElement(base64.StdEncoding.EncodeToString(b), start)
}

// UnmarshalXML decodes the value according to its encoding attribute.
func (b *Base64) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var s string
	if err := d.DecodeElement(&s, &start); err != nil {
		return err
	}
	enc := ""
	for _, a := range start.Attr {
		if a.Name.Local == "encoding" {
			enc = a.Value
		}
	}
	switch strings.ToLower(enc) {
	case "base64":
		v, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return fmt.Errorf("osp: element %s: malformed base64: %w", start.Name.Local, err)
		}
		*b = v
	case "", "cdata":
		// Literal text: the whitespace writers put around it is not part
		// of the value.
		*b = []byte(strings.TrimSpace(s))
	default:
		return fmt.Errorf("osp: element %s: unsupported encoding %q", start.Name.Local, enc)
	}
	if len(*b) == 0 {
		*b = nil // an empty element means absent, as Marshal writes it
	}
	return nil
}

// Party is a SourceInfo, DestinationInfo, DeviceInfo, SourceAlternate or
// DestinationSignalAddress: a value with its type ("e164", "sip",
// "transport" for "[address]:port", "url").
type Party struct {
	Type  string `xml:"type,attr,omitempty"`
	Value string `xml:",chardata"`
}

// Party type values used by qoslab.
const (
	PartyE164      = "e164"
	PartySIP       = "sip"
	PartyTransport = "transport"
)

// IsZero reports whether the party is absent.
func (p Party) IsZero() bool { return p.Value == "" && p.Type == "" }

// trim drops the whitespace around the party's type and value: the
// toolkit writes a newline after every start tag, and "\n1001" must
// neither land in a record nor in a signed token.
func (p *Party) trim() {
	p.Type = strings.TrimSpace(p.Type)
	p.Value = strings.TrimSpace(p.Value)
}

// SplitParty returns the user and the host of a party as OSP carries it:
// a SIP or tel URI ("sip:alice@198.18.4.2:5060;transport=tcp",
// "<sip:alice@host>;tag=1", "tel:+4045551212") or a bare number or name,
// which is all user. The host has no port; either may be "".
func SplitParty(party string) (user, host string) {
	s := strings.TrimSpace(party)
	if i := strings.IndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			s = s[i+1 : i+j]
		}
	}
	for _, scheme := range []string{"sip:", "sips:", "tel:"} {
		if len(s) > len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			s = s[len(scheme):]
			break
		}
	}
	if i := strings.IndexAny(s, ";?"); i >= 0 {
		s = s[:i]
	}
	user, host, ok := strings.Cut(s, "@")
	if !ok {
		return s, ""
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h // "host:port"; a host without a port stays whole
	}
	return user, strings.Trim(host, "[]")
}

// trimParty trims an optional party.
func trimParty(p *Party) {
	if p != nil {
		p.trim()
	}
}

// Status is the outcome carried by responses and confirmations.
type Status struct {
	Code        StatusCode `xml:"Code"`
	Description string     `xml:"Description,omitempty"`
}

func (s *Status) trim() { s.Description = strings.TrimSpace(s.Description) }

// OK reports whether the status is a success (2xx).
func (s Status) OK() bool { return s.Code >= 200 && s.Code < 300 }

// String renders "403 barred", or the code's name without a description.
func (s Status) String() string {
	if s.Description == "" {
		return s.Code.String()
	}
	return fmt.Sprintf("%d %s", int(s.Code), s.Description)
}

// UsageDetail says how much service was authorised (in a response) or used
// (in a usage indication), and when.
type UsageDetail struct {
	Service          *Service   `xml:"Service,omitempty"`
	Amount           Seconds    `xml:"Amount"`
	Increment        int64      `xml:"Increment"`
	Unit             string     `xml:"Unit"` // "s" for seconds
	TerminationCause *TermCause `xml:"TerminationCause,omitempty"`
	StartTime        Time       `xml:"StartTime"`
	EndTime          Time       `xml:"EndTime"`
	AlertTime        Time       `xml:"AlertTime"`
	ConnectTime      Time       `xml:"ConnectTime"`
	// PostDialDelay is carried in decimal seconds, like Amount (the
	// toolkit has written it so since 2011); zero is not emitted.
	PostDialDelay Seconds       `xml:"PostDialDelay,omitempty"`
	ReleaseSource ReleaseSource `xml:"ReleaseSource,omitempty"`
}

func (u *UsageDetail) trim() {
	u.Unit = strings.TrimSpace(u.Unit)
	if u.TerminationCause != nil {
		u.TerminationCause.Type = strings.TrimSpace(u.TerminationCause.Type)
		u.TerminationCause.Description = strings.TrimSpace(u.TerminationCause.Description)
	}
	if u.Service != nil {
		u.Service.ServiceType = strings.TrimSpace(u.Service.ServiceType)
	}
}

// TermCause is a TerminationCause: a Q.850 (or SIP) code and a description.
type TermCause struct {
	Type        string `xml:"type,attr,omitempty"` // "q850", "h323", "sip"
	TCCode      int    `xml:"TCCode"`
	Description string `xml:"Description,omitempty"`
}

// Service is the OSP Service element; an empty element means basic voice.
type Service struct {
	ServiceType string `xml:"ServiceType,omitempty"`
}
