package proxy

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/qoslab/qoslab/nodes"
)

// TestRunFromNodeEnv starts both proxies the way `qoslab node proxy` does
// (nodes.Env with params, COPS to the named PDP) and places a call.
func TestRunFromNodeEnv(t *testing.T) {
	pdp1, pdp2 := newScriptedPDP(t, nil), newScriptedPDP(t, nil)
	a, b, c, d := labAddrs()
	l := &lab{t: t,
		uacAddr: netip.AddrPortFrom(a, 5060), sip1Addr: netip.AddrPortFrom(b, 5060),
		sip2Addr: netip.AddrPortFrom(c, 5060), uasAddr: netip.AddrPortFrom(d, 5060)}
	pdpPort := func(p *scriptedPDP) string {
		_, port, _ := net.SplitHostPort(p.addr)
		return port
	}
	lo := netip.MustParseAddr("127.0.0.1")
	labNodes := map[string]nodes.NodeInfo{
		"uac": {Role: "uac", Addr: a}, "sip1": {Role: "proxy", Addr: b},
		"sip2": {Role: "proxy", Addr: c}, "uas": {Role: "uas", Addr: d},
		"pol1": {Role: "pdp", Addr: lo}, "pol2": {Role: "pdp", Addr: lo},
	}
	run := func(name, pdp, peer, port string) (*msgRecorder, func()) {
		rec := newRecorder(name)
		ready := make(chan struct{})
		env := nodes.Env{
			Config: nodes.Config{Lab: "t", Name: name, Role: "proxy", Nodes: labNodes,
				Params: map[string]string{"pdp": pdp, "peer_proxy": peer, "pdp_port": port, "policy_timeout": "1s"}},
			Log:   slog.New(rec),
			Ready: func() { close(ready) },
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Run(ctx, env) }()
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("%s: Run: %v", name, err)
		case <-time.After(5 * time.Second):
			t.Fatalf("%s never ready", name)
		}
		return rec, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: Run: %v", name, err)
			}
		}
	}
	var stop1, stop2 func()
	l.log1, stop1 = run("sip1", "pol1", "sip2", pdpPort(pdp1))
	defer stop1()
	l.log2, stop2 = run("sip2", "pol2", "sip1", pdpPort(pdp2))
	defer stop2()
	l.uac, l.uas = startUA(t, l.uacAddr), startUA(t, l.uasAddr)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := l.invite(ctx, sdpBody(a, 20000, "0"))
	if res.final == nil || res.final.StatusCode != 200 {
		t.Fatalf("call failed: %v", res)
	}
	res.dialog.Ack(ctx)
	if err := res.dialog.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "handles deleted", func() bool { return pdp1.openHandles() == 0 && pdp2.openHandles() == 0 })
	if got := len(pdp2.log()); got != 4 {
		t.Errorf("POL2 saw %q", pdp2.log())
	}
}

func TestConfigFromEnvRejectsBadParams(t *testing.T) {
	base := func(params map[string]string) nodes.Env {
		return nodes.Env{Config: nodes.Config{Name: "sip1", Params: params,
			Nodes: map[string]nodes.NodeInfo{"sip1": {Addr: netip.MustParseAddr("127.0.0.2")}, "pol1": {Addr: netip.MustParseAddr("127.0.0.3")}}}}
	}
	for _, params := range []map[string]string{
		{},                               // no pdp
		{"pdp": "nobody"},                // unknown node
		{"pdp": "pol1", "sip_port": "x"}, // not a port
		{"pdp": "pol1", "pdp_port": "0"}, // not a port
		{"pdp": "pol1", "policy_timeout": "soon"},
		{"pdp": "pol1", "peer_proxy": "ghost"},
		{"pdp": "pol1", "local": "ghost"},
	} {
		if _, _, err := configFromEnv(base(params)); err == nil {
			t.Errorf("params %v accepted", params)
		}
	}
	cfg, pdp, err := configFromEnv(base(map[string]string{"pdp": "pol1", "policy_timeout": "300ms", "sip_port": "5070"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Self.String() != "127.0.0.2:5070" || pdp.String() != "127.0.0.3:"+strconv.Itoa(DefaultCOPSPort) ||
		cfg.PolicyTimeout != 300*time.Millisecond || cfg.Peer.IsValid() {
		t.Errorf("config %v pdp %v", cfg, pdp)
	}
}
