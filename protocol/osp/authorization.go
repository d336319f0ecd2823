package osp

import (
	"encoding/xml"
	"strings"
)

// Roles of the party that sends a request or usage indication (OSP Role
// element).
const (
	RoleSource      = "source"      // originating side (POL1 in docs/FLOW.md)
	RoleDestination = "destination" // terminating side (POL2)
)

// AuthorizationRequest asks the clearinghouse to authorise a call (docs/FLOW.md
// setup steps 3 and 8).
type AuthorizationRequest struct {
	ComponentID          string   `xml:"componentId,attr,omitempty"`
	Timestamp            Time     `xml:"Timestamp"`
	CallID               Base64   `xml:"CallId"`
	SourceInfo           Party    `xml:"SourceInfo"`
	SourceAlternate      *Party   `xml:"SourceAlternate,omitempty"`
	DestinationInfo      Party    `xml:"DestinationInfo"`
	DestinationAlternate *Party   `xml:"DestinationAlternate,omitempty"`
	DeviceInfo           *Party   `xml:"DeviceInfo,omitempty"`
	Service              *Service `xml:"Service,omitempty"`
	MaximumDestinations  int      `xml:"MaximumDestinations,omitempty"`
	// Role is a qoslab extension: which side asks (RoleSource or
	// RoleDestination).
	Role string `xml:"Role,omitempty"`
	// Token is a qoslab extension: the token the terminating side received
	// in the INVITE, for the clearinghouse to validate.
	Token Base64 `xml:"Token,omitempty"`
}

// MarshalXML writes the request with its qoslab extensions (Role, Token)
// marked critical="False".
func (r AuthorizationRequest) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	type plain AuthorizationRequest
	return e.EncodeElement(struct {
		plain
		Role  *ext `xml:"Role,omitempty"`
		Token *ext `xml:"Token,omitempty"`
	}{plain(r), extString(r.Role), extBytes(r.Token)}, start)
}

func (r *AuthorizationRequest) trim() {
	r.SourceInfo.trim()
	r.DestinationInfo.trim()
	trimParty(r.SourceAlternate)
	trimParty(r.DestinationAlternate)
	trimParty(r.DeviceInfo)
	r.Role = strings.ToLower(strings.TrimSpace(r.Role))
}

// Side returns the requester's role: Role when set, otherwise destination
// if the request carries a token and source if not.
func (r *AuthorizationRequest) Side() string {
	switch {
	case r.Role != "":
		return r.Role
	case len(r.Token) > 0:
		return RoleDestination
	default:
		return RoleSource
	}
}

// AuthorizationResponse answers an AuthorizationRequest (steps 4 and 9).
// A successful one has one Destination with a token.
type AuthorizationResponse struct {
	ComponentID   string        `xml:"componentId,attr,omitempty"`
	Timestamp     Time          `xml:"Timestamp"`
	Status        Status        `xml:"Status"`
	TransactionID string        `xml:"TransactionId,omitempty"`
	Destinations  []Destination `xml:"Destination"`
}

func (r *AuthorizationResponse) trim() {
	r.Status.trim()
	r.TransactionID = strings.TrimSpace(r.TransactionID)
	for i := range r.Destinations {
		r.Destinations[i].trim()
	}
}

// Destination is one authorised route with its token.
type Destination struct {
	DestinationInfo          Party        `xml:"DestinationInfo"`
	DestinationSignalAddress Party        `xml:"DestinationSignalAddress"`
	Token                    Base64       `xml:"Token"`
	ValidAfter               Time         `xml:"ValidAfter"`
	ValidUntil               Time         `xml:"ValidUntil"`
	UsageDetail              *UsageDetail `xml:"UsageDetail,omitempty"`
	CallID                   Base64       `xml:"CallId"`
	// ServiceClass and Bandwidth (qoslab extensions) repeat what the
	// token grants, so that the policy server need not parse the token.
	ServiceClass string `xml:"ServiceClass,omitempty"`
	Bandwidth    int64  `xml:"Bandwidth,omitempty"` // bits per second
}

// MarshalXML writes the destination with its qoslab extensions
// (ServiceClass, Bandwidth) marked critical="False".
func (d Destination) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	type plain Destination
	return e.EncodeElement(struct {
		plain
		ServiceClass *ext `xml:"ServiceClass,omitempty"`
		Bandwidth    *ext `xml:"Bandwidth,omitempty"`
	}{plain(d), extString(d.ServiceClass), extInt(d.Bandwidth)}, start)
}

func (d *Destination) trim() {
	d.DestinationInfo.trim()
	d.DestinationSignalAddress.trim()
	d.ServiceClass = strings.TrimSpace(d.ServiceClass)
	if d.UsageDetail != nil {
		d.UsageDetail.trim()
	}
}

// AuthorizationIndication asks the clearinghouse to validate a token
// online.
type AuthorizationIndication struct {
	ComponentID     string `xml:"componentId,attr,omitempty"`
	Timestamp       Time   `xml:"Timestamp"`
	Role            string `xml:"Role,omitempty"`
	CallID          Base64 `xml:"CallId"`
	SourceInfo      Party  `xml:"SourceInfo"`
	DestinationInfo Party  `xml:"DestinationInfo"`
	Token           Base64 `xml:"Token"`
}

func (a *AuthorizationIndication) trim() {
	a.SourceInfo.trim()
	a.DestinationInfo.trim()
	a.Role = strings.ToLower(strings.TrimSpace(a.Role))
}

// AuthorizationConfirmation answers an AuthorizationIndication.
type AuthorizationConfirmation struct {
	ComponentID string `xml:"componentId,attr,omitempty"`
	Timestamp   Time   `xml:"Timestamp"`
	Status      Status `xml:"Status"`
	ValidAfter  Time   `xml:"ValidAfter"`
	ValidUntil  Time   `xml:"ValidUntil"`
}

// ReauthorizationRequest asks the clearinghouse to extend the
// authorisation of a call in progress (ETSI TS 101 321
// ReauthorisationRequest; the OSP Toolkit writes "Reauthorization..."):
// the transaction it was issued, the call and parties, and how long the
// call has lasted so far (UsageDetail).
type ReauthorizationRequest struct {
	ComponentID          string       `xml:"componentId,attr,omitempty"`
	Timestamp            Time         `xml:"Timestamp"`
	Role                 string       `xml:"Role,omitempty"`
	CallID               Base64       `xml:"CallId"`
	SourceInfo           Party        `xml:"SourceInfo"`
	DeviceInfo           *Party       `xml:"DeviceInfo,omitempty"`
	SourceAlternate      *Party       `xml:"SourceAlternate,omitempty"`
	DestinationInfo      Party        `xml:"DestinationInfo"`
	DestinationAlternate *Party       `xml:"DestinationAlternate,omitempty"`
	TransactionID        string       `xml:"TransactionId"`
	UsageDetail          *UsageDetail `xml:"UsageDetail,omitempty"`
}

func (r *ReauthorizationRequest) trim() {
	r.Role = strings.ToLower(strings.TrimSpace(r.Role))
	r.SourceInfo.trim()
	r.DestinationInfo.trim()
	trimParty(r.DeviceInfo)
	trimParty(r.SourceAlternate)
	trimParty(r.DestinationAlternate)
	r.TransactionID = strings.TrimSpace(r.TransactionID)
	if r.UsageDetail != nil {
		r.UsageDetail.trim()
	}
}

// ReauthorizationResponse answers a ReauthorizationRequest: on success the
// same transaction and one Destination with a fresh token.
type ReauthorizationResponse struct {
	ComponentID   string       `xml:"componentId,attr,omitempty"`
	Timestamp     Time         `xml:"Timestamp"`
	Status        Status       `xml:"Status"`
	TransactionID string       `xml:"TransactionId,omitempty"`
	Destination   *Destination `xml:"Destination,omitempty"`
}

func (r *ReauthorizationResponse) trim() {
	r.Status.trim()
	r.TransactionID = strings.TrimSpace(r.TransactionID)
	if r.Destination != nil {
		r.Destination.trim()
	}
}
