package router

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/qoslab/qoslab/flow"
)

const (
	rtpSrcPort  = 20000
	rtpDstPort  = 30000
	payloadSize = 172 // G.711 20 ms RTP: 12 header + 160 samples
	ipUDPHeader = 28
)

func openTestDataplane(t *testing.T, l *nsLab) *Dataplane {
	t.Helper()
	d, err := OpenDataplane(DataplaneConfig{NetNS: int(l.rt), Access: []string{"acc0"}, Trusted: []netip.Addr{trustedAddr}})
	if err != nil {
		t.Fatalf("open data plane: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return d
}

// expectDSCP sends n datagrams on c and requires each to arrive with want.
func expectDSCP(t *testing.T, c *net.UDPConn, rcv *tosReceiver, n int, want uint8) {
	t.Helper()
	send(t, c, rtpDstPort, n, payloadSize)
	got, err := rcv.receive(n)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	for i, d := range got {
		if d != want {
			t.Fatalf("datagram %d from %s arrived with DSCP %d, want %d", i, c.LocalAddr(), d, want)
		}
	}
}

func TestDataplaneMarksOnlyGatedFlows(t *testing.T) {
	l := newNSLab(t, "m")
	d := openTestDataplane(t, l)
	rcv := l.receiver(t, rtpDstPort)
	media := l.sender(t, sndAddr, rtpSrcPort)
	otherFlow := l.sender(t, sndAddr, rtpSrcPort+2)

	// Before the gate: the call's media leaves unmarked.
	expectDSCP(t, media, rcv, 5, 0)

	gate := Gate{ID: 7, DSCP: DSCPEF, Flow: flow.Tuple{Proto: protoUDP, Src: netip.AddrPortFrom(sndAddr, rtpSrcPort), Dst: netip.AddrPortFrom(rcvAddr, rtpDstPort)}}
	if err := d.SetGate(gate); err != nil {
		t.Fatal(err)
	}
	expectDSCP(t, media, rcv, 10, DSCPEF)
	expectDSCP(t, otherFlow, rcv, 4, 0) // same hosts, other source port: not this gate

	// Installing the same gate again changes nothing and loses nothing.
	if err := d.SetGate(gate); err != nil {
		t.Fatalf("idempotent re-install: %v", err)
	}
	expectDSCP(t, media, rcv, 3, DSCPEF)
	c, err := d.GateCounters(gate.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counters{Packets: 13, Bytes: 13 * (payloadSize + ipUDPHeader)}); c != want {
		t.Fatalf("counters %+v, want %+v", c, want)
	}

	// A second gate may not claim the same classifier.
	dup := gate
	dup.ID = 8
	if err := d.SetGate(dup); err == nil {
		t.Fatal("a second gate with the same classifier was accepted")
	}

	// Replacing gate 7 moves the marking to the new classifier.
	moved := gate
	moved.Flow.Src = netip.AddrPortFrom(moved.Flow.Src.Addr(), rtpSrcPort+2)
	if err := d.SetGate(moved); err != nil {
		t.Fatalf("replace: %v", err)
	}
	expectDSCP(t, media, rcv, 4, 0)
	expectDSCP(t, otherFlow, rcv, 5, DSCPEF)

	// Replacing it with another class (a new class chain, created in the
	// same batch) changes the marking of the same flow.
	af41 := moved
	af41.DSCP = 34
	if err := d.SetGate(af41); err != nil {
		t.Fatalf("replace class: %v", err)
	}
	expectDSCP(t, otherFlow, rcv, 1, 34)

	got, err := d.DeleteGate(gate.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counters{Packets: 19, Bytes: 19 * (payloadSize + ipUDPHeader)}); got != want {
		t.Fatalf("counters at delete %+v, want %+v", got, want)
	}
	expectDSCP(t, otherFlow, rcv, 4, 0)
	if _, err := d.DeleteGate(gate.ID); !errors.Is(err, ErrUnknownGate) {
		t.Fatalf("second delete: %v, want ErrUnknownGate", err)
	}
	if d.Len() != 0 {
		t.Fatalf("%d gates left", d.Len())
	}
}

func TestDataplaneBoundaryConditioning(t *testing.T) {
	l := newNSLab(t, "b")
	d := openTestDataplane(t, l)
	rcv := l.receiver(t, rtpDstPort)

	thief := l.sender(t, otherAddr, rtpSrcPort)
	setTOS(t, thief, DSCPEF<<2)
	expectDSCP(t, thief, rcv, 5, 0) // theft of service: EF without a gate is bleached

	signalling := l.sender(t, trustedAddr, 5060)
	setTOS(t, signalling, DSCPCS5<<2)
	expectDSCP(t, signalling, rcv, 3, DSCPCS5) // a trusted host's CS5 survives

	trustedEF := l.sender(t, trustedAddr, 5062)
	setTOS(t, trustedEF, DSCPEF<<2)
	expectDSCP(t, trustedEF, rcv, 2, 0) // trust covers signalling, not EF

	untrustedCS5 := l.sender(t, sndAddr, 5060)
	setTOS(t, untrustedCS5, DSCPCS5<<2)
	expectDSCP(t, untrustedCS5, rcv, 2, 0)

	b, err := d.Bleached()
	if err != nil {
		t.Fatal(err)
	}
	if b.Packets != 9 {
		t.Fatalf("bleached %d packets, want 9", b.Packets)
	}

	// A gated flow that arrives pre-marked with something else leaves EF.
	if err := d.SetGate(Gate{ID: 1, DSCP: DSCPEF, Flow: flow.Tuple{Proto: protoUDP, Src: netip.AddrPortFrom(otherAddr, rtpSrcPort), Dst: netip.AddrPortFrom(rcvAddr, rtpDstPort)}}); err != nil {
		t.Fatal(err)
	}
	setTOS(t, thief, 8<<2)
	expectDSCP(t, thief, rcv, 3, DSCPEF)
}

func TestDataplaneAnySourcePortAndRestart(t *testing.T) {
	l := newNSLab(t, "w")
	d := openTestDataplane(t, l)
	rcv := l.receiver(t, rtpDstPort)
	a := l.sender(t, sndAddr, 41000)
	b := l.sender(t, sndAddr, 41002)

	if err := d.SetGate(Gate{ID: 3, DSCP: DSCPEF, Flow: flow.Tuple{Proto: protoUDP, Src: netip.AddrPortFrom(sndAddr, 0), Dst: netip.AddrPortFrom(rcvAddr, rtpDstPort)}}); err != nil {
		t.Fatal(err)
	}
	expectDSCP(t, a, rcv, 2, DSCPEF)
	expectDSCP(t, b, rcv, 2, DSCPEF)
	if c, err := d.GateCounters(3); err != nil || c.Packets != 4 {
		t.Fatalf("any-source-port gate counted %+v, %v; want 4 packets", c, err)
	}

	// A restarted router starts from a clean table: no gate marks any more.
	d2, err := OpenDataplane(DataplaneConfig{NetNS: int(l.rt), Access: []string{"acc0"}})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer d2.Close()
	expectDSCP(t, a, rcv, 2, 0)
	if d2.Len() != 0 {
		t.Fatalf("reopened data plane reports %d gates", d2.Len())
	}
}

func TestQueuingSendsEFToPriorityClass(t *testing.T) {
	l := newNSLab(t, "q")
	d := openTestDataplane(t, l)
	h, err := netlink.NewHandleAt(l.rt)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// Installed twice, as by a restarted router: one tree, one filter.
	for i := 0; i < 2; i++ {
		if err := installQueuing(h, QueuingConfig{Iface: "core0", LinkRate: 100e6, EFRate: 10e6}); err != nil {
			t.Fatal(err)
		}
	}
	link, err := h.LinkByName("core0")
	if err != nil {
		t.Fatal(err)
	}
	filters, err := h.FilterList(link, htbRoot)
	if err != nil {
		t.Fatal(err)
	}
	if len(filters) != 1 {
		t.Fatalf("%d filters on the HTB root after a re-install, want 1", len(filters))
	}
	rcv := l.receiver(t, rtpDstPort)
	media := l.sender(t, sndAddr, rtpSrcPort)
	plain := l.sender(t, sndAddr, rtpSrcPort+2)
	if err := d.SetGate(Gate{ID: 9, DSCP: DSCPEF, Flow: flow.Tuple{Proto: protoUDP, Src: netip.AddrPortFrom(sndAddr, rtpSrcPort), Dst: netip.AddrPortFrom(rcvAddr, rtpDstPort)}}); err != nil {
		t.Fatal(err)
	}
	ef0, be0, err := queueStats(h, "core0")
	if err != nil {
		t.Fatal(err)
	}
	expectDSCP(t, media, rcv, 20, DSCPEF)
	expectDSCP(t, plain, rcv, 7, 0)
	ef, be, err := queueStats(h, "core0")
	if err != nil {
		t.Fatal(err)
	}
	if got := ef.Packets - ef0.Packets; got != 20 {
		t.Errorf("EF class sent %d packets, want 20", got)
	}
	if got := be.Packets - be0.Packets; got < 7 {
		t.Errorf("best-effort class sent %d packets, want at least 7", got)
	}
}
