package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Bad input sent as raw datagrams to SIP1: each gets a clear SIP error (or,
// when it cannot even be parsed, nothing) and leaves no call, transaction
// or COPS handle behind.

func rawInvite(l *lab, callID, sdp string, extra ...string) string {
	src := rawAddr(l)
	body := sdp
	hdr := []string{
		fmt.Sprintf("INVITE sip:uas@%s SIP/2.0", l.uasAddr),
		fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s", src, callID),
		"Max-Forwards: 70",
		fmt.Sprintf("From: <sip:uac@%s>;tag=t-%s", l.uacAddr.Addr(), callID),
		fmt.Sprintf("To: <sip:uas@%s>", l.uasAddr.Addr()),
		"Call-ID: " + callID,
		"CSeq: 1 INVITE",
		fmt.Sprintf("Contact: <sip:uac@%s>", src),
	}
	if body != "" {
		hdr = append(hdr, "Content-Type: application/sdp")
	}
	hdr = append(hdr, extra...)
	hdr = append(hdr, fmt.Sprintf("Content-Length: %d", len(body)))
	return strings.Join(hdr, "\r\n") + "\r\n\r\n" + body
}

// rawAddr is a raw socket next to the UAC.
func rawAddr(l *lab) netip.AddrPort { return netip.AddrPortFrom(l.uacAddr.Addr(), 5071) }

func without(msg, header string) string {
	var out []string
	for _, line := range strings.Split(msg, "\r\n") {
		if !strings.HasPrefix(line, header+":") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\r\n")
}

func TestBadInput(t *testing.T) {
	pdp1, pdp2 := newScriptedPDP(t, nil), newScriptedPDP(t, nil)
	l := startLab(t, pdp1, pdp2, time.Second)
	conn, err := net.ListenPacket("udp", rawAddr(l).String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	to, _ := net.ResolveUDPAddr("udp", l.sip1Addr.String())

	pcmu := string(sdpBody(l.uacAddr.Addr(), 20000, "0"))
	noAudio := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
	g729 := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
	cases := []struct {
		name string
		msg  string
		want string // status line prefix, "" for no answer
	}{
		{"garbage", "\x00\x01hello there\r\n\r\n", ""},
		{"no Via", without(rawInvite(l, "b1", pcmu), "Via"), "SIP/2.0 400"}, // sipgo answers to the source
		{"no CSeq", without(rawInvite(l, "b2", pcmu), "CSeq"), "SIP/2.0 400"},
		{"no From", without(rawInvite(l, "b3", pcmu), "From"), "SIP/2.0 400"},
		{"no To", without(rawInvite(l, "b4", pcmu), "To"), "SIP/2.0 400"},
		{"no SDP", rawInvite(l, "b5", ""), "SIP/2.0 488"},
		{"no audio", rawInvite(l, "b6", noAudio), "SIP/2.0 488"},
		{"unknown codec", rawInvite(l, "b7", g729), "SIP/2.0 488"},
		{"malformed SDP", rawInvite(l, "b8", "this is not sdp\r\n"), "SIP/2.0 400"},
		{"Max-Forwards 0", strings.Replace(rawInvite(l, "b9", pcmu), "Max-Forwards: 70", "Max-Forwards: 0", 1), "SIP/2.0 483"},
		{"stray CANCEL", strings.Replace(strings.Replace(rawInvite(l, "b11", ""), "INVITE sip:", "CANCEL sip:", 1), "CSeq: 1 INVITE", "CSeq: 1 CANCEL", 1), "SIP/2.0 481"},
	}
	buf := make([]byte, 65536)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := conn.WriteTo([]byte(tc.msg), to); err != nil {
				t.Fatal(err)
			}
			wait := time.Second
			if tc.want == "" {
				wait = 300 * time.Millisecond
			}
			for {
				conn.SetReadDeadline(time.Now().Add(wait))
				n, _, err := conn.ReadFrom(buf)
				if err != nil {
					if tc.want != "" {
						t.Fatalf("no answer, want %q", tc.want)
					}
					return
				}
				got := string(buf[:n])
				if strings.HasPrefix(got, "SIP/2.0 100") {
					continue
				}
				if tc.want == "" || !strings.HasPrefix(got, tc.want) {
					t.Fatalf("answer %q, want %q", strings.SplitN(got, "\r\n", 2)[0], tc.want)
				}
				return
			}
		})
	}
	l.settled(pdp1, pdp2)
	if len(pdp1.log()) != 0 {
		t.Errorf("bad input reached the PDP: %q", pdp1.log())
	}
	if n, _, _ := l.uas.counts(); n != 0 {
		t.Errorf("bad input reached the UAS")
	}
}
