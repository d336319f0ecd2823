package proxy

import (
	"errors"
	"testing"

	"github.com/qoslab/qoslab/protocol/cops"
)

// FuzzParseMedia feeds arbitrary SDP to the proxy's only decoder of its
// own: it must return a media stream or an error, never panic, and what it
// accepts must be G.711 audio at a valid address.
func FuzzParseMedia(f *testing.F) {
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0 8\r\n"))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 20000 RTP/AVP 96\r\nc=IN IP4 10.0.0.1\r\na=rtpmap:96 PCMA/8000\r\n"))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n"))
	f.Add([]byte("v=0\r\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := parseMedia(body)
		if err != nil {
			if m != (media{}) {
				t.Fatalf("error %v with media %+v", err, m)
			}
			return
		}
		if !m.Addr.IsValid() || (m.Codec != "PCMU" && m.Codec != "PCMA") {
			t.Fatalf("accepted %+v", m)
		}
		if errors.Is(err, errNotAcceptable) {
			t.Fatal("unreachable")
		}
	})
}

// FuzzCallSteps drives the call state machine with arbitrary event
// sequences and checks what must hold in every order of arrival: the
// INVITE is forwarded at most once and only after a DEC Install for AAA,
// the caller gets at most one answer from the proxy itself, the handle is
// deleted at most once, only one REQ is outstanding on the handle at a
// time, and nothing is still held once the call is Done.
func FuzzCallSteps(f *testing.F) {
	f.Add([]byte{0, 1, 5, 1, 5, 7, 8})
	f.Add([]byte{0, 4, 5, 6})
	f.Add([]byte{0, 1, 5, 5, 3, 9})
	f.Fuzz(func(t *testing.T, script []byte) {
		var c Call
		var forwarded, responded, drqs int
		var outstanding cops.Kind // REQ without its DEC yet: one per handle at a time
		aaaInstalled := false
		for i, b := range script {
			ev := fuzzEvent(b, i)
			if ev.Kind == EvDecInstall && ev.Req == cops.KindAAA && c.Phase() == AwaitAAA {
				aaaInstalled = true
			}
			switch {
			case ev.Kind == EvPDPLost,
				(ev.Kind == EvDecInstall || ev.Kind == EvDecRemove || ev.Kind == EvPolicyTimeout) && ev.Req == outstanding:
				outstanding = 0
			}
			for _, a := range c.Step(ev) {
				switch a.Kind {
				case ActSendREQ:
					if outstanding != 0 {
						t.Fatalf("REQ %s while REQ %s is outstanding (script %v)", a.Req, outstanding, script)
					}
					outstanding = a.Req
				case ActForwardInvite:
					forwarded++
					if !aaaInstalled {
						t.Fatalf("INVITE forwarded without AAA Install (script %v)", script)
					}
				case ActRespond:
					responded++
				case ActSendDRQ:
					drqs++
				}
			}
			if forwarded > 1 || responded > 1 || drqs > 1 {
				t.Fatalf("forwarded %d, responded %d, DRQs %d (script %v)", forwarded, responded, drqs, script)
			}
			if c.Done() && len(c.held) != 0 {
				t.Fatalf("done with %d held responses (script %v)", len(c.held), script)
			}
		}
	})
}

// fuzzEvent maps a byte to an event; i numbers responses.
func fuzzEvent(b byte, i int) Event {
	req := cops.Kind(b>>4%3 + 1)
	switch b % 12 {
	case 0:
		return Event{Kind: EvInvite}
	case 1:
		return Event{Kind: EvDecInstall, Req: req, Token: "t"}
	case 2:
		return Event{Kind: EvDecRemove, Req: req, Reason: "no"}
	case 3:
		return Event{Kind: EvDecRemove, Reason: "withdrawn"}
	case 4:
		return Event{Kind: EvPolicyTimeout, Req: req}
	case 5:
		statuses := []int{100, 180, 183, 200, 486, 487}
		st := statuses[int(b>>4)%len(statuses)]
		return Event{Kind: EvResponse, Resp: i + 1, Status: st, SDP: b&0x10 != 0}
	case 6:
		return Event{Kind: EvPDPLost}
	case 7:
		return Event{Kind: EvBye, FromCaller: b&0x10 != 0}
	case 8:
		return Event{Kind: EvByeFinal, Status: 200}
	case 9:
		return Event{Kind: EvCancel}
	case 10:
		return Event{Kind: EvTxGone}
	}
	return Event{Kind: EvResponse, Resp: i + 1, Status: 200, SDP: true}
}
