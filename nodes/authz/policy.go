// Package authz decides which calls are authorised, with what DiffServ
// class and bandwidth, or why not. The clearinghouse uses it to answer
// AuthorizationRequests; a policy server without a clearinghouse uses the
// same rules itself.
//
// A policy is the node parameter "policy": rules separated by ';', the
// first rule whose patterns match wins:
//
//	allow <src> -> <dst> [class=<class>] [bw=<bps>]
//	deny  <src> -> <dst> [code=<osp status>] [reason=<text or "quoted text">]
//
// <src> and <dst> are glob patterns (path.Match: *, ?, [a-z]) matched
// against the calling/called party as the request gives it and against its
// user part ("sip:alice@198.18.1.2;tag=x" -> "alice", "tel:+1555" ->
// "+1555"), so "alice", "sip:alice@*" and "+1555*" all work. class is a
// DiffServ class name (EF, AF11..AF43, CS0..CS7, BE; default EF); bw is
// bits per second with an optional k or M suffix (default 80000); code is an
// OSP status code in 400..599 (default 403); reason defaults to
// "denied by policy rule N".
//
// Example:
//
//	deny * -> premium* code=403 reason="premium numbers barred"; allow uac -> uas class=EF bw=128k; allow * -> * class=AF41 bw=64k
//
// Without a "policy" parameter every call is allowed with class EF and
// 80000 bps. With one, a call no rule matches is denied with 403.
package authz

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/qoslab/qoslab/protocol/osp"
)

// Defaults for allow rules and for the absent policy.
const (
	DefaultClass = "EF"
	// DefaultBandwidth is one direction of G.711 at 20 ms with its RTP,
	// UDP and IPv4 headers (50 packets of 200 octets a second): what the
	// proxies ask for, so that a call's gate, its COPS session and its
	// usage record name the same rate unless a rule says otherwise.
	DefaultBandwidth = 80000
	DefaultDenyCode  = 403
)

// Decision is the outcome of a policy for one call.
type Decision struct {
	Allow     bool
	Class     string // DiffServ class granted (allow only)
	Bandwidth int64  // bits per second granted (allow only)
	Code      int    // OSP status code (deny only)
	Reason    string // why a call is denied (deny only)
	Rule      int    // 1-based index of the rule that decided; 0 = default
}

// Rule is one parsed policy rule.
type Rule struct {
	Allow     bool
	Src, Dst  string // glob patterns
	Class     string
	Bandwidth int64
	Code      int
	Reason    string
}

// Policy is an ordered rule list. The zero Policy allows everything with
// the defaults.
type Policy struct {
	rules    []Rule
	explicit bool // a policy was configured: unmatched calls are denied
}

// Param is the node parameter holding the policy.
const Param = "policy"

// FromParams reads the policy from a node's parameters.
func FromParams(params map[string]string) (*Policy, error) {
	s, ok := params[Param]
	if !ok || strings.TrimSpace(s) == "" {
		return &Policy{}, nil
	}
	return Parse(s)
}

// Parse reads a policy in the syntax of the package comment.
func Parse(s string) (*Policy, error) {
	p := &Policy{explicit: true}
	texts, err := splitRules(s)
	if err != nil {
		return nil, err
	}
	for i, text := range texts {
		r, err := parseRule(text)
		if err != nil {
			return nil, fmt.Errorf("authz: rule %d %q: %w", i+1, text, err)
		}
		p.rules = append(p.rules, r)
	}
	if len(p.rules) == 0 {
		return nil, fmt.Errorf("authz: policy %q has no rules", s)
	}
	return p, nil
}

// Rules returns a copy of the parsed rules.
func (p *Policy) Rules() []Rule { return append([]Rule(nil), p.rules...) }

// Decide applies the policy to a call from src to dst.
func (p *Policy) Decide(src, dst string) Decision {
	for i, r := range p.rules {
		if !matchParty(r.Src, src) || !matchParty(r.Dst, dst) {
			continue
		}
		if r.Allow {
			return Decision{Allow: true, Class: r.Class, Bandwidth: r.Bandwidth, Rule: i + 1}
		}
		reason := r.Reason
		if reason == "" {
			reason = fmt.Sprintf("denied by policy rule %d", i+1)
		}
		return Decision{Code: r.Code, Reason: reason, Rule: i + 1}
	}
	if p.explicit {
		return Decision{Code: DefaultDenyCode, Reason: fmt.Sprintf("no policy rule allows %s -> %s", src, dst)}
	}
	return Decision{Allow: true, Class: DefaultClass, Bandwidth: DefaultBandwidth}
}

// String renders the policy back in its own syntax.
func (p *Policy) String() string {
	if !p.explicit {
		return fmt.Sprintf("allow * -> * class=%s bw=%d", DefaultClass, DefaultBandwidth)
	}
	parts := make([]string, len(p.rules))
	for i, r := range p.rules {
		parts[i] = r.String()
	}
	return strings.Join(parts, "; ")
}

// String renders one rule in the policy syntax.
func (r Rule) String() string {
	if r.Allow {
		return fmt.Sprintf("allow %s -> %s class=%s bw=%d", r.Src, r.Dst, r.Class, r.Bandwidth)
	}
	s := fmt.Sprintf("deny %s -> %s code=%d", r.Src, r.Dst, r.Code)
	if r.Reason != "" {
		s += " reason=" + strconv.Quote(r.Reason)
	}
	return s
}

// matchParty matches a glob against a party and against its user part.
func matchParty(pattern, party string) bool {
	if ok, _ := path.Match(pattern, party); ok {
		return true
	}
	if u := UserPart(party); u != party {
		ok, _ := path.Match(pattern, u)
		return ok
	}
	return false
}

// UserPart extracts the user of a SIP/tel URI or name-addr
// ("<sip:alice@host>;tag=1" -> "alice"); other strings come back as they
// are.
func UserPart(party string) string {
	user, _ := osp.SplitParty(party)
	return user
}
