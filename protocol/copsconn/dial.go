package copsconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/qoslab/qoslab/protocol/cops"
)

// Accept runs the handshake on a connection a listener accepted (the
// policy server's for proxies, the router's for policy servers) and starts
// it. The connection lives until ctx ends (then it sends CC Shutting down),
// Close is called, or the peer closes or breaks the protocol. On a failed
// handshake nc is closed, after a CC telling the peer why.
func Accept(ctx context.Context, nc net.Conn, cfg Config) (*Conn, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		nc.Close()
		return nil, err
	}
	return open(ctx, nc, cfg, newOpenTable())
}

// Dial connects to addr (the proxy to its policy server, the policy server
// to its router), runs the handshake and starts the connection, which lives
// as Accept's does.
func Dial(ctx context.Context, addr string, cfg Config) (*Conn, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return dial(ctx, addr, cfg, newOpenTable())
}

func dial(ctx context.Context, addr string, cfg Config, table *openTable) (*Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, cfg.OpenTimeout)
	defer cancel()
	nc, err := cfg.Dial(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("copsconn: dial %s: %w", addr, err)
	}
	return open(ctx, nc, cfg, table)
}

func open(ctx context.Context, nc net.Conn, cfg Config, table *openTable) (*Conn, error) {
	c := newConn(nc, cfg, table)
	c.startReader()
	ka, err := c.handshake(ctx)
	if err != nil {
		c.stopRd()
		c.log.Warn("cops handshake failed", "err", err)
		return nil, err
	}
	c.start(ctx, ka)
	return c, nil
}

// Serve accepts connections on ln and runs each with Accept until ctx
// ends; then it closes ln, the connections send CC (Shutting down) and
// close, and Serve returns once every one has ended. It returns nil after
// ctx ends, or the accept error.
func Serve(ctx context.Context, ln net.Listener, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	// Deferred in this order so that cancel runs first: connections are
	// told to stop, then waited for (also when Accept fails).
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("copsconn: accept on %s: %w", ln.Addr(), err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := open(ctx, nc, cfg, newOpenTable()); err == nil {
				<-c.Done()
			}
		}()
	}
}

// Client keeps one connection to a server up: it dials, and dials again
// with backoff (doubling from MinBackoff to MaxBackoff, with jitter) when
// the connection ends, following a CC's PDP Redirect Address. A PEP's open
// requests outlive the connection: each new one re-sends them (their DECs
// arrive as OnMessage).
type Client struct {
	addr string
	cfg  Config
	open *openTable

	// MinBackoff and MaxBackoff bound the redial delay; defaults 50ms
	// and 2s.
	MinBackoff, MaxBackoff time.Duration

	mu  sync.Mutex
	cur *Conn
	up  chan struct{} // closed while connected
}

// NewClient returns a Client for addr; call Run to connect.
func NewClient(addr string, cfg Config) *Client {
	return &Client{addr: addr, cfg: cfg, open: newOpenTable(), up: make(chan struct{}),
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 2 * time.Second}
}

// Run connects and keeps connecting until ctx ends; then the connection
// sends CC (Shutting down) and Run returns nil once it has ended.
func (cl *Client) Run(ctx context.Context) error {
	cfg, err := cl.cfg.withDefaults()
	if err != nil {
		return err
	}
	onOpen, onClose := cfg.OnOpen, cfg.OnClose
	cfg.OnOpen = func(c *Conn) {
		cl.mu.Lock()
		cl.cur = c
		close(cl.up)
		cl.mu.Unlock()
		c.resend(0, false)
		if onOpen != nil {
			onOpen(c)
		}
	}
	cfg.OnClose = func(c *Conn, err error) {
		cl.mu.Lock()
		if cl.cur == c {
			cl.cur, cl.up = nil, make(chan struct{})
		}
		cl.mu.Unlock()
		if onClose != nil {
			onClose(c, err)
		}
	}
	backoff := cl.MinBackoff
	addr := cl.addr
	for {
		c, err := dial(ctx, addr, cfg, cl.open)
		if err == nil {
			<-c.Done()
			err = c.Err()
			backoff = cl.MinBackoff
		}
		if ctx.Err() != nil {
			return nil
		}
		var ce *ClosedError
		if errors.As(err, &ce) && ce.Redirect.IsValid() {
			cfg.Log.Info("cops redirected", "from", addr, "to", ce.Redirect.String())
			addr = ce.Redirect.String()
			continue
		}
		addr = cl.addr
		wait := time.Duration(float64(backoff) * (0.5 + cfg.Rand()))
		backoff = min(2*backoff, cl.MaxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Conn returns the current connection, nil while there is none.
func (cl *Client) Conn() *Conn {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.cur
}

// Wait returns the current connection, waiting for one until ctx ends.
func (cl *Client) Wait(ctx context.Context) (*Conn, error) {
	for {
		cl.mu.Lock()
		c, up := cl.cur, cl.up
		cl.mu.Unlock()
		if c != nil {
			return c, nil
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil, fmt.Errorf("copsconn: no connection to %s: %w", cl.addr, ctx.Err())
		}
	}
}

// Delete forgets the open request of handle h and sends DRQ on the current
// connection; without one it returns a *ClosedError (the state is gone all
// the same: the next connection does not re-send it).
func (cl *Client) Delete(h cops.Handle, reason cops.ReasonCode) error {
	cl.open.remove(h)
	c := cl.Conn()
	if c == nil {
		return &ClosedError{Err: errors.New("no connection")}
	}
	return c.Delete(h, reason)
}
