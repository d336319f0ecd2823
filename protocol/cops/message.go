package cops

// Message is a decoded COPS message: the common header plus every object the
// grammar of its operation allows, in fields. A field that the operation does
// not use stays zero. Byte slices and the Decisions/ClientSI slices filled by
// Decode point into the decoded buffer or reuse the Message's own storage:
// copy what must outlive the buffer.
type Message struct {
	Header

	// Handle is used by REQ, DEC, RPT and DRQ, and optionally by SSQ and SSC
	// (HasHandle tells).
	Handle    Handle
	HasHandle bool

	// REQ.
	Context       Context
	InInterface   Interface
	OutInterface  Interface
	LPDPDecisions []LPDPDecision

	// ClientSI: any number in REQ (signaled), at most one in RPT and OPN.
	ClientSI []ClientSI

	// DEC: Decisions or an Error.
	Decisions []Decision

	// Error: DEC (instead of decisions) and CC.
	Error Error

	// DRQ.
	Reason Reason

	// RPT.
	ReportType ReportType

	// OPN.
	PEPID   string
	LastPDP PDPAddr

	// CAT: KATimer is mandatory (0 means no keep-alives), AcctTimer 0 means absent.
	KATimer   uint16
	AcctTimer uint16

	// CC.
	Redirect PDPAddr

	// Integrity, optional on every message; HasIntegrity tells.
	Integrity    Integrity
	HasIntegrity bool
}

// Reset clears m but keeps the capacity of its slices for reuse by Decode.
func (m *Message) Reset() {
	lp, cs, ds := m.LPDPDecisions[:0], m.ClientSI[:0], m.Decisions[:0]
	*m = Message{LPDPDecisions: lp, ClientSI: cs, Decisions: ds}
}
