package cops

// Kind names the three REQs a SIP proxy sends on the private leg (docs/FLOW.md):
// they share one handle per call and side and differ only in their Context.
type Kind uint8

// REQ kinds (docs/CONTRACTS.md).
const (
	KindUnknown Kind = iota
	// KindAAA is "REQ AAA": R-Type 0x01 (admission), M-Type 1. Sent on INVITE.
	KindAAA
	// KindLDP is "REQ LDP": R-Type 0x02 (resource allocation), M-Type 2. Sent
	// when the media is known (180/200 with SDP); the PDP installs gates.
	KindLDP
	// KindNoLDP is "REQ noLDP": R-Type 0x02, M-Type 3 (release). Sent on BYE;
	// the PDP deletes gates.
	KindNoLDP
)

// String returns "AAA", "LDP" or "noLDP", as docs/FLOW.md and the logs write them.
func (k Kind) String() string {
	switch k {
	case KindAAA:
		return "AAA"
	case KindLDP:
		return "LDP"
	case KindNoLDP:
		return "noLDP"
	}
	return "unknown"
}

// Context returns the Context object that marks a REQ of this kind.
func (k Kind) Context() Context {
	switch k {
	case KindAAA:
		return Context{RType: RTypeAdmission, MType: 1}
	case KindLDP:
		return Context{RType: RTypeResource, MType: 2}
	case KindNoLDP:
		return Context{RType: RTypeResource, MType: 3}
	}
	return Context{}
}

// KindOf tells which kind of REQ a Context marks; KindUnknown if none.
func KindOf(c Context) Kind {
	switch c {
	case KindAAA.Context():
		return KindAAA
	case KindLDP.Context():
		return KindLDP
	case KindNoLDP.Context():
		return KindNoLDP
	}
	return KindUnknown
}
