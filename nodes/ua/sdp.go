package ua

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/qoslab/qoslab/traffic/rtp"
)

// Reasons an offer cannot be answered; both become 488 Not Acceptable Here.
var (
	errNoAudio = errors.New("ua: SDP has no active audio stream")
	errNoCodec = errors.New("ua: SDP offers no supported codec (PCMU, PCMA)")
)

// supportedCodecs is what qoslab offers, in preference order.
var supportedCodecs = []rtp.Codec{rtp.PCMU, rtp.PCMA}

// media is the part of an SDP body a UA acts on: where to send RTP and
// which codecs the other side accepts, in its order of preference.
type media struct {
	Addr   netip.AddrPort
	Codecs []rtp.Codec
}

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

// parseSDP reads the first active audio stream of an SDP body. Codecs the
// UA does not support are skipped; errNoAudio and errNoCodec report an
// offer it cannot answer.
func parseSDP(body []byte) (media, error) {
	var s sdp.SessionDescription
	if err := s.Unmarshal(body); err != nil {
		return media{}, fmt.Errorf("ua: parse SDP: %w", err)
	}
	for _, md := range s.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		conn := md.ConnectionInformation
		if conn == nil {
			conn = s.ConnectionInformation
		}
		if conn == nil || conn.Address == nil {
			return media{}, fmt.Errorf("ua: SDP audio stream has no connection address")
		}
		ip, err := netip.ParseAddr(conn.Address.Address)
		if err != nil {
			return media{}, fmt.Errorf("ua: SDP connection address %q: %w", conn.Address.Address, err)
		}
		if md.MediaName.Port.Value < 1 || md.MediaName.Port.Value > 65535 {
			return media{}, fmt.Errorf("ua: SDP audio port %d out of range", md.MediaName.Port.Value)
		}
		m := media{Addr: netip.AddrPortFrom(ip, uint16(md.MediaName.Port.Value))}
		for _, f := range md.MediaName.Formats {
			if c, ok := codecFor(md, f); ok {
				m.Codecs = append(m.Codecs, c)
			}
		}
		if len(m.Codecs) == 0 {
			return m, errNoCodec
		}
		return m, nil
	}
	return media{}, errNoAudio
}

// codecFor maps one format of an m= line to a supported codec: by its
// rtpmap when present (a peer may bind any name to a number), else by the
// static payload type.
func codecFor(md *sdp.MediaDescription, format string) (rtp.Codec, bool) {
	pt, err := strconv.ParseUint(format, 10, 8)
	if err != nil {
		return rtp.Codec{}, false
	}
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		num, enc, ok := strings.Cut(a.Value, " ")
		if !ok || num != format {
			continue
		}
		name, rate, _ := strings.Cut(enc, "/")
		c, err := rtp.CodecByName(strings.ToUpper(name))
		if err != nil || (rate != "" && rate != "8000") || uint64(c.PayloadType) != pt {
			return rtp.Codec{}, false
		}
		return c, true
	}
	c, err := rtp.CodecByPayloadType(uint8(pt))
	return c, err == nil
}

// negotiate picks the answer's codec: the offerer's first choice that the
// UA supports (RFC 3264 section 6.1 lets the answerer keep the order).
func negotiate(offer media) (rtp.Codec, error) {
	if len(offer.Codecs) == 0 {
		return rtp.Codec{}, errNoCodec
	}
	return offer.Codecs[0], nil
}
