package proxy

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/nodes/ua"
)

// TestProjectUAsThroughRunProxies is the lab's call without namespaces: the
// project's UAC and UAS (nodes/ua, real RTP) and both proxies started by
// Run from node environments, each with a real COPS PDP. It checks the
// contract between the packages: the outcome the UAC reports, the ringing
// and the policy each PDP saw.
func TestProjectUAsThroughRunProxies(t *testing.T) {
	pdp1, pdp2 := newScriptedPDP(t, nil), newScriptedPDP(t, nil)
	a, b, c, d := labAddrs()
	lo := netip.MustParseAddr("127.0.0.1")
	labNodes := map[string]nodes.NodeInfo{
		"uac": {Role: "uac", Addr: a}, "sip1": {Role: "proxy", Addr: b},
		"sip2": {Role: "proxy", Addr: c}, "uas": {Role: "uas", Addr: d},
		"pol1": {Role: "pdp", Addr: lo}, "pol2": {Role: "pdp", Addr: lo},
	}
	port := func(p *scriptedPDP) string {
		_, port, _ := net.SplitHostPort(p.addr)
		return port
	}
	start := func(name, role string, run func(context.Context, nodes.Env) error, params map[string]string) string {
		dir := t.TempDir()
		ready := make(chan struct{})
		env := nodes.Env{
			Config: nodes.Config{Lab: "t", Name: name, Role: role, Dir: dir, Nodes: labNodes, Params: params},
			Log:    slog.New(newRecorder(name)),
			Ready:  func() { close(ready) },
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- run(ctx, env) }()
		select {
		case <-ready:
		case err := <-done:
			cancel()
			t.Fatalf("%s: %v", name, err)
		case <-time.After(5 * time.Second):
			cancel()
			t.Fatalf("%s never ready", name)
		}
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
		return dir
	}
	start("sip1", "proxy", Run, map[string]string{"pdp": "pol1", "pdp_port": port(pdp1), "peer_proxy": "sip2"})
	start("sip2", "proxy", Run, map[string]string{"pdp": "pol2", "pdp_port": port(pdp2), "peer_proxy": "sip1"})
	start("uas", "uas", ua.RunUAS, map[string]string{"proxy": "sip2", "rtp_port": "30000", "ring": "100ms"})
	uacDir := start("uac", "uac", ua.RunUAC, map[string]string{"proxy": "sip1", "callee": "uas", "rtp_port": "20000"})

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := ua.PlaceCall(ctx, filepath.Join(uacDir, "control.sock"), ua.CallRequest{Talk: "300ms"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != ua.OutcomeAnswered || !res.Ringing || res.ByeStatus != 200 {
		t.Fatalf("call: %+v", res)
	}
	if res.Media == nil {
		t.Errorf("no RTP report")
	}
	waitFor(t, "handles deleted", func() bool { return pdp1.openHandles() == 0 && pdp2.openHandles() == 0 })
	for i, p := range []*scriptedPDP{pdp1, pdp2} {
		if got := p.log(); len(got) != 4 {
			t.Errorf("POL%d saw %q, want AAA, LDP, noLDP, DRQ", i+1, got)
		}
	}
	t.Logf("setup %.2f ms, post-dial delay %.2f ms", res.SetupMillis, res.PostDialDelayMillis)
}
