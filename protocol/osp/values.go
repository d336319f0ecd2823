package osp

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Seconds is a duration carried as decimal seconds with millisecond
// precision: UsageDetail's Amount (Unit "s") and PostDialDelay. The OSP
// Toolkit writes "5.000" (three decimals, since 4.26); older writers and
// qoslab before this change wrote whole seconds ("5"). Both decode.
// Marshal writes whole seconds without a fraction and otherwise the
// shortest exact decimal ("14400", "5.25", "0.125").
type Seconds time.Duration

// SecondsOf rounds d to milliseconds, the precision OSP carries.
func SecondsOf(d time.Duration) Seconds { return Seconds(d.Round(time.Millisecond)) }

// Duration returns the value as a time.Duration.
func (s Seconds) Duration() time.Duration { return time.Duration(s) }

// Milliseconds returns the value in whole milliseconds.
func (s Seconds) Milliseconds() int64 { return time.Duration(s).Milliseconds() }

// String renders the value as it goes on the wire.
func (s Seconds) String() string {
	ms := time.Duration(s).Round(time.Millisecond).Milliseconds()
	sign := ""
	if ms < 0 {
		sign, ms = "-", -ms
	}
	whole, frac := ms/1000, ms%1000
	if frac == 0 {
		return sign + strconv.FormatInt(whole, 10)
	}
	return sign + strconv.FormatInt(whole, 10) + "." + strings.TrimRight(fmt.Sprintf("%03d", frac), "0")
}

// MarshalXML writes the decimal seconds.
func (s Seconds) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	return e.EncodeElement(s.String(), start)
}

// UnmarshalXML reads decimal seconds: an optional sign, digits, and an
// optional fraction (digits past the third are rounded away). Exponents,
// hex, "NaN" and empty text are errors. A negative value decodes: refusing
// it is the receiver's business (it says why in its answer).
func (s *Seconds) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var text string
	if err := d.DecodeElement(&text, &start); err != nil {
		return err
	}
	v, err := ParseSeconds(text)
	if err != nil {
		return fmt.Errorf("osp: element %s: %w", start.Name.Local, err)
	}
	*s = v
	return nil
}

// maxSeconds bounds a decoded value so that it fits a time.Duration.
const maxSeconds = int64(time.Duration(1<<63-1) / time.Second)

// ParseSeconds parses decimal seconds as OSP carries them.
func ParseSeconds(text string) (Seconds, error) {
	t := strings.TrimSpace(text)
	neg := false
	if t != "" && (t[0] == '-' || t[0] == '+') {
		neg, t = t[0] == '-', t[1:]
	}
	whole, frac, _ := strings.Cut(t, ".")
	if (whole == "" && frac == "") || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("malformed decimal seconds %q", text)
	}
	w := int64(0)
	if whole != "" {
		var err error
		if w, err = strconv.ParseInt(whole, 10, 64); err != nil || w > maxSeconds-1 {
			return 0, fmt.Errorf("decimal seconds %q out of range", text)
		}
	}
	// Milliseconds from the first four fraction digits, rounded half up.
	f := frac + "0000"
	ms, _ := strconv.ParseInt(f[:3], 10, 64)
	if f[3] >= '5' {
		ms++
	}
	d := time.Duration(w)*time.Second + time.Duration(ms)*time.Millisecond
	if neg {
		d = -d
	}
	return Seconds(d), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ReleaseSource says which end released the call (UsageDetail's
// ReleaseSource). The OSP Toolkit writes it as a word ("source",
// "destination", "internal", "external", "unknown"), and so does qoslab;
// the digits qoslab wrote before (1 source, 2 destination) still decode.
// The zero value is "not reported" and is not emitted.
type ReleaseSource int

// Release sources.
const (
	ReleaseNone ReleaseSource = iota
	ReleaseSourceParty
	ReleaseDestination
	ReleaseInternal
	ReleaseExternal
	ReleaseUnknown
)

var releaseNames = [...]string{
	ReleaseNone:        "",
	ReleaseSourceParty: "source",
	ReleaseDestination: "destination",
	ReleaseInternal:    "internal",
	ReleaseExternal:    "external",
	ReleaseUnknown:     "unknown",
}

// String returns the wire word ("" for ReleaseNone).
func (r ReleaseSource) String() string {
	if r >= 0 && int(r) < len(releaseNames) {
		return releaseNames[r]
	}
	return "ReleaseSource(" + strconv.Itoa(int(r)) + ")"
}

// ParseReleaseSource reads a word in any case, or a legacy digit.
func ParseReleaseSource(text string) (ReleaseSource, error) {
	t := strings.ToLower(strings.TrimSpace(text))
	switch t {
	case "1":
		return ReleaseSourceParty, nil
	case "2":
		return ReleaseDestination, nil
	case "0":
		return ReleaseUnknown, nil
	}
	for r, n := range releaseNames {
		if n != "" && n == t {
			return ReleaseSource(r), nil
		}
	}
	return ReleaseNone, fmt.Errorf("release source %q, want source, destination, internal, external or unknown", text)
}

// MarshalXML writes the word.
func (r ReleaseSource) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if r <= ReleaseNone || int(r) >= len(releaseNames) {
		return fmt.Errorf("osp: element %s: %s cannot be written", start.Name.Local, r)
	}
	return e.EncodeElement(r.String(), start)
}

// UnmarshalXML reads a word or a legacy digit.
func (r *ReleaseSource) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var text string
	if err := d.DecodeElement(&text, &start); err != nil {
		return err
	}
	v, err := ParseReleaseSource(text)
	if err != nil {
		return fmt.Errorf("osp: element %s: %w", start.Name.Local, err)
	}
	*r = v
	return nil
}

// criticalFalse marks an element receivers may skip when they do not know
// it (ETSI TS 101 321 gives every element a critical attribute, "True" by
// default: the OSP Toolkit refuses a message with an unknown element that
// is not marked critical="False", its error 13308).
var criticalFalse = xml.Attr{Name: xml.Name{Local: "critical"}, Value: "False"}

// ext is a qoslab extension element's value, written with
// critical="False". The constructors return nil for a zero value, so that
// omitempty drops the element.
type ext struct{ v any }

func extString(s string) *ext {
	if s == "" {
		return nil
	}
	return &ext{s}
}

func extInt(n int64) *ext {
	if n == 0 {
		return nil
	}
	return &ext{n}
}

func extBytes(b Base64) *ext {
	if len(b) == 0 {
		return nil
	}
	return &ext{b}
}

// MarshalXML writes the value with critical="False".
func (x ext) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	start.Attr = append(start.Attr, criticalFalse)
	return e.EncodeElement(x.v, start)
}
