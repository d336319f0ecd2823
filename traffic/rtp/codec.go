package rtp

import "fmt"

// Codec is a static-payload-type G.711 codec (RFC 3551 table 4).
type Codec struct {
	Name        string // SDP encoding name: "PCMU" or "PCMA"
	PayloadType uint8
	ClockRate   uint32
}

// The two codecs qoslab speaks. Both are 8 kHz, one byte per sample.
var (
	PCMU = Codec{Name: "PCMU", PayloadType: 0, ClockRate: 8000}
	PCMA = Codec{Name: "PCMA", PayloadType: 8, ClockRate: 8000}
)

// Packetization constants for 20 ms G.711 frames.
const (
	// PTimeMillis is the packetization time in milliseconds (a=ptime:20).
	PTimeMillis = 20
	// SamplesPerPacket is the RTP timestamp increment per packet.
	SamplesPerPacket = 160
	// PayloadSize is the G.711 payload of one 20 ms packet in bytes.
	PayloadSize = 160
	// PacketsPerSecond is the send rate of one direction.
	PacketsPerSecond = 1000 / PTimeMillis
)

// CodecByPayloadType returns the codec for a static payload type.
func CodecByPayloadType(pt uint8) (Codec, error) {
	switch pt {
	case PCMU.PayloadType:
		return PCMU, nil
	case PCMA.PayloadType:
		return PCMA, nil
	}
	return Codec{}, fmt.Errorf("rtp: unsupported payload type %d", pt)
}

// CodecByName returns the codec for an SDP encoding name (case-sensitive
// as registered, but SDP peers send upper case).
func CodecByName(name string) (Codec, error) {
	switch name {
	case "PCMU", "pcmu":
		return PCMU, nil
	case "PCMA", "pcma":
		return PCMA, nil
	}
	return Codec{}, fmt.Errorf("rtp: unsupported codec %q", name)
}
