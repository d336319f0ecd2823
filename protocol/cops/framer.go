package cops

import (
	"errors"
	"io"
)

// Framer splits a COPS byte stream (one direction of a TCP connection, in
// order) into messages. Feed it bytes with Write as they arrive and take
// complete messages with Next. It does not decode the messages beyond the
// common header. The zero Framer is ready, with DefaultMaxMessageLen.
type Framer struct {
	// MaxLen bounds the message length a header may announce; 0 means
	// DefaultMaxMessageLen.
	MaxLen int

	buf []byte
	off int
	err error
}

// Write appends stream bytes. It never fails; framing errors surface in Next.
func (f *Framer) Write(p []byte) (int, error) {
	if f.off > 0 && f.off == len(f.buf) {
		f.buf, f.off = f.buf[:0], 0
	} else if f.off > 4096 && f.off > len(f.buf)/2 {
		n := copy(f.buf, f.buf[f.off:])
		f.buf, f.off = f.buf[:n], 0
	}
	f.buf = append(f.buf, p...)
	return len(p), nil
}

// Next returns the next complete message (header included), or nil when
// more bytes are needed. The returned slice is valid until the next Write.
// After a framing error (bad version, impossible or oversized length) the
// stream cannot be resynchronised: Next keeps returning that error.
func (f *Framer) Next() ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	rest := f.buf[f.off:]
	if len(rest) < HeaderLen {
		return nil, nil
	}
	n, err := PeekLength(rest)
	if err == nil && n > f.maxLen() {
		err = protoErr(ErrBadMessageFormat, 4, "message length %d exceeds the limit %d", n, f.maxLen())
	}
	if err != nil {
		f.err = err
		return nil, err
	}
	if len(rest) < n {
		return nil, nil
	}
	f.off += n
	return rest[:n:n], nil
}

// Buffered returns how many bytes wait for the rest of their message.
func (f *Framer) Buffered() int { return len(f.buf) - f.off }

func (f *Framer) maxLen() int {
	if f.MaxLen > 0 {
		return f.MaxLen
	}
	return DefaultMaxMessageLen
}

// ReadMessage reads exactly one message from r into buf (grown as needed)
// and returns the message bytes. It is what connections use: one read of
// the header, one of the rest. max bounds the announced length (0:
// DefaultMaxMessageLen). io.EOF is returned only at a message boundary; a
// stream cut inside a message gives io.ErrUnexpectedEOF.
func ReadMessage(r io.Reader, buf []byte, max int) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxMessageLen
	}
	if cap(buf) < HeaderLen {
		buf = make([]byte, 0, 512)
	}
	buf = buf[:HeaderLen]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	n, err := PeekLength(buf)
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, protoErr(ErrBadMessageFormat, 4, "message length %d exceeds the limit %d", n, max)
	}
	if cap(buf) < n {
		nb := make([]byte, n)
		copy(nb, buf)
		buf = nb
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf[HeaderLen:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}
