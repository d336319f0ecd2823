package rtp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Reasons an SDP body cannot be answered; a SIP peer answers 488.
var (
	ErrNoAudio = errors.New("rtp: SDP has no active audio stream")
	ErrNoCodec = errors.New("rtp: SDP offers no supported codec (PCMU, PCMA)")
)

// Audio is the part of an SDP body media needs: where the party receives
// RTP (and, symmetric, sends from) and which codecs it accepts, in its
// order of preference.
type Audio struct {
	Addr   netip.AddrPort
	Codecs []Codec
}

// ParseAudio reads the first active audio stream of an SDP body. Codecs
// qoslab does not speak are skipped; ErrNoAudio and ErrNoCodec report an
// offer that cannot be answered (SIP 488). The UAs answer from it, and the
// proxies learn the media 5-tuples their policy servers need.
func ParseAudio(body []byte) (Audio, error) {
	var s sdp.SessionDescription
	if err := s.Unmarshal(body); err != nil {
		return Audio{}, fmt.Errorf("rtp: parse SDP: %w", err)
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
			return Audio{}, fmt.Errorf("rtp: SDP audio stream has no connection address")
		}
		ip, err := netip.ParseAddr(conn.Address.Address)
		if err != nil {
			return Audio{}, fmt.Errorf("rtp: SDP connection address %q: %w", conn.Address.Address, err)
		}
		if md.MediaName.Port.Value < 1 || md.MediaName.Port.Value > 65535 {
			return Audio{}, fmt.Errorf("rtp: SDP audio port %d out of range", md.MediaName.Port.Value)
		}
		m := Audio{Addr: netip.AddrPortFrom(ip, uint16(md.MediaName.Port.Value))}
		for _, f := range md.MediaName.Formats {
			if c, ok := codecFor(md, f); ok {
				m.Codecs = append(m.Codecs, c)
			}
		}
		if len(m.Codecs) == 0 {
			return m, ErrNoCodec
		}
		return m, nil
	}
	return Audio{}, ErrNoAudio
}

// codecFor maps one format of an m= line to a supported codec: by its
// rtpmap when present (a peer may bind any name to a number), else by the
// static payload type.
func codecFor(md *sdp.MediaDescription, format string) (Codec, bool) {
	pt, err := strconv.ParseUint(format, 10, 8)
	if err != nil {
		return Codec{}, false
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
		c, err := CodecByName(strings.ToUpper(name))
		if err != nil || (rate != "" && rate != "8000") || uint64(c.PayloadType) != pt {
			return Codec{}, false
		}
		return c, true
	}
	c, err := CodecByPayloadType(uint8(pt))
	return c, err == nil
}
