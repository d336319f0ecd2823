package rtp

import (
	"errors"
	"net/netip"
	"testing"
)

func TestParseAudio(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 198.18.1.2\r\ns=-\r\nc=IN IP4 198.18.1.2\r\nt=0 0\r\n"
	a, err := ParseAudio([]byte(head + "m=audio 20000 RTP/AVP 8 0 18\r\na=rtpmap:8 PCMA/8000\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Addr != netip.MustParseAddrPort("198.18.1.2:20000") {
		t.Errorf("address %v", a.Addr)
	}
	if len(a.Codecs) != 2 || a.Codecs[0] != PCMA || a.Codecs[1] != PCMU {
		t.Errorf("codecs %v, want PCMA then PCMU (G.729 skipped)", a.Codecs)
	}
	if _, err := ParseAudio([]byte(head + "m=video 5000 RTP/AVP 96\r\n")); !errors.Is(err, ErrNoAudio) {
		t.Errorf("video only: %v, want ErrNoAudio", err)
	}
	if _, err := ParseAudio([]byte(head + "m=audio 4000 RTP/AVP 18\r\n")); !errors.Is(err, ErrNoCodec) {
		t.Errorf("G.729 only: %v, want ErrNoCodec", err)
	}
	if _, err := ParseAudio([]byte("not sdp")); err == nil || errors.Is(err, ErrNoAudio) {
		t.Errorf("garbage: %v, want a parse error", err)
	}
}
