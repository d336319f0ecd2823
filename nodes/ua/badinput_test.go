package ua

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// rawInvite is a hand-written INVITE, so tests control every byte the
// UAS sees (sipgo's client would fix up what these tests break).
func rawInvite(to string, local *net.UDPAddr, callID, sdp string) string {
	return fmt.Sprintf("INVITE sip:uas@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:tester@%s>;tag=t1\r\n"+
		"To: <sip:uas@%s>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"Contact: <sip:tester@%s>\r\n"+
		"Content-Type: application/sdp\r\n"+
		"Content-Length: %d\r\n\r\n%s",
		to, local, callID, local.IP, to, callID, local, len(sdp), sdp)
}

// exchange sends one datagram to the UAS and returns the first final
// response's status line (skipping 100 Trying), or "" after timeout.
func exchange(t *testing.T, c *net.UDPConn, to *net.UDPAddr, msg string, timeout time.Duration) string {
	t.Helper()
	if _, err := c.WriteToUDP([]byte(msg), to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	deadline := time.Now().Add(timeout)
	for {
		_ = c.SetReadDeadline(deadline)
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			return ""
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		if !strings.HasPrefix(line, "SIP/2.0 1") {
			return string(buf[:n])
		}
	}
}

// answered reads what comes back on c until a final response of the
// call callID arrives or timeout passes.
func answered(c *net.UDPConn, callID string, timeout time.Duration) bool {
	buf := make([]byte, 65536)
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	for {
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			return false
		}
		m := string(buf[:n])
		if !strings.HasPrefix(m, "SIP/2.0 1") && strings.Contains(m, "\r\nCall-ID: "+callID+"\r\n") {
			return true
		}
	}
}

const sdpVideoOnly = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 40000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
const sdpG729Only = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
const sdpAudioDisabled = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n"

// TestUASRejectsUnacceptableSDP: no audio, only unknown codecs, a
// disabled stream, no SDP at all, or garbage get 488 with a Warning.
func TestUASRejectsUnacceptableSDP(t *testing.T) {
	l := newLab(t, nil)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	uas := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(l.uasSIP)}
	local := c.LocalAddr().(*net.UDPAddr)
	for i, sdp := range []string{sdpVideoOnly, sdpG729Only, sdpAudioDisabled, "", "this is not SDP"} {
		callID := fmt.Sprintf("bad-sdp-%d", i)
		res := exchange(t, c, uas, rawInvite(uas.String(), local, callID, sdp), 5*time.Second)
		if !strings.HasPrefix(res, "SIP/2.0 488 ") || !strings.Contains(res, "Warning: 399 qoslab") {
			t.Errorf("SDP %q: got %q, want 488 with a Warning", sdp, firstLine(res))
		}
		// The transaction layer wants the ACK of a non-2xx; send it so
		// nothing stays behind.
		ack := strings.Replace(rawInvite(uas.String(), local, callID, ""), "INVITE sip:", "ACK sip:", 1)
		ack = strings.Replace(ack, "CSeq: 1 INVITE", "CSeq: 1 ACK", 1)
		_, _ = c.WriteToUDP([]byte(ack), uas)
	}
}

// TestUASSurvivesMalformedSIP throws garbage and broken messages at the
// UAS, then checks it still completes a normal call.
func TestUASSurvivesMalformedSIP(t *testing.T) {
	l := newLab(t, nil)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	uas := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(l.uasSIP)}
	local := c.LocalAddr().(*net.UDPAddr)
	good := rawInvite(uas.String(), local, "malformed", sdpG729Only)
	junk := []string{
		"",
		"\x00\x01\x02\x03",
		"INVITE\r\n\r\n",
		"INVITE sip:uas@127.0.0.1 SIP/2.0\r\n\r\n", // no headers at all
		strings.Replace(good, "Via:", "Xia:", 1),   // no Via
		strings.Replace(good, "Call-ID:", "X-Call:", 1),
		strings.Replace(good, "CSeq: 1 INVITE", "CSeq: banana", 1),
		strings.Replace(good, "Contact: <sip:tester@"+local.String()+">\r\n", "", 1), // no Contact
		strings.Replace(good, "Content-Length: ", "Content-Length: 9999", 1),
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-x\r\n\r\n", // stray response
		"BYE sip:uas@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + local.String() + ";branch=z9hG4bK-bye\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: nope\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
		"INVITE sip:uas@127.0.0.1 SIP/2.0\r\n" + strings.Repeat("X-Filler: "+strings.Repeat("a", 1000)+"\r\n", 60) + "\r\n", // oversized
	}
	for _, m := range junk {
		_, _ = c.WriteToUDP([]byte(m), uas)
	}
	// A request after the junk, answered: the UAS has read all of it
	// (datagrams leave the socket in order).
	probe := "BYE sip:uas@" + uas.String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local.String() + ";branch=z9hG4bK-probe\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:uas@127.0.0.1>;tag=2\r\nCall-ID: after-junk\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.WriteToUDP([]byte(probe), uas); err != nil {
		t.Fatal(err)
	}
	if !answered(c, "after-junk", 5*time.Second) {
		t.Fatal("the UAS answered no request sent after the junk")
	}
	res, err := l.uac.Call(context.Background(), CallRequest{Talk: "200ms", Ring: "0s"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeAnswered {
		t.Fatalf("UAS broken after malformed input: %+v", res)
	}
}

func TestUASAnswers481ForUnknownDialog(t *testing.T) {
	l := newLab(t, nil)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	uas := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(l.uasSIP)}
	local := c.LocalAddr().(*net.UDPAddr)
	bye := "BYE sip:uas@" + uas.String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local.String() + ";branch=z9hG4bK-bye481\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:uas@127.0.0.1>;tag=2\r\nCall-ID: unknown-dialog\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
	if res := exchange(t, c, uas, bye, 5*time.Second); !strings.HasPrefix(res, "SIP/2.0 481 ") {
		t.Fatalf("BYE outside a dialog: got %q, want 481", firstLine(res))
	}
}

func TestUASAnswers481ForStrayCancel(t *testing.T) {
	l := newLab(t, nil)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	uas := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(l.uasSIP)}
	local := c.LocalAddr().(*net.UDPAddr)
	cancel := "CANCEL sip:uas@" + uas.String() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local.String() + ";branch=z9hG4bK-nothing\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:uas@127.0.0.1>\r\nCall-ID: stray-cancel\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n"
	if res := exchange(t, c, uas, cancel, 5*time.Second); !strings.HasPrefix(res, "SIP/2.0 481 ") {
		t.Fatalf("stray CANCEL: got %q, want 481", firstLine(res))
	}
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\r\n"); return l }

func TestUASRejectsBadOverrideHeader(t *testing.T) {
	l := newLab(t, nil)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	uas := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(l.uasSIP)}
	local := c.LocalAddr().(*net.UDPAddr)
	inv := rawInvite(uas.String(), local, "bad-ring", sdpG729Only)
	inv = strings.Replace(inv, "Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nX-Qoslab-Ring: banana\r\n", 1)
	if res := exchange(t, c, uas, inv, 5*time.Second); !strings.HasPrefix(res, "SIP/2.0 400 ") {
		t.Fatalf("bad X-Qoslab-Ring: got %q, want 400", firstLine(res))
	}
}

// TestUACSurvivesMalformedSIP: junk at the UAC's SIP port does not stop
// it from placing a call.
func TestUACSurvivesMalformedSIP(t *testing.T) {
	l := newLab(t, map[string]string{"ring": "0s"})
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	uac := net.UDPAddrFromAddrPort(l.uac.st.addr)
	for _, m := range []string{"\xff\xfe", "BYE\r\n\r\n", "SIP/2.0 180 Ringing\r\n\r\n", strings.Repeat("x", 60000)} {
		_, _ = c.WriteToUDP([]byte(m), uac)
	}
	if res := mustCall(t, l.uac, CallRequest{Talk: "100ms"}); res.Outcome != OutcomeAnswered {
		t.Fatalf("UAC broken after junk: %+v", res)
	}
}
