package trace

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pion/sdp/v3"

	"github.com/qoslab/qoslab/flow"
)

// sipInfo is what the verifier reads from a SIP message.
type sipInfo struct {
	Method     string // request method; for a response, "" (see CSeqMethod)
	Status     int    // response status; 0 for a request
	CallID     string
	CSeqMethod string
	Reason     string         // the Reason header (RFC 3326), if any
	Media      netip.AddrPort // audio address and port of the SDP body, if any
}

// parseSIP decodes one SIP message (a UDP datagram or a message framed
// from a TCP stream).
func parseSIP(b []byte) (sipInfo, error) {
	m, err := parseText(b)
	if err != nil {
		return sipInfo{}, fmt.Errorf("sip: %w", err)
	}
	// RFC 3261 section 25.1: header values are UTF-8 text without control
	// characters. Binary in a header (an unencoded token, say) makes the
	// message unparseable for the next hop.
	for _, h := range m.Headers {
		if bad := strings.IndexFunc(h[1], func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f || r == utf8.RuneError }); bad >= 0 {
			// The Call-ID still says whose message it was.
			return sipInfo{CallID: m.Header("call-id")}, fmt.Errorf("sip: %s: header %s has a control or non-UTF-8 byte at offset %d", m.Start, h[0], bad)
		}
	}
	var s sipInfo
	if strings.HasPrefix(m.Start, "SIP/2.0 ") {
		code, _, _ := strings.Cut(strings.TrimPrefix(m.Start, "SIP/2.0 "), " ")
		if s.Status, err = strconv.Atoi(code); err != nil || s.Status < 100 || s.Status > 699 {
			return s, fmt.Errorf("sip: bad status line %.40q", m.Start)
		}
	} else {
		method, rest, _ := strings.Cut(m.Start, " ")
		if method == "" || !strings.HasSuffix(rest, "SIP/2.0") {
			return s, fmt.Errorf("sip: bad request line %.40q", m.Start)
		}
		s.Method = method
	}
	s.CallID = m.Header("call-id")
	if s.CallID == "" {
		return s, fmt.Errorf("sip: %s without Call-ID", m.Start)
	}
	cseq := strings.Fields(m.Header("cseq"))
	if len(cseq) != 2 {
		return s, fmt.Errorf("sip: %s: bad CSeq %q", m.Start, m.Header("cseq"))
	}
	s.CSeqMethod = cseq[1]
	s.Reason = m.Header("reason")
	if len(m.Body) > 0 && strings.HasPrefix(strings.ToLower(m.Header("content-type")), "application/sdp") {
		if s.Media, err = parseSDP(m.Body); err != nil {
			return s, fmt.Errorf("sip: %s: %w", m.Start, err)
		}
	}
	return s, nil
}

// parseSDP returns the address and port of the first audio stream.
func parseSDP(b []byte) (netip.AddrPort, error) {
	var d sdp.SessionDescription
	if err := d.Unmarshal(b); err != nil {
		return netip.AddrPort{}, fmt.Errorf("sdp: %w", err)
	}
	for _, md := range d.MediaDescriptions {
		if md.MediaName.Media != "audio" {
			continue
		}
		c := d.ConnectionInformation
		if md.ConnectionInformation != nil {
			c = md.ConnectionInformation
		}
		if c == nil || c.Address == nil {
			return netip.AddrPort{}, fmt.Errorf("sdp: audio stream without a connection address")
		}
		a, err := netip.ParseAddr(c.Address.Address)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("sdp: connection address: %w", err)
		}
		p := md.MediaName.Port.Value
		if p <= 0 || p > 65535 {
			return netip.AddrPort{}, fmt.Errorf("sdp: audio port %d", p)
		}
		return netip.AddrPortFrom(a, uint16(p)), nil
	}
	return netip.AddrPort{}, fmt.Errorf("sdp: no audio stream")
}

// what names a SIP message for reports: the method, or the status with
// the method it answers ("200 INVITE").
func (s sipInfo) what() string {
	if s.Method != "" {
		return s.Method
	}
	return strconv.Itoa(s.Status) + " " + s.CSeqMethod
}

// kind classifies a SIP message as docs/FLOW.md does ("" for messages docs/FLOW.md
// does not number, such as 100 Trying).
func (s sipInfo) kind() flow.Kind {
	switch {
	case s.Method == "INVITE":
		return flow.SIPInvite
	case s.Method == "ACK":
		return flow.SIPAck
	case s.Method == "BYE":
		return flow.SIPBye
	case s.Status == 180 && s.CSeqMethod == "INVITE":
		return flow.SIPRinging
	case s.Status == 200 && (s.CSeqMethod == "INVITE" || s.CSeqMethod == "BYE"):
		return flow.SIPOK
	}
	return ""
}
