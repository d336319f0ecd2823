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
// with exactly one component. This package decodes both spellings of the
// authorisation components ("Authorisation..." as ETSI writes them and
// "Authorization..." as the toolkit writes some of them) and always emits
// the ETSI spelling "Authorisation...". In Go identifiers, logs and
// docs/FLOW.md the American spelling is used (Kind.String() returns
// "AuthorizationRequest"), so log lines match flow.Kind names whatever the
// wire said.
//
// Decoding is strict: a body larger than MaxMessageSize, a DTD or any other
// directive, an unknown entity, a second root element or trailing garbage,
// a malformed timestamp or a malformed base64 value is an error, never a
// zero value. Unknown elements (toolkit extensions such as CustomerId or
// DeviceId with critical="False") are skipped.
//
// qoslab extensions, all optional and ignored by other implementations'
// parsers that skip unknown elements:
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
//     <MarkedTraffic><Packets>250</Packets><Octets>43000</Octets></MarkedTraffic>.
//     Absent means unknown; present, both counts are required and a
//     malformed count is a decode error. The toolkit's own <Statistics>
//     element is not used for this: its Packets and Octets (inside Metrics
//     or LossSent/LossReceived, with layouts that differ between toolkit
//     versions) are RTP statistics an endpoint measured per direction,
//     not what a router counted for a gate. A <Statistics> element from
//     the toolkit is skipped like any unknown element.
package osp
