package nodes

import (
	"net/netip"
	"testing"
	"time"
)

func TestParamAcceptsBothSpellings(t *testing.T) {
	c := Config{Name: "n", Params: map[string]string{"rtp_port": "20000", "gate-timeout": "2s", "pdp": "pol1"},
		Nodes: map[string]NodeInfo{"pol1": {Addr: netip.MustParseAddr("198.18.3.2")}}}
	if v := c.Param("rtp-port", ""); v != "20000" {
		t.Errorf("rtp-port = %q, want the rtp_port value", v)
	}
	if d, err := c.DurationParam("gate_timeout", 0); err != nil || d != 2*time.Second {
		t.Errorf("gate_timeout = %v %v, want the gate-timeout value", d, err)
	}
	if a, err := c.PeerAddr("pdp"); err != nil || a.String() != "198.18.3.2" {
		t.Errorf("pdp = %v %v", a, err)
	}
	if v := c.Param("missing", "def"); v != "def" {
		t.Errorf("missing = %q, want the default", v)
	}
	if _, err := c.PeerAddr("router"); err == nil {
		t.Error("an unset peer parameter resolved")
	}
}
