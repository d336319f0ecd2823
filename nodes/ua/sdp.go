package ua

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/pion/sdp/v3"
	"github.com/qoslab/qoslab/traffic/rtp"
)

// Reasons an offer cannot be answered (rtp.ErrNoAudio, rtp.ErrNoCodec)
// become 488 Not Acceptable Here.

// supportedCodecs is what qoslab offers, in preference order.
var supportedCodecs = []rtp.Codec{rtp.PCMU, rtp.PCMA}

// media is the part of an SDP body a UA acts on (rtp.ParseAudio).
type media = rtp.Audio

// parseSDP reads the first active audio stream of an SDP body.
func parseSDP(body []byte) (media, error) { return rtp.ParseAudio(body) }

// buildSDP writes an offer or answer for one audio stream at addr with
// the given codecs, 20 ms packetization, sendrecv.
func buildSDP(sessionID uint64, addr netip.AddrPort, codecs []rtp.Codec) ([]byte, error) {
	ip := addr.Addr().Unmap()
	addrType := "IP4"
	if ip.Is6() {
		addrType = "IP6"
	}
	md := &sdp.MediaDescription{
		MediaName: sdp.MediaName{
			Media:  "audio",
			Port:   sdp.RangedPort{Value: int(addr.Port())},
			Protos: []string{"RTP", "AVP"},
		},
	}
	for _, c := range codecs {
		md.WithCodec(c.PayloadType, c.Name, c.ClockRate, 0, "")
	}
	md.WithValueAttribute("ptime", strconv.Itoa(rtp.PTimeMillis)).WithPropertyAttribute("sendrecv")
	s := &sdp.SessionDescription{
		Origin: sdp.Origin{
			Username:       "qoslab",
			SessionID:      sessionID,
			SessionVersion: sessionID,
			NetworkType:    "IN",
			AddressType:    addrType,
			UnicastAddress: ip.String(),
		},
		SessionName: "qoslab call",
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN",
			AddressType: addrType,
			Address:     &sdp.Address{Address: ip.String()},
		},
		TimeDescriptions:  []sdp.TimeDescription{{}},
		MediaDescriptions: []*sdp.MediaDescription{md},
	}
	b, err := s.Marshal()
	if err != nil {
		return nil, fmt.Errorf("ua: build SDP: %w", err)
	}
	return b, nil
}

// negotiate picks the answer's codec: the offerer's first choice that the
// UA supports (RFC 3264 section 6.1 lets the answerer keep the order).
func negotiate(offer media) (rtp.Codec, error) {
	if len(offer.Codecs) == 0 {
		return rtp.Codec{}, rtp.ErrNoCodec
	}
	return offer.Codecs[0], nil
}
