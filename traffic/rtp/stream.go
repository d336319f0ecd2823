package rtp

import "github.com/pion/rtp"

// Stream numbers the packets of one outgoing RTP stream: sequence numbers
// +1 and timestamps +160 per 20 ms packet, one SSRC, and the marker bit
// only on the first packet of a talkspurt (RFC 3551 section 4.1). pion's
// Packetizer sets the marker on every packet, which is wrong for audio, so
// the header is built here. Stream holds no clock or randomness: the
// caller supplies the random SSRC and initial values (RFC 3550 section 5.1
// wants both random).
type Stream struct {
	hdr        rtp.Header
	talkspurt  bool // next packet starts a talkspurt
	packets    uint64
	octets     uint64
	payloadLen int
}

// NewStream starts a stream. seq and ts are the first packet's sequence
// number and timestamp.
func NewStream(c Codec, ssrc uint32, seq uint16, ts uint32) *Stream {
	return &Stream{
		hdr: rtp.Header{
			Version:        2,
			PayloadType:    c.PayloadType,
			SequenceNumber: seq,
			Timestamp:      ts,
			SSRC:           ssrc,
		},
		talkspurt: true,
	}
}

// SSRC returns the stream's synchronisation source.
func (s *Stream) SSRC() uint32 { return s.hdr.SSRC }

// StartTalkspurt marks the next packet as the first of a talkspurt (after
// silence suppression). Timestamps keep running across the gap.
func (s *Stream) StartTalkspurt() { s.talkspurt = true }

// Skip advances the timestamp over n suppressed 20 ms frames without
// sending them (sequence numbers do not advance: RFC 3550 5.1).
func (s *Stream) Skip(n int) { s.hdr.Timestamp += uint32(n) * SamplesPerPacket }

// AppendPacket appends the next packet (header + payload) to b and
// advances the stream. It does not allocate when b has room.
func (s *Stream) AppendPacket(b []byte, payload []byte) []byte {
	s.hdr.Marker = s.talkspurt
	s.talkspurt = false
	n := s.hdr.MarshalSize()
	off := len(b)
	b = append(b, make([]byte, n)...)
	// MarshalTo only fails when the buffer is short, and it is not.
	_, _ = s.hdr.MarshalTo(b[off:])
	b = append(b, payload...)
	s.packets++
	s.octets += uint64(len(payload))
	s.hdr.SequenceNumber++
	s.hdr.Timestamp += SamplesPerPacket
	return b
}

// Packets is the number of packets produced so far.
func (s *Stream) Packets() uint64 { return s.packets }

// Octets is the number of payload octets produced so far (RTCP SR sense).
func (s *Stream) Octets() uint64 { return s.octets }
