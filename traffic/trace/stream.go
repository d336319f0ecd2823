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

// segMeta is what a message keeps of the packet that completed it.
type segMeta struct {
	no   int
	time int64
	dscp uint8
}

func metaOf(pk *packet) segMeta { return segMeta{no: pk.No, time: pk.Time, dscp: pk.dscp} }

// tcpMessage is one whole application message cut from a TCP stream: its
// bytes (borrowed from the segment or the stream's buffer until the
// stream's next add), the sequence number of its first byte (the same on
// every link the stream crosses, so it identifies the message across
// links) and the packet that completed it.
type tcpMessage struct {
	data []byte
	seq  uint32
	meta segMeta
}

// stream reassembles one direction of one TCP connection on one link, in
// order, tolerant of retransmissions and overlaps, and cuts it into
// messages with its framer. Segments that arrive in order and hold whole
// messages are cut in place, without copying.
type stream struct {
	frame   framer
	started bool
	synSeen bool
	isn     uint32 // sequence number of the SYN, when seen
	origin  uint32 // sequence number of the first byte followed
	next    uint32 // sequence number of the next byte wanted
	pending map[uint32]segment
	last    segMeta // the packet that delivered the newest bytes
	buf     []byte
	bufSeq  uint32 // sequence number of buf[0]
	broken  error  // set when the stream cannot be followed any more
	// peerAck is the highest acknowledgement the other direction sent.
	peerAck    uint32
	peerAckSet bool
	lastSeen   int64 // capture time of the newest segment
}

func newStream(f framer) *stream { return &stream{frame: f} }

// segment is an out-of-order segment waiting for the bytes before it.
type segment struct {
	data []byte
	meta segMeta
}

// seqDiff is a-b in sequence space (RFC 793 arithmetic, wraps at 2^32).
func seqDiff(a, b uint32) int32 { return int32(a - b) }

// newConnection tells whether a SYN starts another connection on this
// stream's 4-tuple (reused after FIN or RST) rather than repeating the
// SYN this stream began with.
func (s *stream) newConnection(pk *packet) bool {
	if !pk.syn() || !s.started {
		return false
	}
	if s.synSeen {
		return pk.seq != s.isn
	}
	// The stream began mid-connection: a SYN just before its first byte
	// is that connection's own, seen late.
	return pk.seq+1 != s.origin
}

// add takes one segment and appends the messages it completes to out. An
// error with messages is a hole the capture lost (the stream goes on
// after it); an error that breaks the stream stops it.
func (s *stream) add(pk *packet, out []tcpMessage) ([]tcpMessage, error) {
	s.lastSeen = pk.Time
	if s.broken != nil {
		return out, nil
	}
	seq := pk.seq
	if pk.syn() {
		if !s.started || !s.synSeen && seq+1 == s.origin {
			s.synSeen, s.isn = true, seq
		}
		if !s.started {
			s.started, s.next, s.bufSeq, s.origin = true, seq+1, seq+1, seq+1
		}
		seq++
	}
	data := pk.payload
	if len(data) == 0 {
		return out, nil
	}
	if !s.started {
		// The capture began mid-connection: start at the first segment seen.
		s.started, s.next, s.bufSeq, s.origin = true, seq, seq, seq
	}
	switch d := seqDiff(seq, s.next); {
	case d > 0:
		if len(s.pending) >= maxPending {
			s.broken = fmt.Errorf("gap at seq %d never filled", s.next)
			return out, s.broken
		}
		if s.pending == nil {
			s.pending = map[uint32]segment{}
		}
		if old, ok := s.pending[seq]; !ok || len(old.data) < len(data) {
			s.pending[seq] = segment{append([]byte(nil), data...), metaOf(pk)}
		}
		return s.skipLost(pk, out)
	case d < 0:
		if -int(d) >= len(data) {
			return out, nil // a retransmission of bytes already taken
		}
		data = data[-d:]
	}
	s.last = metaOf(pk)
	if len(s.buf) == 0 && len(s.pending) == 0 {
		return s.cutInPlace(data, out)
	}
	s.append(data)
	return s.drain(out)
}

// cutInPlace frames messages straight from the segment; only a partial
// message at its end is copied.
func (s *stream) cutInPlace(data []byte, out []tcpMessage) ([]tcpMessage, error) {
	for len(data) > 0 {
		n, err := s.frame(data)
		if err != nil {
			s.broken = err
			return out, err
		}
		if n == 0 {
			break
		}
		out = append(out, tcpMessage{data: data[:n], seq: s.next, meta: s.last})
		data = data[n:]
		s.next += uint32(n)
	}
	s.bufSeq = s.next
	if len(data) > 0 {
		s.append(data)
		return s.checkSize(out)
	}
	return out, nil
}

// drain appends the pending segments that now fit and cuts messages.
func (s *stream) drain(out []tcpMessage) ([]tcpMessage, error) {
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
				s.last = seg.meta
			}
			progressed = true
		}
		if !progressed {
			break
		}
	}
	return s.cut(out)
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
func (s *stream) skipLost(pk *packet, out []tcpMessage) ([]tcpMessage, error) {
	if s.broken != nil || !s.peerAckSet || len(s.pending) == 0 {
		return out, nil
	}
	first := true
	var lowest uint32
	for sq := range s.pending {
		if first || seqDiff(sq, lowest) < 0 {
			lowest, first = sq, false
		}
	}
	if seqDiff(s.peerAck, lowest) < 0 {
		return out, nil
	}
	lost := seqDiff(lowest, s.next)
	s.buf, s.next, s.bufSeq = s.buf[:0], lowest, lowest
	out, err := s.drain(out)
	if err == nil {
		err = &holeError{lost: int(lost), before: pk.No}
	}
	return out, err
}

// holeError is bytes the capture lost in a stream it could go on with.
type holeError struct{ lost, before int }

func (e *holeError) Error() string {
	return fmt.Sprintf("%d bytes missing from the capture before packet %d", e.lost, e.before)
}

func (s *stream) append(b []byte) {
	s.buf = append(s.buf, b...)
	s.next += uint32(len(b))
}

// cut frames every whole message at the head of the buffer. The messages
// borrow the buffer, which is not written again before the next add.
func (s *stream) cut(out []tcpMessage) ([]tcpMessage, error) {
	b := s.buf
	for len(b) > 0 {
		n, err := s.frame(b)
		if err != nil {
			s.broken = err
			return out, err
		}
		if n == 0 {
			break
		}
		out = append(out, tcpMessage{data: b[:n], seq: s.bufSeq, meta: s.last})
		b = b[n:]
		s.bufSeq += uint32(n)
	}
	switch {
	case len(b) == 0 && cap(s.buf) > 64<<10:
		s.buf = nil // let a large buffer go
	case len(b) == 0:
		s.buf = s.buf[:0]
	default:
		// Keep the partial message; the next append copies it forward
		// when the buffer is full.
		s.buf = b
	}
	return s.checkSize(out)
}

func (s *stream) checkSize(out []tcpMessage) ([]tcpMessage, error) {
	if len(s.buf) > maxStreamBuffer {
		s.broken = fmt.Errorf("message longer than %d bytes", maxStreamBuffer)
		return out, s.broken
	}
	return out, nil
}

var errNotText = errors.New("not a text protocol message (SIP or HTTP)")
