package trace

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// textMsg is a SIP or HTTP message split into its start line, headers and
// body. Header names are kept as sent; lookups ignore case and know SIP's
// compact forms.
type textMsg struct {
	Start   string
	Headers [][2]string
	Body    []byte
}

// compactHeaders are RFC 3261 section 7.3.3's one-letter header names.
var compactHeaders = map[string]string{
	"i": "call-id", "l": "content-length", "c": "content-type", "v": "via",
	"f": "from", "t": "to", "m": "contact", "e": "content-encoding", "k": "supported", "s": "subject",
}

// Header returns the first value of a header ("" when absent).
func (m *textMsg) Header(name string) string {
	for _, h := range m.Headers {
		if headerIs(h[0], name) {
			return h[1]
		}
	}
	return ""
}

func headerIs(have, want string) bool {
	if strings.EqualFold(have, want) {
		return true
	}
	full, ok := compactHeaders[strings.ToLower(have)]
	return ok && strings.EqualFold(full, want)
}

// skipCRLF returns how many keep-alive CRLFs (RFC 5626) lead b.
func skipCRLF(b []byte) int {
	n := 0
	for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
		n++
	}
	return n
}

// frameText frames SIP over TCP and HTTP/1.1: headers up to the blank
// line, then Content-Length bytes or a chunked body. Keep-alive CRLFs
// between messages are taken as their own (empty) message.
func frameText(b []byte) (int, error) {
	if n := skipCRLF(b); n > 0 {
		return n, nil
	}
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) > 64<<10 {
			return 0, fmt.Errorf("%w: no end of headers in %d bytes", errNotText, len(b))
		}
		return 0, nil
	}
	head, err := parseHead(b[:end])
	if err != nil {
		return 0, err
	}
	bodyStart := end + 4
	if strings.Contains(strings.ToLower(head.Header("transfer-encoding")), "chunked") {
		_, n, complete, err := dechunk(b[bodyStart:])
		if err != nil || !complete {
			return 0, err
		}
		return bodyStart + n, nil
	}
	cl := 0
	if v := head.Header("content-length"); v != "" {
		cl, err = strconv.Atoi(strings.TrimSpace(v))
		if err != nil || cl < 0 {
			return 0, fmt.Errorf("bad Content-Length %q", v)
		}
	}
	if len(b) < bodyStart+cl {
		return 0, nil
	}
	return bodyStart + cl, nil
}

// parseHead parses a start line and headers (without the blank line).
func parseHead(b []byte) (textMsg, error) {
	var m textMsg
	lines := strings.Split(string(b), "\r\n")
	m.Start = lines[0]
	if !strings.Contains(m.Start, "SIP/2.0") && !strings.Contains(m.Start, "HTTP/1.") {
		return m, fmt.Errorf("%w: start line %.40q", errNotText, m.Start)
	}
	for _, l := range lines[1:] {
		if l == "" {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(m.Headers) > 0 {
			m.Headers[len(m.Headers)-1][1] += " " + strings.TrimSpace(l) // folded line
			continue
		}
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			return m, fmt.Errorf("header line without colon: %.40q", l)
		}
		m.Headers = append(m.Headers, [2]string{strings.TrimSpace(name), strings.TrimSpace(val)})
	}
	return m, nil
}

// parseText parses a whole framed SIP or HTTP message (as cut by
// frameText, or one UDP datagram). A chunked HTTP body is decoded.
func parseText(b []byte) (textMsg, error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return textMsg{}, fmt.Errorf("%w: no end of headers", errNotText)
	}
	m, err := parseHead(b[:end])
	if err != nil {
		return m, err
	}
	body := b[end+4:]
	if strings.Contains(strings.ToLower(m.Header("transfer-encoding")), "chunked") {
		dec, _, complete, err := dechunk(body)
		if err != nil {
			return m, err
		}
		if !complete {
			return m, fmt.Errorf("chunked body is incomplete")
		}
		body = dec
	} else if v := m.Header("content-length"); v != "" {
		cl, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || cl < 0 || cl > len(body) {
			return m, fmt.Errorf("Content-Length %q but %d body bytes", v, len(body))
		}
		body = body[:cl]
	}
	m.Body = body
	return m, nil
}

// dechunk decodes an HTTP/1.1 chunked body (RFC 9112 section 7.1). It
// returns the decoded body, how many bytes of b it used, and whether the
// last chunk and trailers were there.
func dechunk(b []byte) (body []byte, n int, complete bool, err error) {
	for {
		eol := bytes.Index(b[n:], []byte("\r\n"))
		if eol < 0 {
			return body, n, false, nil
		}
		sizeField, _, _ := strings.Cut(string(b[n:n+eol]), ";")
		size, perr := strconv.ParseInt(strings.TrimSpace(sizeField), 16, 32)
		if perr != nil || size < 0 {
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
		if len(b) < start+int(size)+2 {
			return body, n, false, nil
		}
		body = append(body, b[start:start+int(size)]...)
		n = start + int(size) + 2
	}
}
