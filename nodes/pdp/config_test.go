package pdp

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/qoslab/qoslab/nodes"
)

func labConfig(params map[string]string) nodes.Config {
	return nodes.Config{Name: "pol1", Params: params, Nodes: map[string]nodes.NodeInfo{
		"pol1": {Role: "pdp", Addr: netip.MustParseAddr("198.18.3.2")},
		"r1":   {Role: "router", Addr: netip.MustParseAddr("198.18.1.1")},
		"ch":   {Role: "clearinghouse", Addr: netip.MustParseAddr("198.18.8.2")},
	}}
}

func TestConfigFrom(t *testing.T) {
	c, err := ConfigFrom(labConfig(map[string]string{"router": "r1", "clearinghouse": "ch"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen.String() != "198.18.3.2:3288" || c.RouterAddr.String() != "198.18.1.1:3918" ||
		c.OSPURL != "http://198.18.8.2:1080/osp" || c.KeepAlive != 0 || c.GateTimeout != 3*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	for _, p := range []map[string]string{
		{"router": "r1"},
		{"router": "r1", "clearinghouse": "ch", "mode": "no-ch"},
	} {
		c, err := ConfigFrom(labConfig(p))
		if err != nil || c.OSPURL != "" {
			t.Fatalf("%v: want no-clearinghouse mode, got %+v %v", p, c, err)
		}
	}
	for _, bad := range []struct {
		params map[string]string
		want   string
	}{
		{map[string]string{}, "router"},
		{map[string]string{"router": "r9"}, "r9"},
		{map[string]string{"router": "r1", "cops-port": "70000"}, "cops-port"},
		{map[string]string{"router": "r1", "keepalive": "soon"}, "keepalive"},
		{map[string]string{"router": "r1", "gate-timeout": "3"}, "gate-timeout"},
		{map[string]string{"router": "r1", "clearinghouse": "nope"}, "nope"},
	} {
		if _, err := ConfigFrom(labConfig(bad.params)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%v: error %v, want one naming %q", bad.params, err, bad.want)
		}
	}
}
