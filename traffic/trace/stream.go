package trace

import (
	"errors"
	"fmt"
)

// maxPending bounds the out-of-order segments a stream holds while it waits
// for a missing one. A capture that lost a segment for good gives up that
// stream at the gap instead of buffering forever.
const maxPending = 256

// maxStreamBuffer bounds the bytes a stream holds for an incomplete message.
const maxStreamBuffer = 1 << 20

// framer tells how long the message at the start of b is: 0 when more
// bytes are needed, an error when b cannot start a message of this protocol.
type framer func(b []byte) (int, error)

// tcpMessage is one whole application message cut from a TCP stream: its
// bytes (owned), the sequence number of its first byte (the same on every
// link the stream crosses, so it identifies the message across links) and
// the packet that completed it.
type tcpMessage struct {
	Data []byte
	Seq  uint32
	pk   packet
}

// stream reassembles one direction of one TCP connection on one link, in
// order, tolerant of retransmissions and overlaps, and cuts it into
// messages with its framer.
type stream struct {
	frame   framer
	started bool
	next    uint32 // sequence number of the next byte wanted
	pending map[uint32]segment
	last    packet // the packet that delivered the newest bytes (without its payload)
	buf     []byte
	bufSeq  uint32 // sequence number of buf[0]
	broken  error  // set when the stream cannot be followed any more
	// peerAck is the highest acknowledgement the other direction sent.
	peerAck    uint32
	peerAckSet bool
}

func newStream(f framer) *stream { return &stream{frame: f, pending: map[uint32]segment{}} }

// segment is an out-of-order segment waiting for the bytes before it.
type segment struct {
	data []byte
	pk   packet
}

// meta strips a packet of what borrows the capture reader's buffer.
func meta(pk packet) packet {
	pk.Payload, pk.Data = nil, nil
	return pk
}

// seqDiff is a-b in sequence space (RFC 793 arithmetic, wraps at 2^32).
func seqDiff(a, b uint32) int32 { return int32(a - b) }

// add takes one segment and returns the messages it completes. An error
// with messages is a hole the capture lost (the stream goes on after it);
// an error that breaks the stream stops it.
func (s *stream) add(pk packet) ([]tcpMessage, error) {
	if s.broken != nil {
		return nil, nil
	}
	seq := pk.Seq
	if pk.SYN {
		// A SYN starts the stream; a retransmitted one changes nothing.
		if !s.started {
			s.started, s.next, s.bufSeq = true, seq+1, seq+1
		}
		seq++
	}
	data := pk.Payload
	if len(data) == 0 {
		return nil, nil
	}
	if !s.started {
		// The capture began mid-connection: start at the first segment seen.
		s.started, s.next, s.bufSeq = true, seq, seq
	}
	switch d := seqDiff(seq, s.next); {
	case d > 0:
		if len(s.pending) >= maxPending {
			s.broken = fmt.Errorf("tcp %s on %s: gap at seq %d never filled", pk.Tuple, pk.Link, s.next)
			return nil, s.broken
		}
		if old, ok := s.pending[seq]; !ok || len(old.data) < len(data) {
			s.pending[seq] = segment{append([]byte(nil), data...), meta(pk)}
		}
		return s.skipLost(pk)
	case d < 0:
		if -int(d) >= len(data) {
			return nil, nil // a retransmission of bytes already taken
		}
		data = data[-d:]
	}
	s.append(data)
	s.last = meta(pk)
	return s.drain(pk)
}

// drain appends the pending segments that now fit and cuts messages.
func (s *stream) drain(pk packet) ([]tcpMessage, error) {
	for len(s.pending) > 0 {
		progressed := false
		for sq, seg := range s.pending {
			d := seqDiff(sq, s.next)
			if d > 0 {
				continue
			}
			delete(s.pending, sq)
			if -int(d) < len(seg.data) {
				s.append(seg.data[-d:])
				s.last = seg.pk
			}
			progressed = true
		}
		if !progressed {
			break
		}
	}
	return s.cut(pk)
}

// acked records the peer's cumulative acknowledgement.
func (s *stream) acked(ack uint32) {
	if !s.peerAckSet || seqDiff(ack, s.peerAck) > 0 {
		s.peerAck, s.peerAckSet = ack, true
	}
}

// skipLost jumps over a hole the peer has acknowledged: those bytes reached
// the peer, so the capture lost them, not the network; waiting for a
// retransmission would wait forever. The partial message before the hole
// is dropped and the hole reported.
func (s *stream) skipLost(pk packet) ([]tcpMessage, error) {
	if s.broken != nil || !s.peerAckSet || len(s.pending) == 0 {
		return nil, nil
	}
	first := true
	var lowest uint32
	for sq := range s.pending {
		if first || seqDiff(sq, lowest) < 0 {
			lowest, first = sq, false
		}
	}
	if seqDiff(s.peerAck, lowest) < 0 {
		return nil, nil
	}
	lost := seqDiff(lowest, s.next)
	s.buf, s.next, s.bufSeq = nil, lowest, lowest
	msgs, err := s.drain(pk)
	if err == nil {
		err = fmt.Errorf("tcp %s on %s: %d bytes missing from the capture before packet %d", pk.Tuple, pk.Link, lost, pk.No)
	}
	return msgs, err
}

func (s *stream) append(b []byte) {
	s.buf = append(s.buf, b...)
	s.next += uint32(len(b))
}

// cut frames every whole message at the head of the buffer.
func (s *stream) cut(pk packet) ([]tcpMessage, error) {
	var out []tcpMessage
	for len(s.buf) > 0 {
		n, err := s.frame(s.buf)
		if err != nil {
			s.broken = fmt.Errorf("tcp %s on %s, packet %d: %w", pk.Tuple, pk.Link, pk.No, err)
			return out, s.broken
		}
		if n == 0 {
			if len(s.buf) > maxStreamBuffer {
				s.broken = fmt.Errorf("tcp %s on %s: message longer than %d bytes", pk.Tuple, pk.Link, maxStreamBuffer)
				return out, s.broken
			}
			break
		}
		out = append(out, tcpMessage{Data: append([]byte(nil), s.buf[:n]...), Seq: s.bufSeq, pk: s.last})
		s.buf = s.buf[n:]
		s.bufSeq += uint32(n)
	}
	if len(s.buf) == 0 {
		s.buf = nil // let a large buffer go
	}
	return out, nil
}

var errNotText = errors.New("not a text protocol message (SIP or HTTP)")
