package osp

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// UsageIndication reports a finished call (docs/FLOW.md teardown steps 8 and
// 17). The clearinghouse records it once per (TransactionID, Role).
type UsageIndication struct {
	ComponentID     string      `xml:"componentId,attr,omitempty"`
	Timestamp       Time        `xml:"Timestamp"`
	Role            string      `xml:"Role"`
	TransactionID   string      `xml:"TransactionId"`
	CallID          Base64      `xml:"CallId"`
	SourceInfo      Party       `xml:"SourceInfo"`
	DestinationInfo Party       `xml:"DestinationInfo"`
	UsageDetail     UsageDetail `xml:"UsageDetail"`
	// ServiceClass and Bandwidth (qoslab extensions) say what the call was
	// granted.
	ServiceClass string `xml:"ServiceClass,omitempty"`
	Bandwidth    int64  `xml:"Bandwidth,omitempty"`
	// Marked (qoslab extension) is what the edge router counted for the
	// call's gate; nil means unknown.
	Marked *MarkedTraffic `xml:"MarkedTraffic,omitempty"`
}

// MarshalXML writes the indication with its qoslab extensions
// (ServiceClass, Bandwidth, MarkedTraffic) marked critical="False".
func (u UsageIndication) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	type plain UsageIndication
	return e.EncodeElement(struct {
		plain
		ServiceClass *ext `xml:"ServiceClass,omitempty"`
		Bandwidth    *ext `xml:"Bandwidth,omitempty"`
	}{plain(u), extString(u.ServiceClass), extInt(u.Bandwidth)}, start)
}

func (u *UsageIndication) trim() {
	u.Role = strings.ToLower(strings.TrimSpace(u.Role))
	u.TransactionID = strings.TrimSpace(u.TransactionID)
	u.SourceInfo.trim()
	u.DestinationInfo.trim()
	u.ServiceClass = strings.TrimSpace(u.ServiceClass)
	u.UsageDetail.trim()
}

// MarkedTraffic is the qoslab extension element
//
//	<MarkedTraffic countersLost="false"><Packets>N</Packets><Octets>N</Octets></MarkedTraffic>
//
// in a UsageIndication: the packets and octets (bytes) the edge router
// marked for the call's gate, as its PCMM Gate-Delete-Ack or Gate-Info-Ack
// reported them. Both counts are required and must be unsigned decimal
// numbers; countersLost (optional, "true"/"false" in any case, default
// false) says the router lost its counters during the call (it restarted),
// so the figures are a lower bound.
type MarkedTraffic struct {
	Packets      uint64
	Octets       uint64
	CountersLost bool
}

// wireMarked is the XML shape of MarkedTraffic; the pointers tell absent
// counts from zero ones.
type wireMarked struct {
	CountersLost string `xml:"countersLost,attr,omitempty"`
	Packets      *count `xml:"Packets"`
	Octets       *count `xml:"Octets"`
}

// MarshalXML writes the element with both counts, and countersLost only
// when true.
func (m MarkedTraffic) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	w := wireMarked{Packets: (*count)(&m.Packets), Octets: (*count)(&m.Octets)}
	if m.CountersLost {
		w.CountersLost = "true"
	}
	start.Attr = append(start.Attr, criticalFalse)
	return e.EncodeElement(w, start)
}

// UnmarshalXML decodes the element strictly: a missing or malformed count
// or a countersLost other than true/false is an error.
func (m *MarkedTraffic) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var w wireMarked
	if err := d.DecodeElement(&w, &start); err != nil {
		return err
	}
	if w.Packets == nil || w.Octets == nil {
		return fmt.Errorf("osp: element %s: Packets and Octets are both required", start.Name.Local)
	}
	lost := false
	switch strings.ToLower(strings.TrimSpace(w.CountersLost)) {
	case "", "false":
	case "true":
		lost = true
	default:
		return fmt.Errorf("osp: element %s: countersLost %q, want true or false", start.Name.Local, w.CountersLost)
	}
	*m = MarkedTraffic{Packets: uint64(*w.Packets), Octets: uint64(*w.Octets), CountersLost: lost}
	return nil
}

// count is an unsigned decimal element value; empty, signed or otherwise
// malformed text is a decode error, never zero.
type count uint64

func (c count) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	return e.EncodeElement(strconv.FormatUint(uint64(c), 10), start)
}

func (c *count) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var s string
	if err := d.DecodeElement(&s, &start); err != nil {
		return err
	}
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return fmt.Errorf("osp: element %s: malformed count %q", start.Name.Local, s)
	}
	*c = count(v)
	return nil
}

// UsageConfirmation answers a UsageIndication. A 2xx status means the
// record is durable.
type UsageConfirmation struct {
	ComponentID string `xml:"componentId,attr,omitempty"`
	Timestamp   Time   `xml:"Timestamp"`
	Status      Status `xml:"Status"`
}
