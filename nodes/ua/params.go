package ua

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/qoslab/qoslab/nodes"
)

// Defaults from docs/CONTRACTS.md.
const (
	defaultSIPPort = 5060
	defaultRing    = 200 * time.Millisecond
	defaultTalk    = 3 * time.Second
)

// params is a UA's configuration, read once from the node's role
// parameters:
//
//	sip_port     own SIP UDP port (5060)
//	proxy        node name of the outbound proxy; unset: send directly
//	proxy_port   its SIP port (5060)
//	callee       UAC: default callee node name
//	callee_port  UAC: the callee's SIP port (5060)
//	rtp_port     first RTP port (UAC 20000, UAS 30000); calls count upward
//	ring         UAS: ring time before 200 (200ms; 0 = 200 without 180)
//	talk         UAS: talk time before it hangs up when hangup=uas (3s)
//	hangup       UAS: "uas" makes the UAS hang up every call
//	dscp         DSCP the UA sets on its own RTP (0; for bleaching tests)
//	user         user part of the address-of-record (the node's name)
//	domain       domain of the address-of-record (default: the proxy's
//	             domain parameter); with a domain the UA registers
//	expires      registration lifetime asked for, seconds (600)
type params struct {
	self       netip.Addr
	sipPort    uint16
	proxy      netip.AddrPort // invalid when calls go direct
	proxyName  string
	callee     string
	calleePort uint16
	rtpBase    uint16
	ring       time.Duration
	talk       time.Duration
	hangupUAS  bool
	dscp       uint8
	expires    int // seconds a registration asks for
}

func readParams(env nodes.Env, defaultRTP uint16) (params, error) {
	p := params{self: env.Self(), callee: env.Param("callee", "")}
	if !p.self.IsValid() {
		return p, fmt.Errorf("ua: %s: node has no address", env.Name)
	}
	var err error
	if p.sipPort, err = portParam(env, "sip_port", defaultSIPPort); err != nil {
		return p, err
	}
	if p.calleePort, err = portParam(env, "callee_port", defaultSIPPort); err != nil {
		return p, err
	}
	if p.rtpBase, err = portParam(env, "rtp_port", defaultRTP); err != nil {
		return p, err
	}
	if name := env.Param("proxy", ""); name != "" {
		a, err := env.PeerAddr("proxy")
		if err != nil {
			return p, fmt.Errorf("ua: %w", err)
		}
		port, err := portParam(env, "proxy_port", defaultSIPPort)
		if err != nil {
			return p, err
		}
		p.proxy, p.proxyName = netip.AddrPortFrom(a, port), name
	}
	if p.ring, err = env.DurationParam("ring", defaultRing); err != nil {
		return p, fmt.Errorf("ua: %w", err)
	}
	if p.talk, err = env.DurationParam("talk", defaultTalk); err != nil {
		return p, fmt.Errorf("ua: %w", err)
	}
	switch h := strings.ToLower(env.Param("hangup", "")); h {
	case "", "uac":
	case "uas":
		p.hangupUAS = true
	default:
		return p, fmt.Errorf("ua: %s: parameter hangup=%q: want uac or uas", env.Name, h)
	}
	d, err := strconv.ParseUint(env.Param("dscp", "0"), 0, 8)
	if err != nil || d > 63 {
		return p, fmt.Errorf("ua: %s: parameter dscp=%q: want 0-63", env.Name, env.Param("dscp", ""))
	}
	p.dscp = uint8(d)
	e, err := strconv.Atoi(env.Param("expires", strconv.Itoa(defaultExpires)))
	if err != nil || e < 60 {
		return p, fmt.Errorf("ua: %s: parameter expires=%q: want seconds, at least 60", env.Name, env.Param("expires", ""))
	}
	p.expires = e
	return p, nil
}

func portParam(env nodes.Env, key string, def uint16) (uint16, error) {
	v := env.Param(key, strconv.Itoa(int(def)))
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("ua: %s: parameter %s=%q: want a port 1-65535", env.Name, key, v)
	}
	return uint16(n), nil
}

// sipAddr is where this UA's SIP socket listens.
func (p params) sipAddr() netip.AddrPort { return netip.AddrPortFrom(p.self, p.sipPort) }
