package rtp

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/qoslab/qoslab/internal/wait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var loopback = netip.MustParseAddrPort("127.0.0.1:0")

// TestSessionBothWays runs real media between two sessions on loopback
// until 20 packets crossed each way: both sides send about 50 packets/s,
// nothing is lost on loopback, and the side that marks EF is seen as EF by
// the other (loopback keeps the TOS byte, so IP_RECVTOS reports it).
func TestSessionBothWays(t *testing.T) {
	ctx := context.Background()
	a, err := Listen(ctx, Config{Local: loopback, Codec: PCMA, DSCP: 46})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Listen(ctx, Config{Local: loopback, Codec: PCMA})
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	start := time.Now()
	if err := a.Send(b.LocalAddr(), PCMA); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(a.LocalAddr(), PCMA); err != nil {
		t.Fatal(err)
	}
	// About 400 ms of media: 20 packets each way.
	wait.For(t, "20 packets received each way", func() bool {
		return a.Report().Received.Packets >= 20 && b.Report().Received.Packets >= 20
	})
	ra, rb := a.Close(), b.Close()
	elapsed := time.Since(start)

	for _, r := range []Report{ra, rb} {
		// 50 packets/s; allow scheduling slack on a loaded machine (20 to
		// 60 a second) but demand a real stream at about the right pace.
		if rate := float64(r.Sent.Packets) / elapsed.Seconds(); rate < 20 || rate > 60 {
			t.Errorf("%s sent %d packets in %s (%.0f/s)", r.Local, r.Sent.Packets, elapsed, rate)
		}
		if r.Codec != "PCMA" || r.Sent.Bytes != r.Sent.Packets*(12+PayloadSize) {
			t.Errorf("%s: codec %s bytes %d", r.Local, r.Codec, r.Sent.Bytes)
		}
	}
	// Everything b received, a sent (the last packet may still be in flight when b closed).
	if got, sent := rb.Received.Packets, ra.Sent.Packets; got+1 < sent || got > sent {
		t.Errorf("b received %d of %d", got, sent)
	}
	if rb.Received.Lost != 0 || rb.Received.Duplicates != 0 || rb.Received.SSRC != ra.Sent.SSRC {
		t.Errorf("b received %+v", rb.Received)
	}
	if rb.Received.DSCP["46"] != rb.Received.Packets {
		t.Errorf("b saw DSCP %v, want all 46", rb.Received.DSCP)
	}
	if ra.Received.DSCP["0"] != ra.Received.Packets || ra.Received.Packets == 0 {
		t.Errorf("a saw DSCP %v, want all 0", ra.Received.DSCP)
	}
	if rb.Received.JitterMillis > 20 {
		t.Errorf("loopback jitter %.2f ms", rb.Received.JitterMillis)
	}
}

func TestStopSendingKeepsReceiving(t *testing.T) {
	ctx := context.Background()
	a, err := Listen(ctx, Config{Local: loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Listen(ctx, Config{Local: loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a.StopSending() // before Send: a no-op
	if err := a.Send(b.LocalAddr(), PCMU); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(a.LocalAddr(), PCMU); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "media both ways", func() bool {
		r := a.Report()
		return r.Sent.Packets >= 3 && r.Received.Packets >= 3
	})
	a.StopSending()
	sent := a.Report().Sent.Packets
	before := a.Report().Received.Packets
	// Three more of b's packets span three of a's 20 ms intervals, in
	// which a would have sent had it not stopped.
	wait.For(t, "a to go on receiving after StopSending", func() bool { return a.Report().Received.Packets >= before+3 })
	if got := a.Report().Sent.Packets; got != sent {
		t.Errorf("still sending after StopSending: %d -> %d", sent, got)
	}
}

// TestCloseKeepsWhatArrived: packets already in the socket's queue when
// Close is called are counted, not discarded with the socket.
func TestCloseKeepsWhatArrived(t *testing.T) {
	rx, err := Listen(context.Background(), Config{Local: loopback})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := Listen(context.Background(), Config{Local: loopback})
	if err != nil {
		rx.Close()
		t.Fatal(err)
	}
	defer tx.Close()
	st := NewStream(PCMU, 5, 0, 0)
	const n = 200
	for range n {
		if _, err := tx.conn.WriteToUDPAddrPort(st.AppendPacket(nil, make([]byte, PayloadSize)), rx.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	r := rx.Close()
	if r.Received.Packets != n || r.Received.Lost != 0 {
		t.Fatalf("received %d of %d (lost %d)", r.Received.Packets, n, r.Received.Lost)
	}
}

func TestSessionIgnoresGarbage(t *testing.T) {
	s, err := Listen(context.Background(), Config{Local: loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	junk, err := Listen(context.Background(), Config{Local: loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer junk.Close()
	for _, b := range [][]byte{{}, {0x00}, make([]byte, 11), {0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if _, err := junk.conn.WriteToUDPAddrPort(b, s.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	seen := func() uint64 {
		var d uint64
		for _, n := range s.Report().Received.DSCP {
			d += n
		}
		return d
	}
	wait.For(t, "the four datagrams of garbage", func() bool { return seen() == 4 })
	if r := s.Report(); r.Received.Packets != 0 {
		t.Fatalf("garbage counted as RTP: %+v", r.Received)
	}
}

func TestListenRejectsBadDSCP(t *testing.T) {
	if _, err := Listen(context.Background(), Config{Local: loopback, DSCP: 64}); err == nil {
		t.Fatal("DSCP 64 accepted")
	}
}

func TestCloseTwice(t *testing.T) {
	s, err := Listen(context.Background(), Config{Local: loopback})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close()
	if err := s.Send(netip.MustParseAddrPort("127.0.0.1:9"), PCMU); err == nil {
		t.Fatal("Send after Close succeeded")
	}
}

func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafePointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

func TestDSCPFromOOB(t *testing.T) {
	tc := make([]byte, 4)
	tc[0] = 46 << 2 // host order on little-endian machines
	cases := []struct {
		name string
		oob  []byte
		want uint8
	}{
		{"empty", nil, 0},
		{"ipv4 EF", cmsg(unix.IPPROTO_IP, unix.IP_TOS, []byte{46<<2 | 1}), 46},
		{"ipv4 AF41", cmsg(unix.IPPROTO_IP, unix.IP_TOS, []byte{34 << 2}), 34},
		{"other first", append(cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMP, make([]byte, 16)), cmsg(unix.IPPROTO_IP, unix.IP_TOS, []byte{10 << 2})...), 10},
		{"truncated", cmsg(unix.IPPROTO_IP, unix.IP_TOS, []byte{46 << 2})[:8], 0},
	}
	if nativeInt32(tc) == 46<<2 {
		cases = append(cases, struct {
			name string
			oob  []byte
			want uint8
		}{"ipv6 EF", cmsg(unix.IPPROTO_IPV6, unix.IPV6_TCLASS, tc), 46})
	}
	for _, c := range cases {
		if got := dscpFromOOB(c.oob); got != c.want {
			t.Errorf("%s: got %d want %d", c.name, got, c.want)
		}
	}
}

// FuzzDSCPFromOOB: any control-message bytes give a DSCP in range and no panic.
func FuzzDSCPFromOOB(f *testing.F) {
	f.Add(cmsg(unix.IPPROTO_IP, unix.IP_TOS, []byte{0xb8}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		// The kernel hands cmsg buffers aligned; copy so the header cast is too.
		aligned := make([]uint64, len(b)/8+1)
		buf := unsafeBytes(aligned)[:len(b)]
		copy(buf, b)
		if d := dscpFromOOB(buf); d > 63 {
			t.Fatalf("dscp %d", d)
		}
	})
}

// BenchmarkSendPath is the per-packet cost of the send loop: build the
// next packet and write it to a loopback socket.
func BenchmarkSendPath(b *testing.B) {
	rx, err := Listen(context.Background(), Config{Local: loopback})
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	tx, err := Listen(context.Background(), Config{Local: loopback})
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	tx.stream = NewStream(PCMU, 1, 1, 1)
	tx.remote = rx.LocalAddr()
	payload := toneFrame(PCMU)
	buf := make([]byte, 0, 12+PayloadSize)
	b.ReportAllocs()
	for b.Loop() {
		tx.sendOne(buf, payload)
	}
}

// BenchmarkReceivePath is the per-packet cost of the receive loop after
// the read: header decode, cmsg walk, statistics.
func BenchmarkReceivePath(b *testing.B) {
	s, err := Listen(context.Background(), Config{Local: loopback})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	st := NewStream(PCMU, 1, 1, 1)
	pkts := make([][]byte, 1024)
	for i := range pkts {
		pkts[i] = st.AppendPacket(nil, toneFrame(PCMU))
	}
	oob := cmsg(unix.IPPROTO_IP, unix.IP_TOS, []byte{46 << 2})
	var h rtp.Header
	now := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.observe(&h, pkts[i%len(pkts)], oob, now.Add(time.Duration(i)*20*time.Millisecond))
		i++
	}
}
