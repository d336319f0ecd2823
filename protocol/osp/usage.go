package osp

// UsageIndication reports a finished call (FLOW.md teardown steps 8 and
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
}

// UsageConfirmation answers a UsageIndication. A 2xx status means the
// record is durable.
type UsageConfirmation struct {
	ComponentID string `xml:"componentId,attr,omitempty"`
	Timestamp   Time   `xml:"Timestamp"`
	Status      Status `xml:"Status"`
}
