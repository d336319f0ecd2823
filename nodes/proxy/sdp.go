package proxy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
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

// parseMedia reads the first audio stream of an SDP body.
func parseMedia(body []byte) (media, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return media{}, fmt.Errorf("proxy: parse SDP: %w", err)
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		codec := g711Codec(md)
		if codec == "" {
			return media{}, fmt.Errorf("%w: audio offers %v, no PCMU or PCMA", errNotAcceptable, md.MediaName.Formats)
		}
		ci := md.ConnectionInformation
		if ci == nil {
			ci = sd.ConnectionInformation
		}
		if ci == nil || ci.Address == nil {
			return media{}, fmt.Errorf("proxy: SDP audio stream has no connection address")
		}
		ip, err := netip.ParseAddr(ci.Address.Address)
		if err != nil {
			return media{}, fmt.Errorf("proxy: SDP connection address: %w", err)
		}
		port := md.MediaName.Port.Value
		if port < 0 || port > 65535 {
			return media{}, fmt.Errorf("proxy: SDP audio port %d out of range", port)
		}
		return media{Addr: netip.AddrPortFrom(ip, uint16(port)), Codec: codec}, nil
	}
	return media{}, fmt.Errorf("%w: no audio stream", errNotAcceptable)
}

// g711Codec returns PCMU or PCMA if the m-line offers one (static payload
// types 0 and 8, or a dynamic type mapped to them), the first one listed.
func g711Codec(md *sdp.MediaDescription) string {
	rtpmap := map[string]string{}
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, enc, ok := strings.Cut(a.Value, " ")
		if ok {
			name, _, _ := strings.Cut(enc, "/")
			rtpmap[pt] = strings.ToUpper(name)
		}
	}
	for _, f := range md.MediaName.Formats {
		name := rtpmap[f]
		if name == "" {
			if n, err := strconv.Atoi(f); err == nil {
				switch n {
				case 0:
					name = "PCMU"
				case 8:
					name = "PCMA"
				}
			}
		}
		if name == "PCMU" || name == "PCMA" {
			return name
		}
	}
	return ""
}

// flows are the two directions of RTP between offerer and answerer.
// Symmetric RTP: each party sends from the port it receives on.
func flows(offer, answer media) []Flow {
	if !offer.Addr.IsValid() || !answer.Addr.IsValid() {
		return nil
	}
	return []Flow{
		{Src: offer.Addr, Dst: answer.Addr},
		{Src: answer.Addr, Dst: offer.Addr},
	}
}
