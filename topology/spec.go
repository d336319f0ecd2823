// Package topology turns a lab description into kernel objects and running
// node processes: it parses and validates the YAML spec, plans addresses and
// routes, builds network namespaces and veth pairs over netlink, launches one
// node process per namespace, and tears all of it down again.
package topology

import (
	"bytes"
	_ "embed"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultSpecName is the file name errors use for the embedded topology.
const DefaultSpecName = "default.yaml (built in)"

// Spec is a lab description as written in YAML. It is configuration only:
// the runtime view of a built lab is Plan.
type Spec struct {
	Name  string     `yaml:"name"`
	Nodes []NodeSpec `yaml:"nodes"`
	Links []LinkSpec `yaml:"links"`

	file string // where the spec came from, for error messages
}

// NodeSpec is one node: a name, a role, and role parameters.
type NodeSpec struct {
	Name   string            `yaml:"name"`
	Role   string            `yaml:"role"`
	Params map[string]string `yaml:"params"`

	line int
}

// LinkSpec is a point-to-point link between two node interfaces, written
// "node:iface". Addresses are optional; both or neither must be given.
type LinkSpec struct {
	Endpoints []string `yaml:"endpoints"`
	Addresses []string `yaml:"addresses"`

	line int
}

// UnmarshalYAML records the line a node starts on, for error messages.
func (n *NodeSpec) UnmarshalYAML(v *yaml.Node) error {
	type plain NodeSpec
	if err := checkKeys(v, "name", "role", "params"); err != nil {
		return err
	}
	if err := v.Decode((*plain)(n)); err != nil {
		return err
	}
	n.line = v.Line
	return nil
}

// UnmarshalYAML records the line a link starts on, for error messages.
func (l *LinkSpec) UnmarshalYAML(v *yaml.Node) error {
	type plain LinkSpec
	if err := checkKeys(v, "endpoints", "addresses"); err != nil {
		return err
	}
	if err := v.Decode((*plain)(l)); err != nil {
		return err
	}
	l.line = v.Line
	return nil
}

// SpecError is a problem in a topology file, located as precisely as the
// file allows.
type SpecError struct {
	File string
	Line int    // 0 when the problem has no single line
	What string // e.g. `node "sip9"`
	Msg  string
}

func (e *SpecError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.What != "" {
		return fmt.Sprintf("topology: %s: %s: %s", loc, e.What, e.Msg)
	}
	return fmt.Sprintf("topology: %s: %s", loc, e.Msg)
}

// checkKeys refuses unknown fields: yaml.v3's KnownFields does not reach
// into types with their own UnmarshalYAML.
func checkKeys(v *yaml.Node, allowed ...string) error {
	if v.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k := v.Content[i]
		ok := false
		for _, a := range allowed {
			ok = ok || k.Value == a
		}
		if !ok {
			return fmt.Errorf("line %d: field %q not allowed here (want one of %v)", k.Line, k.Value, allowed)
		}
	}
	return nil
}

// DefaultSpec returns the built-in FIG. 5 topology.
func DefaultSpec() (*Spec, error) { return ParseSpec(DefaultSpecName, defaultYAML) }

// LoadSpec reads and parses a topology file.
func LoadSpec(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	return ParseSpec(path, b)
}

// ParseSpec parses YAML. Unknown fields are errors: a typo in a topology
// must not silently build a different lab.
func ParseSpec(file string, b []byte) (*Spec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, &SpecError{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	s.file = file
	return &s, nil
}

// File is where the spec was read from.
func (s *Spec) File() string { return s.file }

// Node returns the node spec with the given name.
func (s *Spec) Node(name string) (NodeSpec, bool) {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return NodeSpec{}, false
}

// endpoint splits "node:iface".
func endpoint(s string) (node, iface string, ok bool) {
	node, iface, ok = strings.Cut(s, ":")
	return node, iface, ok && node != "" && iface != ""
}

// parseIfaceAddr parses "198.18.1.1/24".
func parseIfaceAddr(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%s: only IPv4 addresses are supported", s)
	}
	if p.Bits() > 30 && p.Bits() != 31 {
		return netip.Prefix{}, fmt.Errorf("%s: prefix too long for a point-to-point link", s)
	}
	return p, nil
}

// SetParam overrides one role parameter of a node, as `qoslab up --set
// node.key=value` does: variants of a lab without editing its file.
func (s *Spec) SetParam(node, key, value string) error {
	for i := range s.Nodes {
		if s.Nodes[i].Name == node {
			if s.Nodes[i].Params == nil {
				s.Nodes[i].Params = map[string]string{}
			}
			s.Nodes[i].Params[key] = value
			return nil
		}
	}
	return &SpecError{File: s.file, What: fmt.Sprintf("--set %s.%s", node, key), Msg: fmt.Sprintf("no node named %q", node)}
}

// ApplySets applies "node.key=value" overrides.
func (s *Spec) ApplySets(sets []string) error {
	for _, kv := range sets {
		target, value, ok := strings.Cut(kv, "=")
		node, key, ok2 := strings.Cut(target, ".")
		if !ok || !ok2 || node == "" || key == "" {
			return fmt.Errorf("topology: --set %q: want node.key=value", kv)
		}
		if err := s.SetParam(node, key, value); err != nil {
			return err
		}
	}
	return nil
}
