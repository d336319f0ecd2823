// Package nodes holds what every node role shares: the environment a node
// process is started with. Each role lives in its own sub-package
// (ua, proxy, pdp, router, clearinghouse) and exposes
//
//	func Run(ctx context.Context, env nodes.Env) error
//
// The launcher (package topology) writes a Config as JSON; `qoslab node
// <role> --config <file>` reads it back, builds an Env and calls the role's
// Run. Nodes never import topology: the Config is the whole contract.
package nodes

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"
)

// Config is the file the launcher writes for one node. It is plain data.
type Config struct {
	Lab    string              `json:"lab"`
	Name   string              `json:"name"`
	Role   string              `json:"role"`
	Dir    string              `json:"dir"`     // this node's private directory (logs, databases, spools, control socket)
	LabDir string              `json:"lab_dir"` // the lab's run directory (shared material such as the lab CA in LabDir/pki)
	Nodes  map[string]NodeInfo `json:"nodes"`   // every node of the lab, by name
	Ifaces []Iface             `json:"ifaces"`  // this node's interfaces
	Params map[string]string   `json:"params"`  // role parameters from the topology file
}

// NodeInfo describes another node of the lab.
type NodeInfo struct {
	Role string     `json:"role"`
	Addr netip.Addr `json:"addr"` // the node's primary address (first interface)
	// Params are the node's role parameters, so that a peer can follow
	// its setting (a policy server speaks TLS when its clearinghouse does).
	Params map[string]string `json:"params,omitempty"`
}

// Iface is one interface of this node.
type Iface struct {
	Name     string       `json:"name"`
	Prefix   netip.Prefix `json:"prefix"` // this end's address with the link's prefix length
	Peer     string       `json:"peer"`   // node at the other end of the link
	PeerRole string       `json:"peer_role"`
	PeerAddr netip.Addr   `json:"peer_addr"`
}

// Env is what a role's Run receives.
type Env struct {
	Config
	Log *slog.Logger
	// Ready must be called once, when the node accepts work (its sockets
	// listen). The launcher waits for it instead of sleeping.
	Ready func()
}

// ReadConfig loads a node config file.
func ReadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("nodes: read config: %w", err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("nodes: parse config %s: %w", path, err)
	}
	return c, nil
}

// Param returns a role parameter or def when it is not set.
func (c Config) Param(key, def string) string {
	if v, ok := c.param(key); ok {
		return v
	}
	return def
}

// param looks a parameter up under its name, then with '-' and '_'
// swapped: roles grew both spellings (rtp_port, gate-timeout), and a
// topology file should not fail on which one its author guessed.
func (c Config) param(key string) (string, bool) {
	for _, k := range []string{key, strings.ReplaceAll(key, "-", "_"), strings.ReplaceAll(key, "_", "-")} {
		if v, ok := c.Params[k]; ok && v != "" {
			return v, true
		}
	}
	return "", false
}

// DurationParam parses a role parameter as a Go duration.
func (c Config) DurationParam(key string, def time.Duration) (time.Duration, error) {
	v, ok := c.param(key)
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("nodes: %s: parameter %s=%q: %w", c.Name, key, v, err)
	}
	return d, nil
}

// PeerAddr resolves a parameter whose value names another node (for example
// "pdp: pol1") to that node's address.
func (c Config) PeerAddr(key string) (netip.Addr, error) {
	name, ok := c.param(key)
	if !ok {
		return netip.Addr{}, fmt.Errorf("nodes: %s: parameter %q is not set", c.Name, key)
	}
	return c.Addr(name)
}

// Addr returns the primary address of the named node.
func (c Config) Addr(name string) (netip.Addr, error) {
	n, ok := c.Nodes[name]
	if !ok {
		return netip.Addr{}, fmt.Errorf("nodes: %s: no node %q in the lab", c.Name, name)
	}
	return n.Addr, nil
}

// Self returns this node's primary address.
func (c Config) Self() netip.Addr { return c.Nodes[c.Name].Addr }

// NameOf maps an address back to a node name ("" if unknown). Logs use it
// so that every line names the peer.
func (c Config) NameOf(a netip.Addr) string {
	for name, n := range c.Nodes {
		if n.Addr == a {
			return name
		}
	}
	for _, ifc := range c.Ifaces {
		if ifc.PeerAddr == a {
			return ifc.Peer
		}
	}
	return ""
}

// NodesWithRole lists the names of the nodes with the given role, sorted.
func (c Config) NodesWithRole(role string) []string {
	var out []string
	for name, n := range c.Nodes {
		if n.Role == role {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
