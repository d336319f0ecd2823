package cops

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// leakCheck verifies, after every other cleanup of the test has run, that
// no goroutine is left behind. Call it first in a test.
func leakCheck(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// listen opens a loopback listener for a test.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// runBG runs f in a goroutine and makes the test wait for it on cleanup,
// after cancelling ctx.
func runBG(t testing.TB, ctx context.Context, cancel context.CancelFunc, f func(context.Context) error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("background run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("background run did not stop")
		}
	})
}

// waitFor polls cond until it holds or the test times out.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type deleted struct {
	pep string
	h   Handle
	r   Reason
}

// pdpPair starts a PDP and a PEP connected to it over loopback.
func pdpPair(t *testing.T, pcfg PDPConfig, ecfg PEPConfig) (*PDP, *PEP, net.Listener) {
	t.Helper()
	ln := listen(t)
	pdp := NewPDP(pcfg)
	ctx, cancel := context.WithCancel(context.Background())
	runBG(t, ctx, cancel, func(ctx context.Context) error { return pdp.Serve(ctx, ln) })
	ecfg.Addr = ln.Addr().String()
	if ecfg.PEPID == "" {
		ecfg.PEPID = "sip1"
	}
	pep := NewPEP(ecfg)
	ctx2, cancel2 := context.WithCancel(context.Background())
	runBG(t, ctx2, cancel2, pep.Run)
	return pdp, pep, ln
}

func TestPEPRequestDecision(t *testing.T) {
	leakCheck(t)
	var mu sync.Mutex
	var dels []deleted
	var kinds []Kind
	_, pep, _ := pdpPair(t, PDPConfig{KATimer: 30,
		Handler: func(ctx context.Context, r SessionRequest) SessionDecision {
			mu.Lock()
			kinds = append(kinds, r.Kind)
			mu.Unlock()
			s := r.Session
			s.Token = []byte("tok:" + s.CallID)
			s.Result, s.Reason = 200, "ok"
			if s.Caller == "sip:mallory@x" {
				return SessionDecision{Command: CommandRemove, Session: Session{CallID: s.CallID, Result: 403, Reason: "denied"}}
			}
			return SessionDecision{Command: CommandInstall, Session: s}
		},
		OnDelete: func(pep string, h Handle, r Reason) {
			mu.Lock()
			dels = append(dels, deleted{pep, h, r})
			mu.Unlock()
		},
	}, PEPConfig{})
	waitFor(t, "PEP connected", pep.Connected)
	ctx := context.Background()
	s := sampleSession()
	d, err := pep.Request(ctx, 7, KindAAA, s)
	if err != nil {
		t.Fatal(err)
	}
	if d.Command != CommandInstall || string(d.Session.Token) != "tok:"+s.CallID || d.Session.Result != 200 {
		t.Fatalf("decision %+v", d)
	}
	if d, err = pep.Request(ctx, 7, KindLDP, s); err != nil || d.Command != CommandInstall {
		t.Fatalf("LDP: %+v %v", d, err)
	}
	s.Caller = "sip:mallory@x"
	if d, err = pep.Request(ctx, 8, KindAAA, s); err != nil || d.Command != CommandRemove || d.Session.Result != 403 {
		t.Fatalf("denied: %+v %v", d, err)
	}
	if err := pep.Delete(7, ReasonTear); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "DRQ reaches the PDP", func() bool { mu.Lock(); defer mu.Unlock(); return len(dels) == 1 })
	mu.Lock()
	defer mu.Unlock()
	if dels[0] != (deleted{"sip1", 7, Reason{Code: ReasonTear}}) {
		t.Errorf("delete %+v", dels[0])
	}
	if len(kinds) != 3 || kinds[0] != KindAAA || kinds[1] != KindLDP {
		t.Errorf("kinds %v", kinds)
	}
}

func TestPEPConcurrentCalls(t *testing.T) {
	leakCheck(t)
	_, pep, _ := pdpPair(t, PDPConfig{KATimer: 30,
		Handler: func(ctx context.Context, r SessionRequest) SessionDecision {
			time.Sleep(time.Millisecond) // a PDP that does OSP work
			return SessionDecision{Command: CommandInstall, Session: Session{CallID: r.Session.CallID}}
		}}, PEPConfig{})
	waitFor(t, "PEP connected", pep.Connected)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := "call-" + string(rune('A'+i%26)) + string(rune('a'+i/26))
			d, err := pep.Request(context.Background(), Handle(100+i), KindAAA, Session{CallID: id})
			if err == nil && d.Session.CallID != id {
				err = errors.New("answer for " + d.Session.CallID + " to " + id)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestPEPNoPDP(t *testing.T) {
	leakCheck(t)
	ln := listen(t)
	addr := ln.Addr().String()
	ln.Close() // nobody listens
	pep := NewPEP(PEPConfig{Addr: addr, PEPID: "sip1", MinBackoff: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	runBG(t, ctx, cancel, pep.Run)
	if _, err := pep.Request(context.Background(), 1, KindAAA, Session{CallID: "x"}); !errors.Is(err, ErrNoPDP) {
		t.Fatalf("want ErrNoPDP, got %v", err)
	}
}

func TestPEPLosesPDPWhileWaiting(t *testing.T) {
	leakCheck(t)
	release := make(chan struct{})
	ln := listen(t)
	pdp := NewPDP(PDPConfig{KATimer: 30, Handler: func(ctx context.Context, r SessionRequest) SessionDecision {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return SessionDecision{Command: CommandInstall}
	}})
	pctx, pcancel := context.WithCancel(context.Background())
	pdone := make(chan error, 1)
	go func() { pdone <- pdp.Serve(pctx, ln) }()
	lost := make(chan error, 4)
	pep := NewPEP(PEPConfig{Addr: ln.Addr().String(), PEPID: "sip1", MinBackoff: 10 * time.Millisecond,
		OnLost: func(err error) { lost <- err }})
	ctx, cancel := context.WithCancel(context.Background())
	runBG(t, ctx, cancel, pep.Run)
	waitFor(t, "PEP connected", pep.Connected)
	res := make(chan error, 1)
	go func() {
		_, err := pep.Request(context.Background(), 1, KindAAA, Session{CallID: "x"})
		res <- err
	}()
	time.Sleep(20 * time.Millisecond)
	pcancel() // the PDP shuts down: CC, close
	if err := <-pdone; err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-res; !errors.Is(err, ErrNoPDP) {
		t.Fatalf("want ErrNoPDP, got %v", err)
	}
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("OnLost not called")
	}
}

func TestPEPReconnectsAndResends(t *testing.T) {
	leakCheck(t)
	ln := listen(t)
	addr := ln.Addr().String()
	var mu sync.Mutex
	seen := map[Handle]int{}
	handler := func(ctx context.Context, r SessionRequest) SessionDecision {
		mu.Lock()
		seen[r.Handle]++
		mu.Unlock()
		return SessionDecision{Command: CommandInstall, Session: r.Session}
	}
	pdp := NewPDP(PDPConfig{KATimer: 30, Handler: handler})
	pctx, pcancel := context.WithCancel(context.Background())
	pdone := make(chan error, 1)
	go func() { pdone <- pdp.Serve(pctx, ln) }()
	unsolicited := make(chan Handle, 4)
	pep := NewPEP(PEPConfig{Addr: addr, PEPID: "sip1", MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		OnUnsolicited: func(h Handle, d SessionDecision) { unsolicited <- h }})
	ctx, cancel := context.WithCancel(context.Background())
	runBG(t, ctx, cancel, pep.Run)
	waitFor(t, "PEP connected", pep.Connected)
	if _, err := pep.Request(context.Background(), 42, KindAAA, Session{CallID: "c42"}); err != nil {
		t.Fatal(err)
	}
	// SSQ: the PEP re-sends handle 42, then SSC.
	if err := pdp.Synchronize("sip1"); err != nil {
		t.Fatal(err)
	}
	if h := <-unsolicited; h != 42 {
		t.Fatalf("re-sent handle %d", h)
	}
	// The PDP restarts on the same address; the PEP reconnects and re-sends.
	pcancel()
	<-pdone
	waitFor(t, "PEP notices", func() bool { return !pep.Connected() })
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot re-listen on %s: %v", addr, err)
	}
	pdp2 := NewPDP(PDPConfig{KATimer: 30, Handler: handler})
	ctx3, cancel3 := context.WithCancel(context.Background())
	runBG(t, ctx3, cancel3, func(ctx context.Context) error { return pdp2.Serve(ctx, ln2) })
	select {
	case h := <-unsolicited:
		if h != 42 {
			t.Fatalf("re-sent handle %d", h)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("open request not re-sent after reconnect")
	}
	mu.Lock()
	defer mu.Unlock()
	if seen[42] != 3 {
		t.Errorf("handler saw handle 42 %d times, want 3 (request, SSQ, reconnect)", seen[42])
	}
}

func TestPDPDeletesStateOfLostPEP(t *testing.T) {
	leakCheck(t)
	dels := make(chan deleted, 4)
	ln := listen(t)
	pdp := NewPDP(PDPConfig{KATimer: 30,
		Handler: func(ctx context.Context, r SessionRequest) SessionDecision {
			return SessionDecision{Command: CommandInstall}
		},
		OnDelete: func(pep string, h Handle, r Reason) { dels <- deleted{pep, h, r} }})
	ctx, cancel := context.WithCancel(context.Background())
	runBG(t, ctx, cancel, func(ctx context.Context) error { return pdp.Serve(ctx, ln) })
	pep := NewPEP(PEPConfig{Addr: ln.Addr().String(), PEPID: "sip2"})
	pctx, pcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pep.Run(pctx) }()
	waitFor(t, "PEP connected", pep.Connected)
	if _, err := pep.Request(context.Background(), 5, KindAAA, Session{CallID: "c5"}); err != nil {
		t.Fatal(err)
	}
	pcancel() // PEP goes away with CC
	<-done
	select {
	case d := <-dels:
		if d.pep != "sip2" || d.h != 5 || d.r.Subcode != ReasonSubConnectionLost {
			t.Errorf("delete %+v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("state of the lost PEP not deleted")
	}
}

func TestGateControllerServer(t *testing.T) {
	leakCheck(t)
	ln := listen(t)
	var mu sync.Mutex
	gates := map[uint32]Classifier{}
	next := uint32(0x100)
	rs := NewGateServer(GateServerConfig{PEPID: "r1", Handler: func(ctx context.Context, cmd *PCMM) PCMM {
		mu.Lock()
		defer mu.Unlock()
		switch cmd.Command {
		case GateSet:
			if d, ok := cmd.GateSpec.DSCP(); !ok || d != 46 || len(cmd.Classifiers) != 1 {
				return PCMM{Command: GateSetErr, Error: PCMMError{Code: PCErrInvalidObject}}
			}
			next++
			gates[next] = cmd.Classifiers[0]
			return PCMM{HasGateID: true, GateID: next, SubscriberID: cmd.SubscriberID}
		case GateDelete:
			if _, ok := gates[cmd.GateID]; !ok {
				return PCMM{Command: GateDeleteErr, HasGateID: true, GateID: cmd.GateID, Error: PCMMError{Code: PCErrUnknownGateID}}
			}
			delete(gates, cmd.GateID)
			return PCMM{HasGateID: true, GateID: cmd.GateID, HasGateUsageInfo: true, GateUsageInfo: 17200,
				HasUsagePackets: true, UsagePackets: 100, HasGateTimeInfo: true, GateTimeInfo: 2}
		}
		return PCMM{Command: cmd.Command.Err(), Error: PCMMError{Code: PCErrUnknownGateCommand}}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	runBG(t, ctx, cancel, func(ctx context.Context) error { return rs.Serve(ctx, ln) })
	gc := NewGateController(GateControllerConfig{Addr: ln.Addr().String(), KATimer: 30})
	ctx2, cancel2 := context.WithCancel(context.Background())
	runBG(t, ctx2, cancel2, gc.Run)
	waitFor(t, "router synchronised", gc.Connected)

	set := sampleGateSet()
	set.TransactionID = 0
	ack, err := gc.Do(context.Background(), &set)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Command != GateSetAck || !ack.HasGateID || ack.GateID != 0x101 || ack.TransactionID != set.TransactionID || ack.TransactionID == 0 {
		t.Fatalf("ack %s", ack.String())
	}
	del := PCMM{Command: GateDelete, HasGateID: true, GateID: ack.GateID, HasAMID: true, AMID: set.AMID, SubscriberID: set.SubscriberID}
	dack, err := gc.Do(context.Background(), &del)
	if err != nil {
		t.Fatal(err)
	}
	if dack.Command != GateDeleteAck || dack.GateUsageInfo != 17200 || dack.UsagePackets != 100 || dack.GateTimeInfo != 2 {
		t.Fatalf("delete ack %s", dack.String())
	}
	_, err = gc.Do(context.Background(), &del)
	var ge *GateError
	if !errors.As(err, &ge) || ge.Command != GateDeleteErr || ge.Err.Code != PCErrUnknownGateID {
		t.Fatalf("second delete: %v", err)
	}
}

func TestGateControllerNoRouter(t *testing.T) {
	leakCheck(t)
	gc := NewGateController(GateControllerConfig{Addr: "127.0.0.1:1"})
	if _, err := gc.Do(context.Background(), &PCMM{Command: GateSet}); !errors.Is(err, ErrNoRouter) {
		t.Fatalf("want ErrNoRouter, got %v", err)
	}
}
