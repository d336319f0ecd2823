package cops

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// writeTimeout bounds a single write so a peer that stops reading cannot
// block a sender forever.
const writeTimeout = 5 * time.Second

// conn is one COPS TCP connection: serialised writes (any goroutine may
// send), reads from one reader goroutine, optional Integrity.
type conn struct {
	nc  net.Conn
	max int

	wmu      sync.Mutex
	wbuf     []byte
	signer   *signer
	lastSent time.Time

	verifier *verifier // used by the reader goroutine only
	rbuf     []byte
}

func newConn(nc net.Conn, key *IntegrityKey, firstSeq uint32) *conn {
	c := &conn{nc: nc, max: DefaultMaxMessageLen}
	if key != nil {
		c.signer = newSigner(*key, firstSeq)
		c.verifier = newVerifier(*key)
	}
	return c
}

// send encodes and writes m. m's Integrity fields are set when the
// connection signs.
func (c *conn) send(m *Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var err error
	if c.signer != nil {
		c.wbuf, err = c.signer.appendSigned(c.wbuf[:0], m)
	} else {
		c.wbuf, err = m.AppendTo(c.wbuf[:0])
	}
	if err != nil {
		return err
	}
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := c.nc.Write(c.wbuf); err != nil {
		return fmt.Errorf("cops: send %s: %w", m.Op, err)
	}
	c.lastSent = time.Now()
	return nil
}

// sentAt returns when the last message went out.
func (c *conn) sentAt() time.Time {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.lastSent
}

// recv reads and decodes one message into a fresh Message that owns its
// buffer (it is handed to other goroutines). Only one goroutine may call it.
// A message that is framed correctly but does not decode returns a
// *badMessage error: the stream is still in sync and the reader goes on.
func (c *conn) recv() (*Message, error) {
	raw, err := ReadMessage(c.nc, nil, c.max)
	if err != nil {
		return nil, err
	}
	m := new(Message)
	if err := m.Decode(raw); err != nil {
		bm := &badMessage{op: OpCode(raw[1]), err: err}
		bm.handle, bm.hasHandle = leadingHandle(raw)
		return nil, bm
	}
	if c.verifier != nil {
		if err := c.verifier.verify(raw, m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// closeWith sends a Client-Close carrying the error's RFC code (best
// effort). The owner then stops the connection, which closes it gracefully.
func (c *conn) closeWith(ct ClientType, code ErrorCode) {
	c.send(&Message{Header: Header{Op: OpCC, ClientType: ct}, Error: Error{Code: code}})
}

// inbound is what the reader goroutine hands to the connection's loop.
type inbound struct {
	m   *Message
	err error
}

// drainTimeout is how long a closing connection keeps reading (and
// discarding) after its last message, so that unread input does not make
// the kernel answer with a reset that would destroy our CC in flight.
const drainTimeout = 500 * time.Millisecond

// startReader runs c.recv in a goroutine, delivering every message (and
// finally the error that ended reading) on the returned channel. The
// returned stop function half-closes the connection, drains what the peer
// still sends for at most drainTimeout, closes it and waits for the
// goroutine to end; the owner of c must call it (more calls do nothing).
func (c *conn) startReader() (<-chan inbound, func()) {
	ch := make(chan inbound)
	done := make(chan struct{})
	quit := make(chan struct{})
	go func() {
		defer close(done)
		draining := false
		for {
			m, err := c.recv()
			if !draining {
				select {
				case ch <- inbound{m, err}:
				case <-quit:
					draining = true
				}
			}
			var bm *badMessage
			if err != nil && !errors.As(err, &bm) {
				return
			}
		}
	}()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			c.nc.SetReadDeadline(time.Now().Add(drainTimeout))
			if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			close(quit)
			<-done
			c.nc.Close()
		})
	}
}

// badMessage is a well-framed message that did not decode: op and, when
// its first object is a readable Handle, the handle, so that the receiver
// can answer it (DEC with Error) instead of closing.
type badMessage struct {
	op        OpCode
	handle    Handle
	hasHandle bool
	err       error
}

// Error returns the decoding error's text.
func (e *badMessage) Error() string { return e.err.Error() }

// Unwrap returns the decoding error.
func (e *badMessage) Unwrap() error { return e.err }

// leadingHandle returns the handle if the message's first object is a
// well-formed 4-octet Handle.
func leadingHandle(raw []byte) (Handle, bool) {
	if len(raw) < HeaderLen+8 {
		return 0, false
	}
	o, _, err := readObject(raw, HeaderLen)
	if err != nil || o.cnum != CNumHandle {
		return 0, false
	}
	h, err := decodeHandle(o)
	return h, err == nil
}

// isProtocol reports whether err is the peer's fault in COPS terms (as
// opposed to an I/O error), so it deserves a CC with its code.
func isProtocol(err error) bool {
	var pe *ProtocolError
	return errors.As(err, &pe)
}

// admit is what every connection loop does first with a read: a read error
// ends the connection, with a Client-Close carrying the RFC error code when
// the peer broke the protocol, and a keep-alive flood is refused the same
// way (RFC 2748 2.5 "Unable to process"). who prefixes the flood error.
func (c *conn) admit(r inbound, ka *keepAlive, ct ClientType, who string) error {
	if r.err != nil {
		if isProtocol(r.err) {
			c.closeWith(ct, CodeOf(r.err))
		}
		return r.err
	}
	if ka.Received(time.Now(), r.m.Op == OpKA) {
		c.closeWith(ct, ErrUnableToProcess)
		return errors.New(who + ": keep-alive flood")
	}
	return nil
}
