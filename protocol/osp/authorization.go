package osp

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

// AuthorizationConfirmation answers an AuthorizationIndication.
type AuthorizationConfirmation struct {
	ComponentID string `xml:"componentId,attr,omitempty"`
	Timestamp   Time   `xml:"Timestamp"`
	Status      Status `xml:"Status"`
	ValidAfter  Time   `xml:"ValidAfter"`
	ValidUntil  Time   `xml:"ValidUntil"`
}
