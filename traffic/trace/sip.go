package trace

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"unicode/utf8"

	"github.com/qoslab/qoslab/flow"
)

// sipInfo is what the verifier reads from a SIP message.
type sipInfo struct {
	Method     string // request method; for a response, "" (see CSeqMethod)
	Status     int    // response status; 0 for a request
	CallID     string
	CSeqMethod string
	CSeq       uint32
	Reason     string // the Reason header (RFC 3326), if any
	// SDP: HasSDP is set for a message with an SDP body; Media is the
	// address and port of its first audio stream (invalid when the stream
	// is refused with port 0) and Direction its attribute (RFC 3264
	// section 6.1: "sendrecv" unless the SDP says "sendonly", "recvonly"
	// or "inactive", or the address is 0.0.0.0, the RFC 2543 hold).
	HasSDP    bool
	Media     netip.AddrPort
	Direction string
	// RecordRoute is set when the message carries Record-Route (RFC 3261
	// section 16.6 step 4): the proxies asked to stay on the dialog's path.
	RecordRoute bool
}

// SDP directions.
const (
	dirSendRecv = "sendrecv"
	dirSendOnly = "sendonly"
	dirRecvOnly = "recvonly"
	dirInactive = "inactive"
)

// sipMethods interns the method names the verifier sees, so that parsing
// them allocates nothing.
var sipMethods = []string{"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "UPDATE", "INFO", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE"}

func methodName(b []byte) string {
	for _, m := range sipMethods {
		if string(b) == m {
			return m
		}
	}
	return string(b)
}

// parseSIP decodes one SIP message (a UDP datagram or a message framed
// from a TCP stream), reading only the start line and the headers the
// verifier needs.
func parseSIP(b []byte) (sipInfo, error) {
	var s sipInfo
	start, head, body, ok := splitHead(b)
	if !ok {
		return s, fmt.Errorf("sip: %w: no end of headers", errNotText)
	}
	if !isTextStart(start) {
		return s, fmt.Errorf("sip: %w: start line %.40q", errNotText, start)
	}
	length := -1
	var sdpType bool
	var badHeader error
	var name []byte
	for rest := head; len(rest) > 0; {
		line := rest
		if end := bytes.Index(rest, []byte("\r\n")); end >= 0 {
			line, rest = rest[:end], rest[end+2:]
		} else {
			rest = nil
		}
		if len(line) == 0 {
			continue
		}
		var value []byte
		if line[0] == ' ' || line[0] == '\t' {
			if name == nil {
				return s, fmt.Errorf("sip: %s: continuation line before any header", start)
			}
			value = trimSpace(line) // a folded line continues name's value
		} else {
			colon := bytes.IndexByte(line, ':')
			if colon < 0 {
				return s, fmt.Errorf("sip: %s: header line without colon: %.40q", start, line)
			}
			name, value = trimSpace(line[:colon]), trimSpace(line[colon+1:])
			switch {
			case headerIs(name, "call-id"):
				if s.CallID == "" {
					s.CallID = string(value)
				}
			case headerIs(name, "cseq"):
				num, method, _ := bytes.Cut(value, []byte(" "))
				method = trimSpace(method)
				n, ok := atoi(num)
				if ok && n > 0 && len(method) > 0 && bytes.IndexAny(method, " \t") < 0 {
					s.CSeq, s.CSeqMethod = uint32(n), methodName(method)
				}
			case headerIs(name, "content-type"):
				sdpType = len(value) >= 15 && bytes.EqualFold(value[:15], []byte("application/sdp"))
			case headerIs(name, "content-length"):
				length, _ = atoi(value)
			case headerIs(name, "reason"):
				s.Reason = string(value)
			case headerIs(name, "record-route"):
				s.RecordRoute = true
			}
		}
		// RFC 3261 section 25.1: header values are UTF-8 text without
		// control characters. Binary in a header (an unencoded token,
		// say) makes the message unparseable for the next hop.
		if i := badText(value); i >= 0 && badHeader == nil {
			badHeader = fmt.Errorf("header %s has a control or non-UTF-8 byte at offset %d", name, i)
		}
	}
	if badHeader != nil {
		// The Call-ID still says whose message it was.
		return sipInfo{CallID: s.CallID}, fmt.Errorf("sip: %s: %w", start, badHeader)
	}
	if bytes.HasPrefix(start, []byte("SIP/2.0 ")) {
		code, _, _ := bytes.Cut(start[8:], []byte(" "))
		n, ok := atoi(code)
		if !ok || n < 100 || n > 699 {
			return s, fmt.Errorf("sip: bad status line %.40q", start)
		}
		s.Status = n
	} else {
		method, rest, _ := bytes.Cut(start, []byte(" "))
		if len(method) == 0 || !bytes.HasSuffix(rest, []byte("SIP/2.0")) {
			return s, fmt.Errorf("sip: bad request line %.40q", start)
		}
		s.Method = methodName(method)
	}
	if s.CallID == "" {
		return s, fmt.Errorf("sip: %s without Call-ID", start)
	}
	if s.CSeqMethod == "" {
		return s, fmt.Errorf("sip: %s: bad or missing CSeq", start)
	}
	if length >= 0 && length <= len(body) {
		body = body[:length]
	}
	if len(body) > 0 && sdpType {
		s.HasSDP = true
		var err error
		if s.Media, s.Direction, err = parseSDP(body); err != nil {
			return s, fmt.Errorf("sip: %s: %w", start, err)
		}
	}
	return s, nil
}

// badText returns the offset of the first control or non-UTF-8 byte of a
// header value, or -1.
func badText(v []byte) int {
	high := false
	for i, c := range v {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return i
		}
		high = high || c >= 0x80
	}
	if high && !utf8.Valid(v) {
		for i := 0; i < len(v); {
			r, n := utf8.DecodeRune(v[i:])
			if r == utf8.RuneError && n <= 1 {
				return i
			}
			i += n
		}
	}
	return -1
}

// parseSDP returns the address and port of the first audio stream (RFC
// 4566 c= and m= lines, the media-level c= overriding the session's) and
// its direction attribute.
func parseSDP(b []byte) (netip.AddrPort, string, error) {
	var (
		sessionAddr, audioAddr []byte
		port                   = -1
		inAudio, audioDone     bool
		sessionDir, audioDir   string
	)
	first := true
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			continue
		}
		if len(line) < 2 || line[1] != '=' {
			return netip.AddrPort{}, "", fmt.Errorf("sdp: bad line %.40q", line)
		}
		if first && line[0] != 'v' {
			return netip.AddrPort{}, "", fmt.Errorf("sdp: first line %.40q, want v=", line)
		}
		first = false
		v := line[2:]
		switch line[0] {
		case 'm':
			if inAudio {
				audioDone = true
			}
			inAudio = false
			if audioDone {
				continue
			}
			media, rest, _ := bytes.Cut(v, []byte(" "))
			if string(media) == "audio" {
				p, _, _ := bytes.Cut(rest, []byte(" "))
				p, _, _ = bytes.Cut(p, []byte("/"))
				n, ok := atoi(p)
				if !ok || n > 65535 {
					return netip.AddrPort{}, "", fmt.Errorf("sdp: audio port in %.40q", line)
				}
				inAudio, port = true, n
			}
		case 'c':
			nettype, rest, _ := bytes.Cut(v, []byte(" "))
			_, addr, ok := bytes.Cut(rest, []byte(" "))
			if string(nettype) != "IN" || !ok || len(addr) == 0 || bytes.IndexByte(addr, ' ') >= 0 {
				return netip.AddrPort{}, "", fmt.Errorf("sdp: bad connection line %.40q", line)
			}
			addr, _, _ = bytes.Cut(addr, []byte("/"))
			switch {
			case port < 0:
				sessionAddr = addr
			case inAudio:
				audioAddr = addr
			}
		case 'a':
			d := ""
			switch string(v) {
			case dirSendRecv, dirSendOnly, dirRecvOnly, dirInactive:
				d = string(v)
			}
			switch {
			case d == "":
			case port < 0:
				sessionDir = d
			case inAudio:
				audioDir = d
			}
		}
	}
	if port < 0 {
		return netip.AddrPort{}, "", fmt.Errorf("sdp: no audio stream")
	}
	addr := audioAddr
	if addr == nil {
		addr = sessionAddr
	}
	if addr == nil {
		return netip.AddrPort{}, "", fmt.Errorf("sdp: audio stream without a connection address")
	}
	a, err := parseAddr(addr)
	if err != nil {
		return netip.AddrPort{}, "", fmt.Errorf("sdp: connection address: %w", err)
	}
	dir := audioDir
	if dir == "" {
		dir = sessionDir
	}
	if dir == "" {
		dir = dirSendRecv
	}
	if a.IsUnspecified() && dir == dirSendRecv {
		dir = dirSendOnly // RFC 2543 hold: c=0.0.0.0 (RFC 3264 section 8.4)
	}
	if port == 0 {
		return netip.AddrPort{}, dirInactive, nil // the stream is refused
	}
	return netip.AddrPortFrom(a, uint16(port)), dir, nil
}

// parseAddr parses an IP address, dotted IPv4 without allocating.
func parseAddr(b []byte) (netip.Addr, error) {
	var ip [4]byte
	part, n, digits := 0, 0, 0
	for i := 0; i <= len(b); i++ {
		if i == len(b) || b[i] == '.' {
			if digits == 0 || n > 255 || part > 3 {
				return netip.ParseAddr(string(b))
			}
			ip[part] = byte(n)
			part, n, digits = part+1, 0, 0
			continue
		}
		c := b[i]
		if c < '0' || c > '9' || digits == 3 {
			return netip.ParseAddr(string(b))
		}
		n, digits = n*10+int(c-'0'), digits+1
	}
	if part != 4 {
		return netip.ParseAddr(string(b))
	}
	return netip.AddrFrom4(ip), nil
}

// what names a SIP message for reports: the method, or the status with
// the method it answers ("200 INVITE").
func (s sipInfo) what() string {
	if s.Method != "" {
		return s.Method
	}
	for _, w := range commonResponses {
		if w.status == s.Status && w.method == s.CSeqMethod {
			return w.what
		}
	}
	return strconv.Itoa(s.Status) + " " + s.CSeqMethod
}

// commonResponses names the responses of every call without allocating.
var commonResponses = []struct {
	status       int
	method, what string
}{
	{100, "INVITE", "100 INVITE"}, {180, "INVITE", "180 INVITE"}, {183, "INVITE", "183 INVITE"},
	{200, "INVITE", "200 INVITE"}, {200, "BYE", "200 BYE"}, {200, "CANCEL", "200 CANCEL"},
	{487, "INVITE", "487 INVITE"},
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
