package flow

// Source says where the flows come from.
const Source = "patent WO 01/35294, FIG. 5 (setup) " +
	"and FIG. 6 (teardown). Step numbers are the patent's own; the e2e suites and `qoslab verify` " +
	"report every step by this number, so a person can hold a capture next to the patent."

// RoleGroup is a line of docs/FLOW.md's list of nodes.
type RoleGroup struct {
	Roles []string
	What  string
}

// Roles lists the nodes of the patent's network.
var Roles = []RoleGroup{
	{[]string{UAC, UAS}, "SIP user agents"},
	{[]string{SIP1, SIP2}, "stateful SIP proxies, COPS PEPs"},
	{[]string{POL1, POL2}, "policy servers, COPS PDPs, OSP clients"},
	{[]string{R1, R2}, "DiffServ edge routers, COPS PEPs"},
	{[]string{CH}, "OSP clearinghouse"},
}

// Sides says which roles serve which end of the call.
const Sides = "SIP1/POL1/R1 serve the UAC's side (originating), SIP2/POL2/R2 the UAS's side " +
	"(terminating), CH is shared."

// Leg is one row of docs/FLOW.md's table of wire protocols.
type Leg struct {
	Leg, Protocol, Transport, Notes string
}

// Legs are the wire protocols between the roles, with their defaults.
var Legs = []Leg{
	{"UA <-> proxy <-> proxy", "SIP (RFC 3261) with SDP", "UDP 5060",
		"proxies Record-Route, so BYE crosses SIP1 and SIP2"},
	{"SIPn <-> POLn", "COPS (RFC 2748), private client-type in 0x4000-0x7FFF", "TCP 3288, PEP connects",
		`"REQ AAA", "REQ LDP", "REQ noLDP" are REQs on one handle per call and side, told apart by Context R-Type/M-Type`},
	{"POLn <-> Rn", "COPS, PacketCable Multimedia client-type 0x800A (Gate-Set / Gate-Delete and their Acks)",
		"TCP 3918, policy server connects to the router, router sends OPN", "Wireshark decodes these objects natively"},
	{"POLn <-> CH", "OSP (ETSI TS 101 321) XML over HTTP POST", "TCP 1080",
		`AuthorizationRequest/Response with token, UsageIndication/Confirmation; accept both "Authorisation" and "Authorization" spellings`},
	{"media", "RTP (RFC 3550), G.711, 20 ms", "UDP, ports from SDP",
		"marked EF (DSCP 46) by the edge router only while a gate is installed"},
}

// Gate is one of a call's two gates as the DSCP rule reads it: the
// router of a side marks what that side's UA sends, from the Ack of its
// Gate-Set (setup) to the Ack of its Gate-Delete (teardown).
type Gate struct {
	Side            Side
	Router, Marks   string // R1 marks what the UAC sends, R2 what the UAS sends
	Set, Installed  int    // setup steps: the Gate-Set and its Ack
	Delete, Removed int    // teardown steps: the Gate-Delete and its Ack
}

// Gates returns the two gates of a call of the main line, read from the
// tables: a gate's steps are the Gate-Set and Gate-Delete its router
// receives and the Acks it sends.
func Gates() []Gate { return gates(&fig5, &fig6) }
