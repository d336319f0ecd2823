package proxy

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/qoslab/qoslab/flow"
	"github.com/qoslab/qoslab/protocol/cops"
	"github.com/qoslab/qoslab/traffic/rtp"
)

// The proxy reads SDP only to learn the media 5-tuples its PDP needs and to
// refuse, with 488, offers it could never get a policy for.

// errNotAcceptable marks SDP the lab cannot carry: no audio stream or no
// G.711 codec. The proxy answers 488 Not Acceptable Here.
var errNotAcceptable = errors.New("proxy: SDP not acceptable")

// g711Kbps is one direction of G.711 at 20 ms with RTP, UDP and IPv4
// headers: (160 + 12 + 8 + 20) bytes * 50 packets/s * 8 bits.
const g711Kbps = 80

// media is the audio stream of one SDP body.
type media struct {
	Addr  netip.AddrPort // where this party receives RTP (and, symmetric, sends from)
	Codec string         // first G.711 codec of the m-line
}

// parseMedia reads the first audio stream of an SDP body (rtp.ParseAudio):
// what the UAs parse is what the proxy asks policy for.
func parseMedia(body []byte) (media, error) {
	a, err := rtp.ParseAudio(body)
	switch {
	case errors.Is(err, rtp.ErrNoAudio), errors.Is(err, rtp.ErrNoCodec):
		return media{}, fmt.Errorf("%w: %w", errNotAcceptable, err)
	case err != nil:
		return media{}, fmt.Errorf("proxy: %w", err)
	}
	return media{Addr: a.Addr, Codec: a.Codecs[0].Name}, nil
}

// flows are the two directions of RTP between offerer (the caller) and
// answerer. Symmetric RTP: each party sends from the port it receives on.
func flows(offer, answer media) []cops.MediaFlow {
	if !offer.Addr.IsValid() || !answer.Addr.IsValid() {
		return nil
	}
	return []cops.MediaFlow{
		{Dir: cops.Forward, Tuple: flow.Tuple{Proto: 17, Src: offer.Addr, Dst: answer.Addr}},
		{Dir: cops.Backward, Tuple: flow.Tuple{Proto: 17, Src: answer.Addr, Dst: offer.Addr}},
	}
}
