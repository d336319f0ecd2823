package router

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The namespace tests build sender -- router -- receiver:
//
//	snd eth0 198.18.250.1 (+ .2 trusted, + .3)   rt acc0 198.18.250.254
//	rt core0 198.18.251.254                       rcv eth0 198.18.251.1
var (
	sndAddr     = netip.MustParseAddr("198.18.250.1")
	trustedAddr = netip.MustParseAddr("198.18.250.2")
	otherAddr   = netip.MustParseAddr("198.18.250.3")
	rtAccAddr   = netip.MustParseAddr("198.18.250.254")
	rtCoreAddr  = netip.MustParseAddr("198.18.251.254")
	rcvAddr     = netip.MustParseAddr("198.18.251.1")
)

// nsLab is three namespaces wired in a line, removed at test cleanup.
type nsLab struct {
	snd, rt, rcv netns.NsHandle
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("router: namespace test needs root (network namespaces, nftables)")
	}
}

// newNamedNS creates a named namespace without moving the caller: the
// creation happens on a locked thread that is discarded afterwards.
func newNamedNS(t testing.TB, name string) netns.NsHandle {
	t.Helper()
	_ = netns.DeleteNamed(name) // a leftover from a crashed run of this same test
	type res struct {
		h   netns.NsHandle
		err error
	}
	c := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.NewNamed(name)
		c <- res{h, err}
	}()
	r := <-c
	if r.err != nil {
		t.Fatalf("create namespace %s: %v", name, r.err)
	}
	t.Cleanup(func() {
		r.h.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})
	return r.h
}

// inNS runs fn on a fresh thread inside ns; sockets fn opens stay there.
func inNS(ns netns.NsHandle, fn func() error) error {
	c := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			c <- err
			return
		}
		c <- fn()
	}()
	return <-c
}

func newNSLab(t testing.TB, tag string) *nsLab {
	t.Helper()
	requireRoot(t)
	pfx := fmt.Sprintf("qoslab-t-rt%s%d-", tag, os.Getpid())
	l := &nsLab{
		snd: newNamedNS(t, pfx+"snd"),
		rt:  newNamedNS(t, pfx+"rt"),
		rcv: newNamedNS(t, pfx+"rcv"),
	}
	hr, err := netlink.NewHandleAt(l.rt)
	if err != nil {
		t.Fatal(err)
	}
	defer hr.Close()
	hs, err := netlink.NewHandleAt(l.snd)
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	hv, err := netlink.NewHandleAt(l.rcv)
	if err != nil {
		t.Fatal(err)
	}
	defer hv.Close()

	// Veths are born with their peer already in the other namespace.
	for _, v := range []struct {
		name string
		peer netns.NsHandle
	}{{"acc0", l.snd}, {"core0", l.rcv}} {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: v.name}, PeerName: "eth0", PeerNamespace: netlink.NsFd(v.peer)}
		if err := hr.LinkAdd(veth); err != nil {
			t.Fatalf("veth %s: %v", v.name, err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	up := func(h *netlink.Handle, ifname string, addrs ...netip.Addr) {
		t.Helper()
		link, err := h.LinkByName(ifname)
		must(err)
		for _, a := range addrs {
			must(h.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(24, 32)}}))
		}
		must(h.LinkSetUp(link))
		lo, err := h.LinkByName("lo")
		must(err)
		must(h.LinkSetUp(lo))
	}
	up(hr, "acc0", rtAccAddr)
	up(hr, "core0", rtCoreAddr)
	up(hs, "eth0", sndAddr, trustedAddr, otherAddr)
	up(hv, "eth0", rcvAddr)
	must(hs.RouteAdd(&netlink.Route{Gw: rtAccAddr.AsSlice()}))
	must(hv.RouteAdd(&netlink.Route{Gw: rtCoreAddr.AsSlice()}))
	must(enableForwarding(int(l.rt)))
	return l
}

// udpSender is a UDP socket in the sender namespace bound to src:port.
func (l *nsLab) sender(t testing.TB, src netip.Addr, port uint16) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := inNS(l.snd, func() error {
		var err error
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, port)))
		return err
	})
	if err != nil {
		t.Fatalf("sender socket: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// setTOS makes every datagram c sends carry tos.
func setTOS(t testing.TB, c *net.UDPConn, tos int) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TOS, tos) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatalf("IP_TOS: %v", serr)
	}
}

// tosReceiver is a UDP socket in the receiver namespace that reports the
// TOS byte each datagram arrived with (IP_RECVTOS).
type tosReceiver struct {
	c *net.UDPConn
}

func (l *nsLab) receiver(t testing.TB, port uint16) *tosReceiver {
	t.Helper()
	var c *net.UDPConn
	err := inNS(l.rcv, func() error {
		var err error
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(rcvAddr, port)))
		return err
	})
	if err != nil {
		t.Fatalf("receiver socket: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVTOS, 1) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatalf("IP_RECVTOS: %v", serr)
	}
	return &tosReceiver{c: c}
}

// receive reads n datagrams and returns the DSCP of each. The deadline only
// bounds a broken run; a healthy one returns as soon as n have arrived.
func (r *tosReceiver) receive(n int) ([]uint8, error) {
	buf := make([]byte, 2048)
	oob := make([]byte, 128)
	var out []uint8
	if err := r.c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return nil, err
	}
	for len(out) < n {
		_, oobn, _, _, err := r.c.ReadMsgUDP(buf, oob)
		if err != nil {
			return out, fmt.Errorf("after %d of %d datagrams: %w", len(out), n, err)
		}
		tos, err := parseTOS(oob[:oobn])
		if err != nil {
			return out, err
		}
		out = append(out, tos>>2)
	}
	return out, nil
}

func parseTOS(oob []byte) (uint8, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_TOS && len(m.Data) >= 1 {
			return m.Data[0], nil
		}
	}
	return 0, errors.New("no IP_TOS control message")
}

// send writes n datagrams of size bytes to the receiver's port.
func send(t testing.TB, c *net.UDPConn, port uint16, n, size int) {
	t.Helper()
	dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(rcvAddr, port))
	p := make([]byte, size)
	for i := 0; i < n; i++ {
		binary.BigEndian.PutUint32(p, uint32(i))
		if _, err := c.WriteToUDP(p, dst); err != nil {
			if errors.Is(err, syscall.ENOBUFS) {
				i--
				continue
			}
			t.Fatalf("send: %v", err)
		}
	}
}
