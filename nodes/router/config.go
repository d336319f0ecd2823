package router

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
)

// Defaults of the role parameters.
const (
	defaultCoreRate = "100mbit"
	defaultEFRate   = "30mbit"
	pcmmPort        = 3918
)

// roleConfig is everything Run needs, read from the node environment.
type roleConfig struct {
	Access  []string
	Core    []string
	Trusted []netip.Addr
	Side    flow.Side // decides the steps of its gate messages
	PDP     string    // node name of the policy server, for logs ("" if none is adjacent)
	// Queuing is nil when param core_rate is "off".
	Queuing *QueuingConfig
}

// configFrom reads the router's parameters:
//
//	trusted    comma-separated node names whose CS5 marking survives
//	side       "originating" (R1) or "terminating" (R2); by default the
//	           side of the user agent attached to this router
//	core_rate  rate of the core link, e.g. "100mbit" (or "off": no HTB)
//	ef_rate    rate guaranteed to EF on the core link, e.g. "30mbit"
//
// Interfaces whose peer is a router are core, all others access.
func configFrom(env nodes.Config) (roleConfig, error) {
	var rc roleConfig
	for _, ifc := range env.Ifaces {
		if ifc.PeerRole == "router" {
			rc.Core = append(rc.Core, ifc.Name)
		} else {
			rc.Access = append(rc.Access, ifc.Name)
		}
		if ifc.PeerRole == "pdp" && rc.PDP == "" {
			rc.PDP = ifc.Peer
		}
	}
	for _, name := range splitList(env.Param("trusted", "")) {
		a, err := env.Addr(name)
		if err != nil {
			return rc, fmt.Errorf("router: trusted host: %w", err)
		}
		rc.Trusted = append(rc.Trusted, a)
	}
	var err error
	if rc.Side, err = sideOf(env); err != nil {
		return rc, err
	}
	if v := env.Param("core_rate", defaultCoreRate); v != "off" && len(rc.Core) > 0 {
		link, err := parseRate(v)
		if err != nil {
			return rc, fmt.Errorf("router: parameter core_rate: %w", err)
		}
		ef, err := parseRate(env.Param("ef_rate", defaultEFRate))
		if err != nil {
			return rc, fmt.Errorf("router: parameter ef_rate: %w", err)
		}
		rc.Queuing = &QueuingConfig{Iface: rc.Core[0], LinkRate: link, EFRate: ef}
		if err := rc.Queuing.Validate(); err != nil {
			return rc, err
		}
	}
	return rc, nil
}

func sideOf(env nodes.Config) (flow.Side, error) {
	switch v := env.Param("side", ""); v {
	case "originating", "orig", "r1":
		return flow.Originating, nil
	case "terminating", "term", "r2":
		return flow.Terminating, nil
	case "":
	default:
		return flow.SideUnknown, fmt.Errorf("router: parameter side=%q: want originating or terminating", v)
	}
	for _, ifc := range env.Ifaces {
		switch ifc.PeerRole {
		case "uac":
			return flow.Originating, nil
		case "uas":
			return flow.Terminating, nil
		}
	}
	return flow.SideUnknown, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseRate reads a rate in tc's notation: "100mbit", "1gbit", "500kbit",
// "64000bit" or a bare number of bits per second.
func parseRate(s string) (uint64, error) {
	num, mult := strings.ToLower(strings.TrimSpace(s)), uint64(1)
	for _, u := range []struct {
		suffix string
		mult   uint64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}} {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSuffix(num, u.suffix), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("rate %q: want a positive number with bit, kbit, mbit or gbit", s)
	}
	return uint64(v * float64(mult)), nil
}
