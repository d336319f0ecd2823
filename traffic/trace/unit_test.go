package trace

import (
	"bytes"
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/qoslab/qoslab/flow"
)

func TestDefaultTopologyRoles(t *testing.T) {
	topo := DefaultTopology()
	want := map[string]string{"uac": flow.UAC, "sip1": flow.SIP1, "pol1": flow.POL1, "r1": flow.R1, "uas": flow.UAS,
		"sip2": flow.SIP2, "pol2": flow.POL2, "r2": flow.R2, "ch": flow.CH}
	for n, r := range want {
		if topo.Roles[n] != r {
			t.Errorf("%s is %q, want %s", n, topo.Roles[n], r)
		}
	}
	if topo.Core != "r1-r2" {
		t.Errorf("core %q", topo.Core)
	}
	// CONTRACTS.md: link n is 198.18.n.0/24, first endpoint .1.
	for addr, node := range map[string]string{"198.18.1.1": "r1", "198.18.1.2": "uac", "198.18.4.2": "uas", "198.18.7.2": "r2", "198.18.8.2": "ch"} {
		if got := topo.Name(netip.MustParseAddr(addr)); got != node {
			t.Errorf("%s is %s, want %s", addr, got, node)
		}
	}
	if got := topo.Name(netip.MustParseAddr("10.0.0.1")); got != "10.0.0.1" {
		t.Errorf("unknown address named %q", got)
	}
}

func TestNewTopologyRefusesBrokenReferences(t *testing.T) {
	_, err := NewTopology([]Node{{Name: "uac", Role: "uac", Params: map[string]string{"proxy": "nowhere"}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("err = %v", err)
	}
}

func TestFrameTextChunkedAndContentLength(t *testing.T) {
	msgs := []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1;x=y\r\nc\r\n0\r\nTrailer: 1\r\n\r\n",
		"INVITE sip:a@b SIP/2.0\r\nl: 2\r\ni: x\r\n\r\nhi",
	}
	all := strings.Join(msgs, "\r\n") // keep-alive CRLF between messages
	b := []byte(all)
	var got []string
	for len(b) > 0 {
		n, err := frameText(b)
		if err != nil || n == 0 {
			t.Fatalf("frame at %q: n=%d err=%v", b, n, err)
		}
		if s := string(b[:n]); s != "\r\n" {
			got = append(got, s)
		}
		b = b[n:]
	}
	if strings.Join(got, "|") != strings.Join(msgs, "|") {
		t.Fatalf("framed %q", got)
	}
	m, err := parseText([]byte(msgs[1]))
	if err != nil || string(m.Body) != "abc" {
		t.Fatalf("dechunked %q, %v", m.Body, err)
	}
	if n, err := frameText([]byte(msgs[0][:20])); n != 0 || err != nil {
		t.Errorf("a partial message framed: %d %v", n, err)
	}
	if _, err := frameText([]byte("garbage\r\n\r\n")); err == nil {
		t.Error("garbage framed as a message")
	}
}

func TestStreamRetransmissionOverlapAndLoss(t *testing.T) {
	// Three 8-octet COPS REQs (header only), told apart by sequence number.
	a := []byte{0x10, 1, 0x51, 0x53, 0, 0, 0, 8}
	b, c := a, a
	s := newStream(frameCOPS)
	seg := func(seq uint32, data []byte) []tcpMessage {
		out, _ := s.add(&packet{seq: seq, payload: data}, nil)
		return out
	}
	s.add(&packet{seq: 99, flags: flagSYN}, nil)
	if got := seg(100, a[:4]); len(got) != 0 {
		t.Fatal("half a message cut")
	}
	if got := seg(100, a); len(got) != 1 || got[0].seq != 100 { // overlapping retransmission completes it
		t.Fatalf("got %v", got)
	}
	if got := seg(100, a); len(got) != 0 {
		t.Fatal("a retransmission was taken twice")
	}
	if got := seg(116, c); len(got) != 0 { // out of order: waits for b
		t.Fatal("cut across a hole")
	}
	if got := seg(108, b); len(got) != 2 || got[0].seq != 108 || got[1].seq != 116 {
		t.Fatalf("after the hole: %v", got)
	}
	// A hole the peer acknowledged was lost by the capture: skip it.
	if got := seg(132, a); len(got) != 0 {
		t.Fatal("cut across a hole")
	}
	s.acked(140)
	got, err := s.skipLost(&packet{}, nil)
	if len(got) != 1 || got[0].seq != 132 || err == nil || !strings.Contains(err.Error(), "8 bytes missing") {
		t.Fatalf("skip lost: %v %v", got, err)
	}
	// Several messages in one segment, and one split across three.
	two := append(append([]byte(nil), a...), a...)
	if got := seg(140, append(two, a[:3]...)); len(got) != 2 || got[1].seq != 148 {
		t.Fatalf("two messages and a part: %v", got)
	}
	if got := seg(159, a[3:5]); len(got) != 0 {
		t.Fatal("a partial message cut")
	}
	if got := seg(161, a[5:]); len(got) != 1 || got[0].seq != 156 || !bytes.Equal(got[0].data, a) {
		t.Fatalf("split message: %v", got)
	}
}

// A reused 4-tuple after FIN or RST is another connection: its SYN, with
// another initial sequence number, starts a new stream instead of being
// taken for a retransmission (which would leave a hole of the distance
// between the two sequence spaces).
func TestStreamNewConnectionOnReusedTuple(t *testing.T) {
	s := newStream(frameCOPS)
	syn := &packet{seq: 99, flags: flagSYN}
	s.add(syn, nil)
	if s.newConnection(syn) {
		t.Fatal("the stream's own SYN again taken for a new connection")
	}
	if !s.newConnection(&packet{seq: 4_000_000_000, flags: flagSYN}) {
		t.Fatal("a SYN with another ISN not taken for a new connection")
	}
	mid := newStream(frameCOPS)
	mid.add(&packet{seq: 500, payload: []byte{0x10, 1, 0x51, 0x53, 0, 0, 0, 8}}, nil)
	if mid.newConnection(&packet{seq: 499, flags: flagSYN}) || !mid.newConnection(&packet{seq: 7, flags: flagSYN}) {
		t.Fatal("a stream begun mid-connection: its own late SYN, or a new connection, misjudged")
	}
}

func TestStreamRefusesBadCOPS(t *testing.T) {
	s := newStream(frameCOPS)
	if _, err := s.add(&packet{seq: 1, payload: []byte{0x20, 1, 0, 0, 0, 0, 0, 8}}, nil); err == nil {
		t.Fatal("COPS version 2 accepted")
	}
	if msgs, err := s.add(&packet{seq: 9, payload: make([]byte, 8)}, nil); msgs != nil || err != nil {
		t.Fatal("a broken stream went on")
	}
}

// IPv4 fragments are reassembled per link: a SIP INVITE too large for one
// datagram is still one message.
func TestDecodeReassemblesFragments(t *testing.T) {
	body := "v=0\r\no=- 1 1 IN IP4 198.18.1.2\r\ns=x\r\nc=IN IP4 198.18.1.2\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\n" + strings.Repeat("a=x:"+strings.Repeat("y", 70)+"\r\n", 30)
	sipMsg := "INVITE sip:uas@198.18.4.2 SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.1.2\r\nCall-ID: frag-1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
	udp := &layers.UDP{SrcPort: 5060, DstPort: 5060}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: []byte{198, 18, 1, 2}, DstIP: []byte{198, 18, 2, 2}, Id: 7}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, udp, gopacket.Payload(sipMsg)); err != nil {
		t.Fatal(err)
	}
	dgram := buf.Bytes()
	d := newDecoder()
	var got []packet
	var pk packet
	for off := 0; off < len(dgram); off += 1480 {
		end := min(off+1480, len(dgram))
		frag := *ip
		frag.FragOffset = uint16(off / 8)
		if end < len(dgram) {
			frag.Flags = layers.IPv4MoreFragments
		}
		fb := gopacket.NewSerializeBuffer()
		eth := &layers.Ethernet{SrcMAC: make([]byte, 6), DstMAC: make([]byte, 6), EthernetType: layers.EthernetTypeIPv4}
		frag.Protocol = layers.IPProtocolUDP
		if err := gopacket.SerializeLayers(fb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, &frag, gopacket.Payload(dgram[off:end])); err != nil {
			t.Fatal(err)
		}
		if d.decode(Frame{Link: "r1-sip1", Type: layers.LinkTypeEthernet, Data: fb.Bytes()}, 0, &pk) {
			got = append(got, pk)
		}
	}
	if len(got) != 1 || !bytes.Equal(got[0].payload, []byte(sipMsg)) {
		t.Fatalf("reassembled %d packets", len(got))
	}
	s, err := parseSIP(got[0].payload)
	if err != nil || s.CallID != "frag-1" || s.Media != netip.MustParseAddrPort("198.18.1.2:20000") {
		t.Fatalf("parsed %+v, %v", s, err)
	}
}

func TestTupleTextRoundTrip(t *testing.T) {
	for _, s := range []string{"udp 198.18.1.2:20000->198.18.4.2:30000", "tcp [2001:db8::1]:3288->[2001:db8::2]:40000"} {
		var tu Tuple
		if err := tu.UnmarshalText([]byte(s)); err != nil {
			t.Fatal(err)
		}
		if b, _ := tu.MarshalText(); string(b) != s {
			t.Errorf("%q came back as %q", s, b)
		}
	}
	var tu Tuple
	if err := tu.UnmarshalText([]byte("sctp a->b")); err == nil {
		t.Error("a bad tuple was read")
	}
}

// tcpFrame builds an Ethernet/IPv4/TCP frame.
func tcpFrame(t *testing.T, src, dst netip.AddrPort, seq, ack uint32, syn, fin, rst bool, payload []byte) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: seq, Ack: ack, SYN: syn, FIN: fin, RST: rst, ACK: !syn || ack != 0, Window: 65535}
	tcp.SetNetworkLayerForChecksum(ip)
	eth := &layers.Ethernet{SrcMAC: make([]byte, 6), DstMAC: make([]byte, 6), EthernetType: layers.EthernetTypeIPv4}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A 4-tuple reused after RST, or after a connection that just stopped (a
// crashed peer), is another connection each time: the RST closes both
// directions, and a SYN with another initial sequence number starts a new
// stream, so nothing is taken for a hole in the old one (the overload's
// "115959112 bytes missing from the capture").
func TestAnalyzerTCPTupleReusedAfterRSTAndFIN(t *testing.T) {
	pep := netip.MustParseAddrPort("198.18.2.2:40000")
	pdp := netip.MustParseAddrPort("198.18.3.2:3288")
	ka := []byte{0x10, 9, 0x51, 0x53, 0, 0, 0, 8} // COPS KA, client-type 0x5153
	var frames sliceSource
	add := func(src, dst netip.AddrPort, seq, ack uint32, syn, fin, rst bool, payload []byte) {
		frames = append(frames, Frame{Link: "r1-pol1", Time: int64(len(frames)+1) * 1e6, Type: layers.LinkTypeEthernet,
			Data: tcpFrame(t, src, dst, seq, ack, syn, fin, rst, payload)})
	}
	for i, isn := range []uint32{1000, 3_000_000_000, 77} {
		pisn := isn ^ 0x5555
		add(pep, pdp, isn, 0, true, false, false, nil)
		add(pdp, pep, pisn, isn+1, true, false, false, nil)
		add(pep, pdp, isn+1, pisn+1, false, false, false, ka)
		add(pdp, pep, pisn+1, isn+9, false, false, false, ka)
		switch i {
		case 0:
			add(pdp, pep, pisn+9, isn+9, false, false, true, nil) // RST from the PDP
		case 1:
			// The PEP crashed: no FIN, no RST; both streams stay open.
		case 2:
			add(pep, pdp, isn+9, pisn+9, false, true, false, nil)
			add(pdp, pep, pisn+9, isn+10, false, true, false, nil)
		}
	}
	a := newAnalyzer(DefaultTopology(), Options{AllowNoCalls: true})
	if err := a.run(context.Background(), &frames); err != nil {
		t.Fatal(err)
	}
	r := a.finish()
	if len(r.Problems) != 0 || r.Messages != 6 {
		t.Fatalf("%d messages (want the 6 KAs), problems %+v", r.Messages, r.Problems)
	}
}
