package topology

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
)

var (
	nameRE  = regexp.MustCompile(`^[a-z][a-z0-9]{0,11}$`)
	labRE   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,19}$`)
	ifaceRE = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,14}$`)
)

// RoleRouter is the one role the builder itself cares about: routers
// forward (ip_forward=1) and carry routes between the other nodes.
const RoleRouter = "router"

// ValidateLabName checks a lab name: it becomes part of namespace names.
func ValidateLabName(name string) error {
	if !labRE.MatchString(name) {
		return fmt.Errorf("topology: lab name %q: want 1-20 characters [a-z0-9-], starting with a letter", name)
	}
	return nil
}

// Validate checks a spec against the roles that exist and reports every
// problem it finds, each naming the file, line and node or link.
func (s *Spec) Validate(knownRoles []string) error {
	var errs []error
	bad := func(line int, what, format string, args ...any) {
		errs = append(errs, &SpecError{File: s.file, Line: line, What: what, Msg: fmt.Sprintf(format, args...)})
	}
	if s.Name != "" {
		if err := ValidateLabName(s.Name); err != nil {
			bad(0, "name", "%q is not a valid lab name (1-20 characters [a-z0-9-], starting with a letter)", s.Name)
		}
	}
	if len(s.Nodes) == 0 {
		bad(0, "", "no nodes")
	}
	names := map[string]int{}
	for _, n := range s.Nodes {
		what := fmt.Sprintf("node %q", n.Name)
		switch {
		case n.Name == "":
			bad(n.line, "node", "missing name")
		case !nameRE.MatchString(n.Name):
			bad(n.line, what, "name must be 1-12 characters [a-z0-9], starting with a letter")
		}
		if first, dup := names[n.Name]; dup && n.Name != "" {
			bad(n.line, what, "duplicate name (first defined on line %d)", first)
		} else {
			names[n.Name] = n.line
		}
		if n.Role == "" {
			bad(n.line, what, "missing role (one of %v)", knownRoles)
		} else if !slices.Contains(knownRoles, n.Role) {
			bad(n.line, what, "unknown role %q (one of %v)", n.Role, knownRoles)
		}
	}
	ifaces := map[string]int{}
	addrs := map[netip.Addr]string{}
	var subnets []netip.Prefix
	linked := map[string]bool{}
	for i, l := range s.Links {
		what := fmt.Sprintf("link %d", i+1)
		if len(l.Endpoints) != 2 {
			bad(l.line, what, "want exactly 2 endpoints \"node:iface\", have %d", len(l.Endpoints))
			continue
		}
		for _, ep := range l.Endpoints {
			node, ifc, ok := endpoint(ep)
			if !ok {
				bad(l.line, what, "endpoint %q: want \"node:iface\"", ep)
				continue
			}
			if _, exists := names[node]; !exists {
				bad(l.line, what, "endpoint %q: no node named %q", ep, node)
			}
			if !ifaceRE.MatchString(ifc) || ifc == "lo" {
				bad(l.line, what, "endpoint %q: interface name must be 1-15 characters [a-z0-9_.-], not lo", ep)
			}
			if first, dup := ifaces[ep]; dup {
				bad(l.line, what, "endpoint %q already used by the link on line %d", ep, first)
			}
			ifaces[ep] = l.line
			linked[node] = true
		}
		a, _, _ := endpoint(l.Endpoints[0])
		if b, _, _ := endpoint(l.Endpoints[1]); a != "" && a == b {
			bad(l.line, what, "both endpoints are on node %q", a)
		}
		switch len(l.Addresses) {
		case 0:
		case 2:
			var ps [2]netip.Prefix
			ok := true
			for j, a := range l.Addresses {
				p, err := parseIfaceAddr(a)
				if err != nil {
					bad(l.line, what, "address %q: %v", a, err)
					ok = false
					continue
				}
				ps[j] = p
				if other, clash := addrs[p.Addr()]; clash {
					bad(l.line, what, "address %s clashes with %s", p.Addr(), other)
				}
				addrs[p.Addr()] = l.Endpoints[j]
			}
			if !ok {
				continue
			}
			if ps[0].Masked() != ps[1].Masked() {
				bad(l.line, what, "addresses %s and %s are not in one subnet", ps[0], ps[1])
				continue
			}
			for _, sn := range subnets {
				if sn.Overlaps(ps[0].Masked()) {
					bad(l.line, what, "subnet %s overlaps subnet %s of another link", ps[0].Masked(), sn)
				}
			}
			subnets = append(subnets, ps[0].Masked())
		default:
			bad(l.line, what, "want 2 addresses (one per endpoint) or none, have %d", len(l.Addresses))
		}
	}
	for _, n := range s.Nodes {
		if n.Name != "" && !linked[n.Name] && len(s.Nodes) > 1 {
			bad(n.line, fmt.Sprintf("node %q", n.Name), "has no link")
		}
	}
	return errors.Join(errs...)
}
