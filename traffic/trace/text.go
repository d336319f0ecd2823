package trace

import (
	"bytes"
	"fmt"
)

// SIP (RFC 3261 section 7) and HTTP/1.1 (RFC 9112) share their framing:
// a start line, header lines, a blank line, a body. These helpers work on
// the bytes in place; only what a report keeps becomes a string.

var crlfcrlf = []byte("\r\n\r\n")

// skipCRLF returns how many keep-alive CRLFs (RFC 5626) lead b.
func skipCRLF(b []byte) int {
	n := 0
	for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
		n++
	}
	return n
}

func skipCRLFOnly(b []byte) []byte { return b[skipCRLF(b):] }

// compactHeaders are RFC 3261 section 7.3.3's one-letter header names.
var compactHeaders = [26]string{
	'i' - 'a': "call-id", 'l' - 'a': "content-length", 'c' - 'a': "content-type", 'v' - 'a': "via",
	'f' - 'a': "from", 't' - 'a': "to", 'm' - 'a': "contact", 'e' - 'a': "content-encoding",
	'k' - 'a': "supported", 's' - 'a': "subject",
}

// headerIs tells whether a header name (as sent) is want (lower case),
// in full or compact form.
func headerIs(name []byte, want string) bool {
	if len(name) == 1 {
		c := name[0] | 0x20
		return c >= 'a' && c <= 'z' && compactHeaders[c-'a'] == want
	}
	if len(name) != len(want) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i]|0x20 != want[i] || name[i] < '-' {
			return false
		}
	}
	return true
}

// trimSpace trims spaces and tabs.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// eachHeader calls fn for every header line of a head (the bytes after the
// start line, up to the blank line): name and value trimmed, a folded
// continuation line passed as its own value with the previous name. It
// stops at the first false, or returns an error for a line without colon.
func eachHeader(head []byte, fn func(name, value []byte) bool) error {
	var name []byte
	for len(head) > 0 {
		end := bytes.Index(head, []byte("\r\n"))
		line := head
		if end >= 0 {
			line, head = head[:end], head[end+2:]
		} else {
			head = nil
		}
		if len(line) == 0 {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && name != nil {
			if !fn(name, trimSpace(line)) {
				return nil
			}
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return fmt.Errorf("header line without colon: %.40q", line)
		}
		name = trimSpace(line[:colon])
		if !fn(name, trimSpace(line[colon+1:])) {
			return nil
		}
	}
	return nil
}

// splitHead splits a message into its start line, its header lines and
// what follows the blank line; ok is false when the blank line is not
// there yet.
func splitHead(b []byte) (start, head, rest []byte, ok bool) {
	end := bytes.Index(b, crlfcrlf)
	if end < 0 {
		return nil, nil, nil, false
	}
	h := b[:end+2] // keep the last CRLF so every line ends with one
	nl := bytes.Index(h, []byte("\r\n"))
	return h[:nl], h[nl+2:], b[end+4:], true
}

// isTextStart tells whether a start line is SIP's or HTTP/1.x's.
func isTextStart(start []byte) bool {
	return bytes.Contains(start, []byte("SIP/2.0")) || bytes.Contains(start, []byte("HTTP/1."))
}

// bodyFraming reads Content-Length and Transfer-Encoding: chunked.
func bodyFraming(head []byte) (length int, chunked bool, err error) {
	length = -1
	herr := eachHeader(head, func(name, value []byte) bool {
		switch {
		case headerIs(name, "content-length"):
			n, ok := atoi(value)
			if !ok {
				err = fmt.Errorf("bad Content-Length %q", value)
				return false
			}
			length = n
		case headerIs(name, "transfer-encoding"):
			chunked = chunked || bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		}
		return true
	})
	if herr != nil {
		err = herr
	}
	return length, chunked, err
}

// atoi reads a non-negative decimal number of at most 9 digits.
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// frameText frames SIP over TCP and HTTP/1.1: headers up to the blank
// line, then Content-Length bytes or a chunked body. Keep-alive CRLFs
// between messages are taken as their own (empty) message.
func frameText(b []byte) (int, error) {
	if n := skipCRLF(b); n > 0 {
		return n, nil
	}
	start, head, rest, ok := splitHead(b)
	if !ok {
		if len(b) > 64<<10 {
			return 0, fmt.Errorf("%w: no end of headers in %d bytes", errNotText, len(b))
		}
		if nl := bytes.IndexByte(b, '\n'); nl >= 0 && !isTextStart(b[:nl]) {
			return 0, fmt.Errorf("%w: start line %.40q", errNotText, b[:nl])
		}
		return 0, nil
	}
	if !isTextStart(start) {
		return 0, fmt.Errorf("%w: start line %.40q", errNotText, start)
	}
	length, chunked, err := bodyFraming(head)
	if err != nil {
		return 0, err
	}
	bodyStart := len(b) - len(rest)
	if chunked {
		_, n, complete, err := dechunk(rest, false)
		if err != nil || !complete {
			return 0, err
		}
		return bodyStart + n, nil
	}
	if length < 0 {
		length = 0
	}
	if len(rest) < length {
		return 0, nil
	}
	return bodyStart + length, nil
}

// textMsg is an HTTP message: its start line and its body (decoded when
// chunked).
type textMsg struct {
	Start string
	Body  []byte
}

// parseText parses a whole framed HTTP message (as cut by frameText).
func parseText(b []byte) (textMsg, error) {
	start, head, body, ok := splitHead(b)
	if !ok {
		return textMsg{}, fmt.Errorf("%w: no end of headers", errNotText)
	}
	if !isTextStart(start) {
		return textMsg{}, fmt.Errorf("%w: start line %.40q", errNotText, start)
	}
	m := textMsg{Start: string(start)}
	length, chunked, err := bodyFraming(head)
	if err != nil {
		return m, err
	}
	switch {
	case chunked:
		dec, _, complete, err := dechunk(body, true)
		if err != nil {
			return m, err
		}
		if !complete {
			return m, fmt.Errorf("chunked body is incomplete")
		}
		body = dec
	case length >= 0:
		if length > len(body) {
			return m, fmt.Errorf("Content-Length %d but %d body bytes", length, len(body))
		}
		body = body[:length]
	}
	m.Body = body
	return m, nil
}

// dechunk reads an HTTP/1.1 chunked body (RFC 9112 section 7.1): how many
// bytes of b it takes, whether the last chunk and trailers were there,
// and, when decode is set, the decoded body.
func dechunk(b []byte, decode bool) (body []byte, n int, complete bool, err error) {
	for {
		eol := bytes.Index(b[n:], []byte("\r\n"))
		if eol < 0 {
			return body, n, false, nil
		}
		sizeField := b[n : n+eol]
		if i := bytes.IndexByte(sizeField, ';'); i >= 0 {
			sizeField = sizeField[:i]
		}
		size, ok := hexSize(trimSpace(sizeField))
		if !ok {
			return nil, 0, false, fmt.Errorf("bad chunk size %.20q", sizeField)
		}
		start := n + eol + 2
		if size == 0 {
			// Trailers end with an empty line.
			rest := bytes.Index(b[start:], []byte("\r\n"))
			for rest > 0 {
				start += rest + 2
				rest = bytes.Index(b[start:], []byte("\r\n"))
			}
			if rest < 0 {
				return body, n, false, nil
			}
			return body, start + 2, true, nil
		}
		if len(b) < start+size+2 {
			return body, n, false, nil
		}
		if decode {
			body = append(body, b[start:start+size]...)
		}
		n = start + size + 2
	}
}

func hexSize(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 7 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int(c-'0')
		case c|0x20 >= 'a' && c|0x20 <= 'f':
			n = n<<4 | int(c|0x20-'a'+10)
		default:
			return 0, false
		}
	}
	return n, true
}
