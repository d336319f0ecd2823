// Package osp implements the Open Settlement Protocol (ETSI TS 101 321) as
// the open implementations (the TransNexus OSP toolkit) put it on the wire:
// XML messages carried in HTTP/1.1 POST bodies.
//
// A message is a root element
//
//	<Message messageId="..." random="...">
//	  <AuthorisationRequest componentId="..."> ... </AuthorisationRequest>
//	</Message>
//
// with exactly one component: AuthorisationRequest/Response,
// AuthorisationIndication/Confirmation (online token validation),
// UsageIndication/Confirmation, ReauthorisationRequest/Response,
// CapabilitiesIndication/Confirmation. This package decodes both
// spellings of the authorisation components ("Authorisation..." as ETSI
// writes them and "Authorization..." as the OSP Toolkit writes its
// requests) and records which one a message used (Message.Spelling);
// Marshal writes ETSI's unless told otherwise, and Handler answers in the
// request's spelling, because the toolkit reads AuthorizationConfirmation
// and ReauthorizationResponse only spelt its way. In Go identifiers, logs
// and docs/FLOW.md the American spelling is used (Kind.String() returns
// "AuthorizationRequest"), so log lines match flow.Kind names whatever the
// wire said.
//
// Be strict in what you send, tolerant in what you receive (each rule is
// checked against the toolkit's own bodies, testdata/toolkit433_*.xml):
//
//   - Decoding is strict where safety is at stake: a body larger than
//     MaxMessageSize, a DTD or any other directive, an unknown entity, a
//     second root element or trailing garbage, a malformed timestamp,
//     number or base64 value is an error, never a zero value.
//   - It is tolerant of how writers lay text out: identifiers, parties and
//     words are trimmed (the toolkit puts a newline after every start
//     tag), Amount and PostDialDelay are decimal seconds ("5.250", also
//     whole "5"; see Seconds), ReleaseSource a word in any case or the
//     digits qoslab wrote before (see ReleaseSource). Unknown elements
//     (toolkit extensions such as CustomerId, OSPVersion, Statistics) are
//     skipped.
//   - Every answer Handler writes carries Content-Length and is never
//     chunked (the toolkit needs the length).
//   - A token's signed content starts with an XML declaration (the
//     toolkit tells XML tokens from its ASCII ones by it) and holds no
//     line break.
//
// qoslab extensions, all optional and marked critical="False" on the wire
// (ETSI TS 101 321 makes an element critical unless it says otherwise, and
// the toolkit refuses a message with an unknown critical element):
//   - <Role> in an AuthorisationRequest ("source" for the originating policy
//     server, "destination" for the terminating one), as UsageIndication
//     already has it; without it a request that carries a Token is taken as
//     the destination side.
//   - <Token> in an AuthorisationRequest: the terminating side presents the
//     token it received so that the clearinghouse validates it.
//   - <ServiceClass> and <Bandwidth> in a Destination, TokenInfo and
//     UsageIndication: the DiffServ class and the bit rate granted.
//   - <MarkedTraffic> in a UsageIndication: the packets and octets the edge
//     router marked for the call's gate (see MarkedTraffic), e.g.
//     <MarkedTraffic critical="False"><Packets>250</Packets><Octets>43000</Octets></MarkedTraffic>.
//     Absent means unknown; present, both counts are required and a
//     malformed count is a decode error. The toolkit's own <Statistics>
//     element is not used for this: its Packets and Octets (inside Metrics
//     or LossSent/LossReceived, with layouts that differ between toolkit
//     versions) are RTP statistics an endpoint measured per direction,
//     not what a router counted for a gate. A <Statistics> element from
//     the toolkit is skipped like any unknown element.
//
// The lab PKI (WriteLabPKI) gives every node a certificate from one lab CA,
// with the node's topology role as its subject OU (the clearinghouse
// serves only RolePolicyServer) and its addresses as IP SANs. The CA, the
// clearinghouse and the policy servers have RSA-2048 keys, which the
// toolkit can load and verify; the other nodes ECDSA P-256.
package osp
