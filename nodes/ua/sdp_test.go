package ua

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/qoslab/qoslab/traffic/rtp"
)

func TestSDPRoundTrip(t *testing.T) {
	addr := netip.MustParseAddrPort("198.18.1.2:20000")
	b, err := buildSDP(42, addr, []rtp.Codec{rtp.PCMA, rtp.PCMU})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"m=audio 20000 RTP/AVP 8 0", "a=rtpmap:8 PCMA/8000", "a=rtpmap:0 PCMU/8000", "a=ptime:20", "a=sendrecv", "c=IN IP4 198.18.1.2"} {
		if !strings.Contains(string(b), want+"\r\n") {
			t.Errorf("SDP lacks %q:\n%s", want, b)
		}
	}
	m, err := parseSDP(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Addr != addr || len(m.Codecs) != 2 || m.Codecs[0] != rtp.PCMA || m.Codecs[1] != rtp.PCMU {
		t.Fatalf("parsed %+v", m)
	}
	c, err := negotiate(m)
	if err != nil || c != rtp.PCMA {
		t.Fatalf("negotiated %v, %v", c, err)
	}
}

func TestParseSDPCases(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
	cases := []struct {
		name   string
		sdp    string
		err    error
		addr   string
		codecs []rtp.Codec
	}{
		{"static types without rtpmap", head + "m=audio 4000 RTP/AVP 0 8\r\n", nil, "10.0.0.1:4000", []rtp.Codec{rtp.PCMU, rtp.PCMA}},
		{"unknown codec first is skipped", head + "m=audio 4000 RTP/AVP 18 8\r\na=rtpmap:18 G729/8000\r\n", nil, "10.0.0.1:4000", []rtp.Codec{rtp.PCMA}},
		{"media-level address wins", head + "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.0.0.9\r\n", nil, "10.0.0.9:4000", []rtp.Codec{rtp.PCMU}},
		{"video then audio", head + "m=video 5000 RTP/AVP 96\r\nm=audio 4000 RTP/AVP 0\r\n", nil, "10.0.0.1:4000", []rtp.Codec{rtp.PCMU}},
		{"dynamic type named PCMU is not PCMU", head + "m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 PCMU/8000\r\n", rtp.ErrNoCodec, "", nil},
		{"PCMU at the wrong rate", head + "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/16000\r\n", rtp.ErrNoCodec, "", nil},
		{"no audio", head + "m=video 5000 RTP/AVP 96\r\n", rtp.ErrNoAudio, "", nil},
		{"audio disabled", head + "m=audio 0 RTP/AVP 0\r\n", rtp.ErrNoAudio, "", nil},
		{"only G729", head + "m=audio 4000 RTP/AVP 18\r\n", rtp.ErrNoCodec, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := parseSDP([]byte(c.sdp))
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Addr.String() != c.addr || len(m.Codecs) != len(c.codecs) {
				t.Fatalf("got %+v", m)
			}
			for i := range c.codecs {
				if m.Codecs[i] != c.codecs[i] {
					t.Fatalf("codecs %v, want %v", m.Codecs, c.codecs)
				}
			}
		})
	}
}

func TestParseSDPErrors(t *testing.T) {
	for _, s := range []string{
		"",
		"garbage",
		"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",                       // no c=
		"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 not-an-ip\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", // bad c=
	} {
		if _, err := parseSDP([]byte(s)); err == nil {
			t.Errorf("accepted %q", s)
		}
	}
}

// FuzzParseSDP: any body gives either an error or a usable answer target
// (valid address and port, at least one supported codec); never a panic.
func FuzzParseSDP(f *testing.F) {
	b, _ := buildSDP(1, netip.MustParseAddrPort("127.0.0.1:20000"), supportedCodecs)
	f.Add(b)
	f.Add([]byte(sdpVideoOnly))
	f.Add([]byte(sdpG729Only))
	f.Add([]byte(sdpAudioDisabled))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := parseSDP(body)
		if err != nil {
			return
		}
		if !m.Addr.IsValid() || m.Addr.Port() == 0 || len(m.Codecs) == 0 {
			t.Fatalf("accepted unusable media %+v", m)
		}
		if _, err := negotiate(m); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMediaHeaderRoundTrip(t *testing.T) {
	s := rtp.Stats{Packets: 150, Lost: 2, Duplicates: 1, Reordered: 3, JitterMillis: 0.1254, DSCP: map[string]uint64{"46": 148, "0": 2}}
	v := formatMediaHeader(s)
	if v != "packets=150;lost=2;dup=1;reorder=3;jitter_ms=0.125;dscp=0:2/46:148" {
		t.Fatalf("header %q", v)
	}
	m, err := parseMediaHeader(v)
	if err != nil {
		t.Fatal(err)
	}
	if m.Packets != 150 || m.Lost != 2 || m.Duplicates != 1 || m.Reordered != 3 || m.JitterMs != 0.125 || m.DSCP["46"] != 148 || m.DSCP["0"] != 2 {
		t.Fatalf("parsed %+v", m)
	}
	if _, err := parseMediaHeader("packets=x"); err == nil {
		t.Error("bad number accepted")
	}
	if _, err := parseMediaHeader("dscp=99:1"); err == nil {
		t.Error("DSCP 99 accepted")
	}
	if m, err := parseMediaHeader("future=1;packets=3"); err != nil || m.Packets != 3 {
		t.Errorf("unknown key: %+v %v", m, err)
	}
}

// FuzzParseMediaHeader: a peer's header never panics the UAC, and what
// parses re-encodes to something that parses the same.
func FuzzParseMediaHeader(f *testing.F) {
	f.Add("packets=150;lost=0;dup=0;reorder=0;jitter_ms=0.125;dscp=0:2/46:148")
	f.Add("dscp=")
	f.Add(";;=;")
	f.Fuzz(func(t *testing.T, v string) {
		m, err := parseMediaHeader(v)
		if err != nil {
			return
		}
		for k := range m.DSCP {
			if len(k) > 2 {
				t.Fatalf("DSCP key %q", k)
			}
		}
	})
}
