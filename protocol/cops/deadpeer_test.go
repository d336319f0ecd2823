package cops

import (
	"context"
	"testing"
	"time"
)

// A PDP that accepts with a 1 s KA timer and then never answers: the PEP
// must give up with CC (Communication failure) and report the loss.
func TestPEPDetectsDeadPDP(t *testing.T) {
	leakCheck(t)
	if testing.Short() {
		t.Skip("waits for a 1 s KA timer")
	}
	ln := listen(t)
	lost := make(chan error, 1)
	pep := NewPEP(PEPConfig{Addr: ln.Addr().String(), PEPID: "sip1", MinBackoff: time.Hour,
		OnLost: func(err error) { lost <- err }})
	ctx, cancel := context.WithCancel(context.Background())
	runBG(t, ctx, cancel, pep.Run)
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r := &rawPEP{t, nc}
	if m, err := r.read(); err != nil || m.Op != OpOPN {
		t.Fatalf("want OPN: %v %v", m, err)
	}
	r.send(&Message{Header: Header{Op: OpCAT, ClientType: ClientTypeSession}, KATimer: 1})
	// Read (and ignore) its KAs until the CC.
	for {
		m, err := r.read()
		if err != nil {
			t.Fatalf("no CC from the PEP: %v", err)
		}
		if m.Op == OpCC {
			if m.Error.Code != ErrCommunication {
				t.Fatalf("CC with %s", m.Error.Code)
			}
			break
		}
	}
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("OnLost not called")
	}
}

// A router that opens and synchronises, then falls silent: the policy
// server's GateController must drop it, fail commands with ErrNoRouter.
func TestGateControllerDetectsDeadRouter(t *testing.T) {
	leakCheck(t)
	if testing.Short() {
		t.Skip("waits for a 1 s KA timer")
	}
	ln := listen(t)
	lost := make(chan error, 1)
	gc := NewGateController(GateControllerConfig{Addr: ln.Addr().String(), KATimer: 1, MinBackoff: time.Hour,
		OnLost: func(err error) { lost <- err }})
	ctx, cancel := context.WithCancel(context.Background())
	runBG(t, ctx, cancel, gc.Run)
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r := &rawPEP{t, nc}
	r.send(&Message{Header: Header{Op: OpOPN, ClientType: ClientTypePCMM}, PEPID: "r1"})
	if m, err := r.read(); err != nil || m.Op != OpCAT || m.KATimer != 1 {
		t.Fatalf("want CAT: %v %v", m, err)
	}
	r.send(&Message{Header: Header{Op: OpREQ, ClientType: ClientTypePCMM}, Handle: 1, Context: Context{RType: RTypeConfigure}})
	waitFor(t, "router synchronised", gc.Connected)
	m, err := r.read()
	if err != nil || m.Op != OpCC || m.Error.Code != ErrCommunication {
		t.Fatalf("want CC Communication failure, got %v %v", m, err)
	}
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("OnLost not called")
	}
	if _, err := gc.Do(context.Background(), &PCMM{Command: GateSet}); err == nil {
		t.Fatal("command accepted without a router")
	}
}

// With a 1 s KA timer and no gate traffic, the router's keep-alives and the
// policy server's echoes keep the PCMM connection up.
func TestRouterLegKeepAlive(t *testing.T) {
	leakCheck(t)
	if testing.Short() {
		t.Skip("idles for 2.5 s of a 1 s KA timer")
	}
	ln := listen(t)
	rs := NewGateServer(GateServerConfig{PEPID: "r1", Handler: func(ctx context.Context, cmd *PCMM) PCMM {
		return PCMM{HasGateID: true, GateID: 1}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	runBG(t, ctx, cancel, func(ctx context.Context) error { return rs.Serve(ctx, ln) })
	lost := make(chan error, 1)
	gc := NewGateController(GateControllerConfig{Addr: ln.Addr().String(), KATimer: 1,
		OnLost: func(err error) { lost <- err }})
	ctx2, cancel2 := context.WithCancel(context.Background())
	runBG(t, ctx2, cancel2, gc.Run)
	waitFor(t, "router synchronised", gc.Connected)
	select {
	case err := <-lost:
		t.Fatalf("connection lost while idle: %v", err)
	case <-time.After(2500 * time.Millisecond):
	}
	set := sampleGateSet()
	if _, err := gc.Do(context.Background(), &set); err != nil {
		t.Fatal(err)
	}
}
