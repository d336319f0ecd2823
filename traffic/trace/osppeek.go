package trace

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"github.com/qoslab/qoslab/protocol/osp"
)

// ospSummary is what the verifier needs of an OSP message: which
// component it carries, the SIP Call-ID it is about and the status code of
// an answer.
type ospSummary struct {
	Kind   osp.Kind
	CallID string
	Status int
}

// ospComponents maps component element names (both spellings of ETSI TS
// 101 321's "Authorisation") to kinds.
var ospComponents = map[string]osp.Kind{
	"AuthorisationRequest": osp.KindAuthorizationRequest, "AuthorizationRequest": osp.KindAuthorizationRequest,
	"AuthorisationResponse": osp.KindAuthorizationResponse, "AuthorizationResponse": osp.KindAuthorizationResponse,
	"AuthorisationIndication": osp.KindAuthorizationIndication, "AuthorizationIndication": osp.KindAuthorizationIndication,
	"AuthorisationConfirmation": osp.KindAuthorizationConfirmation, "AuthorizationConfirmation": osp.KindAuthorizationConfirmation,
	"UsageIndication": osp.KindUsageIndication, "UsageConfirmation": osp.KindUsageConfirmation,
}

var errOSPMalformed = errors.New("osp: malformed message")

// peekOSP reads an OSP body without building it: a single pass over the
// XML that checks it is well formed (one root element Message, tags
// nested and closed, no DTD) and picks out the component, its CallId
// (directly in the component, or in an AuthorisationResponse's
// Destination) and its Status Code. protocol/osp's Unmarshal builds the
// whole message with encoding/xml at ~100 times the cost; the verifier
// reads thousands of these per second of capture.
func peekOSP(b []byte) (ospSummary, error) {
	var (
		sum        ospSummary
		stack      [16][]byte
		depth      int
		rootSeen   bool
		components int
		callID     []byte
		callEnc    []byte
		inCallID   bool
		inCode     bool
		code       []byte
		statusSeen bool
	)
	bad := func(why string, args ...any) (ospSummary, error) {
		return ospSummary{}, fmt.Errorf("%w: %s", errOSPMalformed, fmt.Sprintf(why, args...))
	}
	if len(b) > osp.MaxMessageSize {
		return bad("%d bytes, limit %d", len(b), osp.MaxMessageSize)
	}
	for i := 0; i < len(b); {
		if b[i] != '<' {
			end := bytes.IndexByte(b[i:], '<')
			if end < 0 {
				end = len(b) - i
			}
			text := b[i : i+end]
			switch {
			case depth == 0:
				if len(bytes.TrimSpace(text)) > 0 {
					return bad("text outside the root element")
				}
			case inCallID:
				callID = append(callID, text...)
			case inCode:
				code = append(code, text...)
			}
			i += end
			continue
		}
		rest := b[i:]
		switch {
		case bytes.HasPrefix(rest, []byte("<?")):
			end := bytes.Index(rest, []byte("?>"))
			if end < 0 || rootSeen || depth > 0 {
				return bad("bad processing instruction")
			}
			i += end + 2
		case bytes.HasPrefix(rest, []byte("<!--")):
			end := bytes.Index(rest[4:], []byte("-->"))
			if end < 0 {
				return bad("unterminated comment")
			}
			i += 4 + end + 3
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			end := bytes.Index(rest, []byte("]]>"))
			if end < 0 || depth == 0 {
				return bad("bad CDATA section")
			}
			switch {
			case inCallID:
				callID = append(callID, rest[9:end]...)
			case inCode:
				code = append(code, rest[9:end]...)
			}
			i += end + 3
		case bytes.HasPrefix(rest, []byte("<!")):
			return bad("DTDs and other directives are refused")
		case bytes.HasPrefix(rest, []byte("</")):
			end := bytes.IndexByte(rest, '>')
			if end < 0 || depth == 0 {
				return bad("stray end tag")
			}
			name := bytes.TrimSpace(rest[2:end])
			if !bytes.Equal(name, stack[depth-1]) {
				return bad("end tag %q closes %q", name, stack[depth-1])
			}
			depth--
			inCallID, inCode = false, false
			i += end + 1
		default:
			end := bytes.IndexByte(rest, '>')
			if end < 0 {
				return bad("unterminated tag")
			}
			tag := rest[1:end]
			selfClosing := bytes.HasSuffix(tag, []byte("/"))
			if selfClosing {
				tag = tag[:len(tag)-1]
			}
			name, attrs := tag, []byte(nil)
			if k := bytes.IndexAny(tag, " \t\r\n"); k >= 0 {
				name, attrs = tag[:k], tag[k:]
			}
			if len(name) == 0 {
				return bad("empty tag name")
			}
			switch depth {
			case 0:
				if rootSeen {
					return bad("more than one root element")
				}
				if string(name) != "Message" {
					return bad("root element %q, want Message", name)
				}
				rootSeen = true
			case 1:
				if k, ok := ospComponents[string(name)]; ok {
					sum.Kind = k
					components++
				}
			case 2, 3:
				parent := stack[depth-1]
				isCallID := string(name) == "CallId" && (depth == 2 || depth == 3 && string(parent) == "Destination")
				if isCallID && callID == nil {
					inCallID, callEnc = !selfClosing, attr(attrs, "encoding")
					callID = []byte{}
				}
				if depth == 2 && string(name) == "Status" {
					statusSeen = true
				}
				if depth == 3 && string(parent) == "Status" && string(name) == "Code" && code == nil {
					inCode, code = !selfClosing, []byte{}
				}
			}
			if !selfClosing {
				if depth == len(stack) {
					return bad("elements nested deeper than %d", len(stack))
				}
				stack[depth] = name
				depth++
			}
			i += end + 1
		}
	}
	if !rootSeen || depth != 0 {
		return bad("no complete Message element")
	}
	if components != 1 {
		return bad("Message carries %d known components, want 1", components)
	}
	if callID != nil {
		v := unescapeXML(callID)
		switch string(bytes.ToLower(callEnc)) {
		case "base64":
			dec := make([]byte, base64.StdEncoding.DecodedLen(len(v)))
			n, err := base64.StdEncoding.Decode(dec, bytes.Join(bytes.Fields(v), nil))
			if err != nil {
				return bad("CallId: malformed base64: %v", err)
			}
			sum.CallID = string(dec[:n])
		case "", "cdata":
			sum.CallID = string(v)
		default:
			return bad("CallId: unsupported encoding %q", callEnc)
		}
	}
	answer := sum.Kind == osp.KindAuthorizationResponse || sum.Kind == osp.KindAuthorizationConfirmation || sum.Kind == osp.KindUsageConfirmation
	if statusSeen && code != nil {
		n, err := strconv.Atoi(string(bytes.TrimSpace(code)))
		if err != nil {
			return bad("Status Code %q", code)
		}
		sum.Status = n
	}
	if answer && sum.Status == 0 {
		return bad("%s without a Status Code", sum.Kind)
	}
	return sum, nil
}

// attr returns the value of an attribute in a tag's attribute text.
func attr(attrs []byte, name string) []byte {
	for len(attrs) > 0 {
		attrs = bytes.TrimLeft(attrs, " \t\r\n")
		eq := bytes.IndexByte(attrs, '=')
		if eq < 0 || eq+1 >= len(attrs) {
			return nil
		}
		key := bytes.TrimSpace(attrs[:eq])
		q := attrs[eq+1]
		if q != '"' && q != '\'' {
			return nil
		}
		end := bytes.IndexByte(attrs[eq+2:], q)
		if end < 0 {
			return nil
		}
		if string(key) == name {
			return attrs[eq+2 : eq+2+end]
		}
		attrs = attrs[eq+2+end+1:]
	}
	return nil
}

// unescapeXML replaces the five predefined entities and character
// references (XML 1.0 section 4.6).
func unescapeXML(b []byte) []byte {
	if bytes.IndexByte(b, '&') < 0 {
		return b
	}
	var out []byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '&')
		if i < 0 {
			return append(out, b...)
		}
		out = append(out, b[:i]...)
		b = b[i:]
		end := bytes.IndexByte(b, ';')
		if end < 0 {
			return append(out, b...)
		}
		ent := string(b[1:end])
		switch {
		case ent == "amp":
			out = append(out, '&')
		case ent == "lt":
			out = append(out, '<')
		case ent == "gt":
			out = append(out, '>')
		case ent == "quot":
			out = append(out, '"')
		case ent == "apos":
			out = append(out, '\'')
		case len(ent) > 2 && ent[0] == '#' && (ent[1] == 'x' || ent[1] == 'X'):
			n, _ := strconv.ParseUint(ent[2:], 16, 32)
			out = append(out, string(rune(n))...)
		case len(ent) > 1 && ent[0] == '#':
			n, _ := strconv.ParseUint(ent[1:], 10, 32)
			out = append(out, string(rune(n))...)
		default:
			out = append(out, b[:end+1]...)
		}
		b = b[end+1:]
	}
	return out
}
