package router

import (
	"net/netip"
	"testing"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
)

// r1Config is router r1 of the default topology as the launcher describes it.
func r1Config() nodes.Config {
	return nodes.Config{
		Name: "r1", Role: "router",
		Nodes: map[string]nodes.NodeInfo{
			"r1":   {Role: "router", Addr: netip.MustParseAddr("198.18.1.1")},
			"sip1": {Role: "proxy", Addr: netip.MustParseAddr("198.18.2.2")},
			"pol1": {Role: "pdp", Addr: netip.MustParseAddr("198.18.3.2")},
			"ch":   {Role: "clearinghouse", Addr: netip.MustParseAddr("198.18.8.2")},
		},
		Ifaces: []nodes.Iface{
			{Name: "uac", Peer: "uac", PeerRole: "uac"},
			{Name: "sip1", Peer: "sip1", PeerRole: "proxy"},
			{Name: "pol1", Peer: "pol1", PeerRole: "pdp"},
			{Name: "core", Peer: "r2", PeerRole: "router"},
			{Name: "ch", Peer: "ch", PeerRole: "clearinghouse"},
		},
		Params: map[string]string{"trusted": "sip1, pol1,ch"},
	}
}

func TestConfigFromDefaultTopology(t *testing.T) {
	rc, err := configFrom(r1Config())
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.Core) != 1 || rc.Core[0] != "core" {
		t.Fatalf("core %v", rc.Core)
	}
	if len(rc.Access) != 4 {
		t.Fatalf("access %v", rc.Access)
	}
	if len(rc.Trusted) != 3 || rc.Trusted[1] != netip.MustParseAddr("198.18.3.2") {
		t.Fatalf("trusted %v", rc.Trusted)
	}
	if rc.Side != flow.Originating || rc.PDP != "pol1" {
		t.Fatalf("side %s pdp %q", rc.Side, rc.PDP)
	}
	if q := rc.Queuing; q == nil || q.Iface != "core" || q.LinkRate != 100e6 || q.EFRate != 30e6 {
		t.Fatalf("queuing %+v", rc.Queuing)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, params := range map[string]map[string]string{
		"unknown trusted": {"trusted": "nosuchnode"},
		"bad side":        {"side": "middle"},
		"bad rate":        {"core_rate": "fast"},
		"ef above link":   {"core_rate": "10mbit", "ef_rate": "20mbit"},
	} {
		c := r1Config()
		c.Params = params
		if _, err := configFrom(c); err == nil {
			t.Errorf("%s: accepted %v", name, params)
		}
	}
	c := r1Config()
	c.Params = map[string]string{"core_rate": "off", "side": "terminating"}
	rc, err := configFrom(c)
	if err != nil || rc.Queuing != nil || rc.Side != flow.Terminating {
		t.Fatalf("core_rate=off side=terminating: %+v, %v", rc, err)
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]uint64{"100mbit": 100e6, "1gbit": 1e9, "500kbit": 500e3, "64000bit": 64000, "2.5Mbit": 2.5e6, "9600": 9600} {
		got, err := parseRate(in)
		if err != nil || got != want {
			t.Errorf("parseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "mbit", "-1mbit", "0", "ten"} {
		if _, err := parseRate(in); err == nil {
			t.Errorf("parseRate(%q) accepted", in)
		}
	}
}
