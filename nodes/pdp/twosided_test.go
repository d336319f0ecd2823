package pdp

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/nodes/clearinghouse"
	"github.com/qoslab/qoslab/nodes/usage"
	"github.com/qoslab/qoslab/protocol/cops"
)

// realCH runs the clearinghouse node (nodes/clearinghouse) on loopback; it
// can be killed and started again on the same directory and port. It
// listens on chAddr and knows the policy servers, which share 127.0.0.1
// here, as one node, and uas, the callee of callSession.
var chAddr = netip.MustParseAddr("127.0.0.2")

type realCH struct {
	dir, port string
	stop      func()
}

func (c *realCH) start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	var once sync.Once
	env := nodes.Env{
		Config: nodes.Config{Lab: "t", Name: "ch", Role: "clearinghouse", Dir: c.dir, LabDir: c.dir,
			Nodes: map[string]nodes.NodeInfo{
				"ch":  {Role: "clearinghouse", Addr: chAddr},
				"pol": {Role: "pdp", Addr: loopback},
				"uas": {Role: "uas", Addr: netip.MustParseAddr("127.0.0.5")},
			},
			Params: map[string]string{"port": c.port}},
		Log:   slog.New(slog.DiscardHandler),
		Ready: func() { once.Do(func() { close(ready) }) },
	}
	done := make(chan error, 1)
	go func() { done <- clearinghouse.Run(ctx, env) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("clearinghouse: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("clearinghouse not ready")
	}
	var stopOnce sync.Once
	c.stop = func() {
		stopOnce.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("clearinghouse: %v", err)
			}
		})
	}
	t.Cleanup(c.stop)
}

func (c *realCH) records(t *testing.T) []usage.Record {
	t.Helper()
	st, err := usage.Open(context.Background(), filepath.Join(c.dir, usage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rs, err := st.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// Both policy servers of FIG. 5/6 against the real clearinghouse: POL2
// presents the token POL1 obtained, both gates go in, and the clearinghouse
// is killed and restarted in the middle of the teardowns. Afterwards it
// holds exactly one usage record per call and side, and both spools are
// empty.
func TestTwoSidesWithClearinghouseRestart(t *testing.T) {
	ch := &realCH{dir: t.TempDir(), port: strconv.Itoa(freePort(t))}
	chPort, _ := strconv.Atoi(ch.port)
	ch.start(t)

	pol1 := newBench(t, true)
	pol2 := newBench(t, true)
	pol2.name = "pol2"
	for _, b := range []*bench{pol1, pol2} {
		b.params["clearinghouse-port"] = ch.port
		b.chPort, b.chAddr = chPort, chAddr
	}
	r1, r2 := startRouter(t, pol1.rtrPort), startRouter(t, pol2.rtrPort)
	pol1.start(t)
	pol2.start(t)
	sip1, sip2 := dialPEP(t, pol1.copsPort), dialPEP(t, pol2.copsPort)
	for _, b := range []*bench{pol1, pol2} {
		eventually(t, b.name+" router connection", func() bool { return strings.Contains(b.logs.String(), "router connected") })
	}

	const calls = 4
	for i := range calls {
		id, h := fmt.Sprintf("call-%d", i), uint32(100+i)
		orig, term := callSession(id, flow.Originating), callSession(id, flow.Terminating)
		cmd, dec := sip1.request(h, cops.KindAAA, orig)
		if cmd != cops.CommandInstall || len(dec.Token) == 0 {
			t.Fatalf("%s: POL1 AAA: %v %s", id, cmd, &dec)
		}
		if i == 0 {
			t.Logf("the clearinghouse's token is %d octets", len(dec.Token))
		}
		term.Token = dec.Token // the INVITE carries it to SIP2
		if cmd, dec := sip2.request(h, cops.KindAAA, term); cmd != cops.CommandInstall {
			t.Fatalf("%s: POL2 AAA with POL1's token: %v %s", id, cmd, &dec)
		}
		if cmd, _ := sip2.request(h, cops.KindLDP, term); cmd != cops.CommandInstall {
			t.Fatalf("%s: POL2 LDP refused", id)
		}
		if cmd, _ := sip1.request(h, cops.KindLDP, orig); cmd != cops.CommandInstall {
			t.Fatalf("%s: POL1 LDP refused", id)
		}
	}
	if r1.gateCount() != calls || r2.gateCount() != calls {
		t.Fatalf("gates: r1 %d r2 %d, want %d each", r1.gateCount(), r2.gateCount(), calls)
	}
	teardown := func(i int) {
		id, h := fmt.Sprintf("call-%d", i), uint32(100+i)
		if cmd, _ := sip1.request(h, cops.KindNoLDP, callSession(id, flow.Originating)); cmd != cops.CommandRemove {
			t.Fatalf("%s: POL1 noLDP", id)
		}
		if cmd, _ := sip2.request(h, cops.KindNoLDP, callSession(id, flow.Terminating)); cmd != cops.CommandRemove {
			t.Fatalf("%s: POL2 noLDP", id)
		}
	}
	teardown(0)
	teardown(1)
	ch.stop() // killed mid-way
	teardown(2)
	teardown(3)
	if r1.gateCount() != 0 || r2.gateCount() != 0 {
		t.Fatal("gates left after the teardowns")
	}
	if n := pol1.spoolLen(t) + pol2.spoolLen(t); n < 4 {
		t.Fatalf("spools hold %d records while the clearinghouse is down, want at least 4", n)
	}
	eventually(t, "failed deliveries", func() bool {
		return strings.Contains(pol1.logs.String(), "usage delivery failed") && strings.Contains(pol2.logs.String(), "usage delivery failed")
	})
	ch.start(t)
	eventually(t, "spools drained", func() bool { return pol1.spoolLen(t) == 0 && pol2.spoolLen(t) == 0 })

	per := map[string]int{}
	for _, r := range ch.records(t) {
		per[r.CallID+"/"+r.Role]++
	}
	for i := range calls {
		for _, role := range []string{"source", "destination"} {
			if k := fmt.Sprintf("call-%d/%s", i, role); per[k] != 1 {
				t.Errorf("%s: %d usage records, want 1 (all: %v)", k, per[k], per)
			}
		}
	}
	if len(per) != 2*calls {
		t.Errorf("usage records for %d call sides, want %d: %v", len(per), 2*calls, per)
	}
}
