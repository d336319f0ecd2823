package pdp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/cops"
	"github.com/qoslab/qoslab/protocol/copsconn"
)

// sessionPEP is the proxy's side of the proxy leg as the proxy node runs
// it: a PEP Client of the COPS connection layer, with keep-alives.
type sessionPEP struct {
	cl       *copsconn.Client
	kaTx     atomic.Int32 // keep-alives sent
	kaRx     atomic.Int32 // keep-alives received (the PDP's echoes)
	connects atomic.Int32
}

// decision is a DEC as the PEP reads it.
type decision struct {
	Command cops.Command
	Session cops.Session
}

func newSessionPEP(port int) *sessionPEP {
	p := &sessionPEP{}
	var d net.Dialer
	p.cl = copsconn.NewClient("127.0.0.1:"+strconv.Itoa(port), copsconn.Config{Role: copsconn.PEP,
		ClientType: cops.ClientTypeSession, PEPID: "sip1",
		OnOpen: func(*copsconn.Conn) { p.connects.Add(1) },
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &kaCounter{Conn: c, p: p}, nil
		}})
	return p
}

// kaCounter counts the keep-alives that cross a connection: each message
// is written whole, and read header first.
type kaCounter struct {
	net.Conn
	p *sessionPEP
}

func (k *kaCounter) Write(b []byte) (int, error) {
	if len(b) >= 2 && cops.OpCode(b[1]) == cops.OpKA {
		k.p.kaTx.Add(1)
	}
	return k.Conn.Write(b)
}

func (k *kaCounter) Read(b []byte) (int, error) {
	n, err := k.Conn.Read(b)
	if n == cops.HeaderLen && len(b) == cops.HeaderLen && cops.OpCode(b[1]) == cops.OpKA {
		k.p.kaRx.Add(1)
	}
	return n, err
}

func (p *sessionPEP) Connected() bool { return p.cl.Conn() != nil }

func (p *sessionPEP) Request(ctx context.Context, h cops.Handle, kind cops.Kind, s cops.Session) (decision, error) {
	c, err := p.cl.Wait(ctx)
	if err != nil {
		return decision{}, err
	}
	data, err := s.AppendTo(nil)
	if err != nil {
		return decision{}, err
	}
	m, err := c.Request(ctx, h, kind.Context(), data)
	if err != nil {
		return decision{}, err
	}
	d := decision{Command: m.Decisions[0].Command}
	return d, d.Session.Decode(m.Decisions[0].ClientData)
}

func (p *sessionPEP) Delete(h cops.Handle, reason cops.ReasonCode) error {
	return p.cl.Delete(h, reason)
}

// The proxy side as the proxy node runs it (a copsconn PEP with
// keep-alives) against the policy server: a call with a DRQ after the
// release, and a refused call whose reason and status reach the PEP.
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
	pep := newSessionPEP(b.copsPort)
	done := make(chan error, 1)
	go func() { done <- pep.cl.Run(ctx) }()
	defer func() { cancel(); <-done }()
	eventually(t, "PEP connected", pep.Connected)

	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	defer rcancel()
	s := callSession("pep-1", flow.Originating)
	d, err := pep.Request(rctx, 1, cops.KindAAA, s)
	if err != nil || d.Command != cops.CommandInstall || len(d.Session.Token) == 0 {
		t.Fatalf("AAA: %+v %v", d, err)
	}
	// Keep-alives both ways for longer than the keep-alive timer: the
	// connection must survive them.
	up := time.Now()
	eventually(t, "keep-alives echoed for a whole timer", func() bool {
		return pep.kaTx.Load() >= 3 && pep.kaRx.Load() >= 3 && time.Since(up) > 2*time.Second
	})
	if n := pep.connects.Load(); n != 1 {
		t.Fatalf("the PEP connected %d times", n)
	}
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
	d, err = pep.Request(rctx, 2, cops.KindAAA, callSession("pep-2", flow.Originating))
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
	pep := newSessionPEP(b.copsPort)
	done := make(chan error, 1)
	go func() { done <- pep.cl.Run(ctx) }()
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
				s := callSession("many-"+strconv.Itoa(i), flow.Originating)
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
