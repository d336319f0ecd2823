package authz

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// splitRules splits on ';' outside double quotes and drops empty rules.
func splitRules(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inQuote, escaped := false, false
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
		case r == '\\' && inQuote:
			escaped = true
		case r == '"':
			inQuote = !inQuote
		case r == ';' && !inQuote:
			if t := strings.TrimSpace(cur.String()); t != "" {
				out = append(out, t)
			}
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	if inQuote {
		return nil, errors.New("authz: unterminated quote in policy")
	}
	if t := strings.TrimSpace(cur.String()); t != "" {
		out = append(out, t)
	}
	return out, nil
}

// fields splits a rule into words; a double-quoted value (reason="a b")
// stays one word, unquoted.
func fields(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	have := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			q, err := strconv.QuotedPrefix(s[i:])
			if err != nil {
				return nil, fmt.Errorf("bad quoted text at %q", s[i:])
			}
			v, _ := strconv.Unquote(q)
			cur.WriteString(v)
			have = true
			i += len(q) - 1
		case c == ' ' || c == '\t' || c == '\n':
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out, nil
}

func parseRule(text string) (Rule, error) {
	// "a->b" written without spaces is accepted too.
	text = strings.Replace(text, "->", " -> ", 1)
	w, err := fields(text)
	if err != nil {
		return Rule{}, err
	}
	if len(w) < 4 || w[2] != "->" {
		return Rule{}, errors.New("want: allow|deny <src> -> <dst> [key=value ...]")
	}
	r := Rule{Src: w[1], Dst: w[3]}
	for _, pat := range []string{r.Src, r.Dst} {
		// Patterns are single words so that a rule renders back to text
		// that parses to the same rule.
		if pat == "" || strings.ContainsAny(pat, " \t\n\r\";") || strings.Contains(pat, "->") {
			return Rule{}, fmt.Errorf("bad pattern %q: want a non-empty word without quotes, ';' or '->'", pat)
		}
		if _, err := path.Match(pat, ""); err != nil {
			return Rule{}, fmt.Errorf("bad pattern %q: %w", pat, err)
		}
	}
	switch w[0] {
	case "allow":
		r.Allow, r.Class, r.Bandwidth = true, DefaultClass, DefaultBandwidth
	case "deny":
		r.Code = DefaultDenyCode
	default:
		return Rule{}, fmt.Errorf("verb %q, want allow or deny", w[0])
	}
	for _, kv := range w[4:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return Rule{}, fmt.Errorf("option %q is not key=value", kv)
		}
		if err := r.set(k, v); err != nil {
			return Rule{}, err
		}
	}
	return r, nil
}

func (r *Rule) set(k, v string) error {
	switch {
	case k == "class" && r.Allow:
		c := strings.ToUpper(v)
		if _, ok := DSCP(c); !ok {
			return fmt.Errorf("unknown DiffServ class %q", v)
		}
		r.Class = c
	case k == "bw" && r.Allow:
		bw, err := ParseBandwidth(v)
		if err != nil {
			return err
		}
		r.Bandwidth = bw
	case k == "code" && !r.Allow:
		n, err := strconv.Atoi(v)
		if err != nil || n < 400 || n > 599 {
			return fmt.Errorf("code %q: want an OSP status code in 400..599", v)
		}
		r.Code = n
	case k == "reason" && !r.Allow:
		r.Reason = v
	default:
		verb := "deny"
		if r.Allow {
			verb = "allow"
		}
		return fmt.Errorf("option %q does not apply to %s", k, verb)
	}
	return nil
}

// ParseBandwidth reads bits per second: "64000", "64k", "2M".
func ParseBandwidth(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1000, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1000000, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > 10_000_000_000/mult {
		return 0, fmt.Errorf("bandwidth %q: want a positive number of bit/s, optionally with k or M", s)
	}
	return n * mult, nil
}
