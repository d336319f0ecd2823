package router

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netns"
	"go.uber.org/goleak"

	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/nodes/nodestest"
	"github.com/qoslab/qoslab/protocol/cops"
	"github.com/qoslab/qoslab/protocol/copsconn"
)

// routerEnv describes the lab's router as the launcher would: r1, with the
// sender as its UAC, a core link, and the policy server pol1.
func routerEnv(log *slog.Logger, ready func()) nodes.Env {
	return nodes.Env{
		Config: nodes.Config{
			Lab: "t", Name: "r1", Role: "router",
			Nodes: map[string]nodes.NodeInfo{
				"r1":   {Role: "router", Addr: rtAccAddr},
				"uac":  {Role: "uac", Addr: sndAddr},
				"sip1": {Role: "proxy", Addr: trustedAddr},
				"pol1": {Role: "pdp", Addr: otherAddr},
				"uas":  {Role: "uas", Addr: rcvAddr},
			},
			Ifaces: []nodes.Iface{
				{Name: "acc0", Peer: "uac", PeerRole: "uac", PeerAddr: sndAddr},
				{Name: "core0", Peer: "r2", PeerRole: "router", PeerAddr: rcvAddr},
				{Name: "pol1", Peer: "pol1", PeerRole: "pdp", PeerAddr: otherAddr},
			},
			Params: map[string]string{"trusted": "sip1", "core_rate": "100mbit", "ef_rate": "10mbit"},
		},
		Log:   log,
		Ready: ready,
	}
}

// startRouter runs the router role on a thread inside the router namespace,
// as `qoslab node router` would, and waits until it is ready.
func startRouter(t *testing.T, ctx context.Context, l *nsLab, log *slog.Logger) <-chan error {
	t.Helper()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread leaves with the goroutine
		if err := netns.Set(l.rt); err != nil {
			done <- err
			return
		}
		done <- Run(ctx, routerEnv(log, func() { close(ready) }))
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("router stopped before it was ready: %v", err)
	}
	return done
}

// dialFrom returns a dialer whose sockets live in ns.
func dialFrom(ns netns.NsHandle) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := inNS(ns, func() error {
			var d net.Dialer
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// connectController connects to the router as the policy server does (a
// PCMM PDP of protocol/copsconn, which nodes/pdp runs) and waits until the
// router has opened the PCMM session.
func connectController(t *testing.T, ctx context.Context, addr string, dial func(context.Context, string, string) (net.Conn, error)) (*copsconn.Conn, <-chan error) {
	t.Helper()
	up := make(chan *copsconn.Conn, 1)
	cl := copsconn.NewClient(addr, copsconn.Config{Role: copsconn.PDP, ClientType: cops.ClientTypePCMM,
		Dial: dial, KATimer: 30, OnOpen: func(c *copsconn.Conn) {
			select {
			case up <- c:
			default:
			}
		}})
	done := make(chan error, 1)
	go func() { done <- cl.Run(ctx) }()
	select {
	case c := <-up:
		return c, done
	case <-time.After(10 * time.Second):
		t.Fatal("the router never opened the PCMM session")
	}
	return nil, done
}

func TestRouterRoleServesGatesOverCOPS(t *testing.T) {
	l := newNSLab(t, "r")
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs nodestest.Log
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	routerDone := startRouter(t, ctx, l, log)

	gcCtx, gcCancel := context.WithCancel(ctx)
	gc, gcDone := connectController(t, gcCtx, netip.AddrPortFrom(rtAccAddr, pcmmPort).String(), dialFrom(l.snd))

	rcv := l.receiver(t, rtpDstPort)
	media := l.sender(t, sndAddr, rtpSrcPort)
	expectDSCP(t, media, rcv, 3, 0)

	set := &cops.PCMM{Command: cops.GateSet, HasAMID: true, AMID: cops.AMID{AppType: 0x5153, Tag: 1},
		SubscriberID: sndAddr, HasGateSpec: true,
		Classifiers: []cops.Classifier{{Proto: 17, Src: sndAddr, SrcPort: rtpSrcPort, Dst: rcvAddr, DstPort: rtpDstPort, Priority: 64}}}
	set.GateSpec.SetDSCP(DSCPEF)
	set.Opaque = []byte("call-1@uac\x00\x00") // the SIP Call-ID, NUL-padded
	ack, err := gc.Gate(ctx, set)
	if err != nil {
		t.Fatalf("Gate-Set: %v", err)
	}
	if ack.Command != cops.GateSetAck || !ack.HasGateID {
		t.Fatalf("Gate-Set answered %s", ack.String())
	}
	expectDSCP(t, media, rcv, 10, DSCPEF)

	thief := l.sender(t, sndAddr, rtpSrcPort+2)
	setTOS(t, thief, DSCPEF<<2)
	expectDSCP(t, thief, rcv, 2, 0)

	del, err := gc.Gate(ctx, &cops.PCMM{Command: cops.GateDelete, HasGateID: true, GateID: ack.GateID})
	if err != nil {
		t.Fatalf("Gate-Delete: %v", err)
	}
	if del.Command != cops.GateDeleteAck || del.UsagePackets != 10 || del.GateUsageInfo != 10*(payloadSize+ipUDPHeader) {
		t.Fatalf("Gate-Delete answered %s: packets %d bytes %d", del.String(), del.UsagePackets, del.GateUsageInfo)
	}
	expectDSCP(t, media, rcv, 3, 0)

	if _, err := gc.Gate(ctx, &cops.PCMM{Command: cops.GateDelete, HasGateID: true, GateID: ack.GateID}); err == nil {
		t.Fatal("deleting the gate twice was acknowledged")
	}

	gcCancel()
	if err := <-gcDone; err != nil {
		t.Errorf("controller: %v", err)
	}
	cancel()
	if err := <-routerDone; err != nil {
		t.Fatalf("router: %v", err)
	}

	// The stopped router left no table behind.
	c, err := nftables.New(nftables.WithNetNSFd(int(l.rt)))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name == tableName {
			t.Fatal("table qoslab still present after the router stopped")
		}
	}

	// Every gate message is logged with its docs/FLOW.md step (R1: setup 19/20,
	// teardown 5/6) and the policy server as peer.
	want := []struct {
		dir, what, flow string
		step            float64
		call            string
	}{
		{nodes.Received, "DEC Gate-Set", "setup", 19, "call-1@uac"},
		{nodes.Sent, "RPT Gate-Set-Ack", "setup", 20, "call-1@uac"},
		{nodes.Received, "DEC Gate-Delete", "teardown", 5, "call-1@uac"},
		{nodes.Sent, "RPT Gate-Delete-Ack", "teardown", 6, "call-1@uac"},
		{nodes.Received, "DEC Gate-Delete", "teardown", 5, ""}, // the gate is gone, and its call with it
		{nodes.Sent, "RPT Gate-Delete-Err", "teardown", 6, ""},
	}
	var got []map[string]any
	for _, m := range logs.Records() {
		if m["msg"] == "msg" && m["proto"] == "cops" {
			got = append(got, m)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d COPS message log lines, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		m := got[i]
		if m["dir"] != w.dir || m["what"] != w.what || m["flow"] != w.flow || m["step"] != w.step || m["peer"] != "pol1" || m["call"] != w.call {
			t.Errorf("log line %d: %v, want %+v peer pol1", i, m, w)
		}
	}
}
