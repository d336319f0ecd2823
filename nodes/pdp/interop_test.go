package pdp

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qoslab/qoslab/protocol/cops"
)

// The proxy side as the proxy node runs it (cops.PEP with keep-alives)
// against the policy server: a call with a DRQ after the release, and a
// refused call whose reason and status reach the PEP.
func TestWithCOPSPEP(t *testing.T) {
	b := newBench(t, true)
	b.params["keepalive"] = "2" // keep-alives every few hundred ms both ways
	ch := newCH(t, b.chPort)
	ch.up()
	rtr := startRouter(t, b.rtrPort)
	rtr.counters = Counters{Packets: 5, Bytes: 860}
	b.start(t)
	eventually(t, "router connection", func() bool { return strings.Contains(b.logs.String(), "router connected") })

	ctx, cancel := context.WithCancel(context.Background())
	pep := cops.NewPEP(cops.PEPConfig{Addr: "127.0.0.1:" + strconv.Itoa(b.copsPort), PEPID: "sip1"})
	done := make(chan error, 1)
	go func() { done <- pep.Run(ctx) }()
	defer func() { cancel(); <-done }()
	eventually(t, "PEP connected", pep.Connected)

	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	defer rcancel()
	s := callSession("pep-1", cops.SideOriginating)
	d, err := pep.Request(rctx, 1, cops.KindAAA, s)
	if err != nil || d.Command != cops.CommandInstall || len(d.Session.Token) == 0 {
		t.Fatalf("AAA: %+v %v", d, err)
	}
	// Longer than the keep-alive timer: the connection must survive it.
	time.Sleep(2500 * time.Millisecond)
	if d, err = pep.Request(rctx, 1, cops.KindLDP, s); err != nil || d.Command != cops.CommandInstall {
		t.Fatalf("LDP: %+v %v", d, err)
	}
	if d, err = pep.Request(rctx, 1, cops.KindNoLDP, s); err != nil || d.Command != cops.CommandRemove {
		t.Fatalf("noLDP: %+v %v", d, err)
	}
	if err := pep.Delete(1, cops.ReasonTear); err != nil {
		t.Fatal(err)
	}
	eventually(t, "usage recorded", func() bool { return len(ch.records(t)) == 1 })

	ch.setRefuse(403)
	d, err = pep.Request(rctx, 2, cops.KindAAA, callSession("pep-2", cops.SideOriginating))
	if err != nil || d.Command != cops.CommandRemove || d.Session.Result != 403 || d.Session.Reason != "403 calling party barred" {
		t.Fatalf("refused AAA: %+v %v", d, err)
	}
	if !pep.Connected() {
		t.Fatal("PEP lost its connection")
	}
}

// Many calls at once through one proxy connection: every one completes,
// every gate is removed, every usage record lands once, the spool drains.
func TestConcurrentCalls(t *testing.T) {
	b := newBench(t, true)
	ch := newCH(t, b.chPort)
	ch.up()
	rtr := startRouter(t, b.rtrPort)
	b.start(t)
	eventually(t, "router connection", func() bool { return strings.Contains(b.logs.String(), "router connected") })
	ctx, cancel := context.WithCancel(context.Background())
	pep := cops.NewPEP(cops.PEPConfig{Addr: "127.0.0.1:" + strconv.Itoa(b.copsPort), PEPID: "sip1"})
	done := make(chan error, 1)
	go func() { done <- pep.Run(ctx) }()
	defer func() { cancel(); <-done }()
	eventually(t, "PEP connected", pep.Connected)

	const calls = 40
	errs := make(chan error, calls)
	for i := range calls {
		go func() {
			errs <- func() error {
				rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
				defer rcancel()
				h := cops.Handle(i + 1)
				s := callSession("many-"+strconv.Itoa(i), cops.SideOriginating)
				s.Media[0].Src = netip.AddrPortFrom(s.Media[0].Src.Addr(), uint16(20000+2*i))
				for _, k := range []cops.Kind{cops.KindAAA, cops.KindLDP, cops.KindNoLDP} {
					d, err := pep.Request(rctx, h, k, s)
					if err != nil {
						return err
					}
					if want := k != cops.KindNoLDP; (d.Command == cops.CommandInstall) != want {
						return fmt.Errorf("%s %s: %v %s", s.CallID, k, d.Command, &d.Session)
					}
				}
				return pep.Delete(h, cops.ReasonTear)
			}()
		}()
	}
	for range calls {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if rtr.gateCount() != 0 {
		t.Fatalf("%d gates left", rtr.gateCount())
	}
	eventually(t, "usage recorded", func() bool { return len(ch.records(t)) == calls })
	eventually(t, "spool drained", func() bool { return b.spoolLen(t) == 0 })
}
