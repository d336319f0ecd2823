package osp

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
)

// TokenInfo is what a token asserts: this call, between these parties, is
// authorised in this window with this class and bandwidth. It is encoded
// as the OSP <TokenInfo> XML element and signed as PKCS#7/CMS SignedData.
type TokenInfo struct {
	XMLName         xml.Name     `xml:"TokenInfo"`
	Random          string       `xml:"random,attr,omitempty"`
	SourceInfo      Party        `xml:"SourceInfo"`
	DestinationInfo Party        `xml:"DestinationInfo"`
	CallID          Base64       `xml:"CallId"`
	ValidAfter      Time         `xml:"ValidAfter"`
	ValidUntil      Time         `xml:"ValidUntil"`
	TransactionID   string       `xml:"TransactionId"`
	UsageDetail     *UsageDetail `xml:"UsageDetail,omitempty"` // Amount = maximum duration
	ServiceClass    string       `xml:"ServiceClass,omitempty"`
	Bandwidth       int64        `xml:"Bandwidth,omitempty"` // bit/s
}

// tokenDecl starts every token's content. The OSP Toolkit tells an XML
// token from its ASCII format ("V=1\n...") by this prefix (its local
// validation fails with 13621 without it). No newline follows it: nothing
// in signed content is whitespace a reader might or might not keep.
const tokenDecl = `<?xml version="1.0" encoding="UTF-8"?>`

// MarshalXML writes the token info with its qoslab extensions
// (ServiceClass, Bandwidth) marked critical="False", which the toolkit's
// local validation skips.
func (ti TokenInfo) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	type plain TokenInfo
	return e.EncodeElement(struct {
		plain
		ServiceClass *ext `xml:"ServiceClass,omitempty"`
		Bandwidth    *ext `xml:"Bandwidth,omitempty"`
	}{plain(ti), extString(ti.ServiceClass), extInt(ti.Bandwidth)}, start)
}

func (ti *TokenInfo) marshal() ([]byte, error) {
	b, err := xml.Marshal(ti)
	if err != nil {
		return nil, fmt.Errorf("osp: token info: %w", err)
	}
	return append([]byte(tokenDecl), b...), nil
}

func (ti *TokenInfo) trim() {
	ti.SourceInfo.trim()
	ti.DestinationInfo.trim()
	ti.TransactionID = strings.TrimSpace(ti.TransactionID)
	ti.ServiceClass = strings.TrimSpace(ti.ServiceClass)
	if ti.UsageDetail != nil {
		ti.UsageDetail.trim()
	}
}

// unmarshalTokenInfo decodes signed content with the same strictness as
// messages: no directives, one root, no trailing garbage.
func unmarshalTokenInfo(b []byte) (*TokenInfo, error) {
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("%w: token info of %d bytes", ErrTooLarge, len(b))
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	var ti TokenInfo
	if err := d.Decode(&ti); err != nil {
		return nil, fmt.Errorf("token info: %w", err)
	}
	if bytes.Contains(b, []byte("<!")) {
		return nil, fmt.Errorf("token info: directives refused")
	}
	if rest := bytes.TrimSpace(b[d.InputOffset():]); len(rest) > 0 {
		return nil, fmt.Errorf("token info: trailing data")
	}
	ti.trim()
	if ti.TransactionID == "" || len(ti.CallID) == 0 || ti.ValidAfter.IsZero() || ti.ValidUntil.IsZero() {
		return nil, fmt.Errorf("token info: transaction id, call id, valid after and valid until are required")
	}
	return &ti, nil
}
