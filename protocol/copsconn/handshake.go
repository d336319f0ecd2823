package copsconn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/qoslab/qoslab/protocol/cops"
)

// handshake opens the connection (RFC 2748 2.3, 3.6-3.7): the PEP sends
// OPN, the PDP answers CAT with the keep-alive timer (or CC), whichever end
// dialled. On PCMM the PEP (the router) then sends its configuration REQ,
// whose handle the PDP's gate commands use. Every failure is told to the
// peer with a CC carrying the RFC error code.
func (c *Conn) handshake(ctx context.Context) (keepAlive, error) {
	t := time.NewTimer(c.cfg.OpenTimeout)
	defer t.Stop()
	if c.cfg.Role == PEP {
		return c.openAsPEP(ctx, t)
	}
	return c.openAsPDP(ctx, t)
}

func (c *Conn) openAsPEP(ctx context.Context, t *time.Timer) (keepAlive, error) {
	opn := &cops.Message{Header: cops.Header{Op: cops.OpOPN}, PEPID: c.cfg.PEPID}
	if info := c.openInfo(); info != nil {
		opn.ClientSI = []cops.ClientSI{{Data: info}}
	}
	if err := c.Send(opn); err != nil {
		return keepAlive{}, err
	}
	m, err := c.await(ctx, t, cops.OpCAT)
	if err != nil {
		return keepAlive{}, err
	}
	switch m.Op {
	case cops.OpCAT:
	case cops.OpCC:
		return keepAlive{}, &ClosedError{Code: m.Error, Redirect: m.Redirect}
	default:
		c.closeWith(cops.ErrBadMessageFormat, 0)
		return keepAlive{}, fmt.Errorf("copsconn: %s instead of CAT", m.Op)
	}
	if err := c.admit(m); err != nil {
		return keepAlive{}, err
	}
	ka := newKeepAlive(time.Duration(m.KATimer)*time.Second, true, time.Now(), c.cfg.Rand())
	if c.cfg.ClientType == cops.ClientTypePCMM {
		// The router asks for its configuration; the DECs carrying gate
		// commands come on this handle.
		c.handle = cops.Handle(c.cfg.Rand()*(1<<31)) + 1
		err := c.Send(&cops.Message{Header: cops.Header{Op: cops.OpREQ}, Handle: c.handle,
			Context: cops.Context{RType: cops.RTypeConfigure}})
		if err != nil {
			return keepAlive{}, err
		}
	}
	return ka, nil
}

func (c *Conn) openAsPDP(ctx context.Context, t *time.Timer) (keepAlive, error) {
	m, err := c.await(ctx, t, cops.OpOPN)
	if err != nil {
		return keepAlive{}, err
	}
	switch {
	case m.Op == cops.OpCC:
		return keepAlive{}, &ClosedError{Code: m.Error}
	case m.Op != cops.OpOPN:
		c.closeWith(cops.ErrBadMessageFormat, 0)
		return keepAlive{}, fmt.Errorf("copsconn: %s before OPN", m.Op)
	case m.ClientType != c.cfg.ClientType:
		c.closeAs(m.ClientType, cops.ErrUnsupportedClient, 0)
		return keepAlive{}, fmt.Errorf("copsconn: OPN for client type %s, this end serves %s", m.ClientType, c.cfg.ClientType)
	}
	c.peer.PEPID = m.PEPID
	if c.verifier != nil {
		// Answer with the key the PEP chose.
		c.signer = newSigner(c.verifier.keyID, c.cfg.Keys[c.verifier.keyID], c.firstSeq())
	}
	if err := c.admit(m); err != nil {
		return keepAlive{}, err
	}
	if err := c.Send(&cops.Message{Header: cops.Header{Op: cops.OpCAT}, KATimer: c.cfg.KATimer}); err != nil {
		return keepAlive{}, err
	}
	if c.cfg.ClientType == cops.ClientTypePCMM {
	sync:
		for {
			m, err := c.await(ctx, t, cops.OpREQ)
			if err != nil {
				return keepAlive{}, err
			}
			switch m.Op {
			case cops.OpKA:
				if err := c.Send(&cops.Message{Header: cops.Header{Op: cops.OpKA}}); err != nil {
					return keepAlive{}, err
				}
				continue
			case cops.OpCC:
				return keepAlive{}, &ClosedError{Code: m.Error}
			case cops.OpREQ:
				c.handle = m.Handle
				break sync
			default:
				c.closeWith(cops.ErrBadMessageFormat, 0)
				return keepAlive{}, fmt.Errorf("copsconn: %s while waiting for the configuration REQ", m.Op)
			}
		}
	}
	return newKeepAlive(time.Duration(c.cfg.KATimer)*time.Second, false, time.Now(), 0), nil
}

// openInfo is the ClientSI of the PEP's OPN: the configured one, or on
// PCMM the Version Info of the PacketCable Multimedia version the router
// speaks.
func (c *Conn) openInfo() []byte {
	if c.cfg.OpenInfo != nil || c.cfg.ClientType != cops.ClientTypePCMM {
		return c.cfg.OpenInfo
	}
	b, _ := (&cops.PCMM{HasVersion: true, Version: cops.VersionInfo{Major: cops.PCMMVersionMajor, Minor: cops.PCMMVersionMinor}}).AppendTo(nil)
	return b
}

// await returns the next message of the handshake, where want is expected.
// A read error, the open timeout or the end of ctx fail the handshake with
// a CC: the RFC code of a protocol error, Communication failure, Shutting
// down.
func (c *Conn) await(ctx context.Context, t *time.Timer, want cops.OpCode) (*cops.Message, error) {
	select {
	case <-ctx.Done():
		c.closeWith(cops.ErrShuttingDown, 0)
		return nil, ctx.Err()
	case <-t.C:
		c.closeWith(cops.ErrCommunication, 0)
		return nil, fmt.Errorf("copsconn: no %s within the open timeout", want)
	case r := <-c.in:
		if r.err != nil {
			if isProtocol(r.err) {
				c.closeWith(cops.CodeOf(r.err), 0)
			}
			return nil, fmt.Errorf("copsconn: waiting for %s: %w", want, r.err)
		}
		return r.m, nil
	}
}

// admit asks Config.Admit whether the peer that sent m may talk to us.
func (c *Conn) admit(m *cops.Message) error {
	if m.HasIntegrity {
		c.peer.KeyID, c.peer.Signed = m.Integrity.KeyID, true
	}
	if c.cfg.Admit == nil {
		return nil
	}
	err := c.cfg.Admit(c.peer)
	if err == nil {
		return nil
	}
	r := &Refusal{Code: cops.ErrAuthFailure, Reason: err.Error()}
	errors.As(err, &r)
	c.closeWith(r.Code, r.Subcode)
	return fmt.Errorf("copsconn: peer %s not admitted: %w", c.peer.Addr, err)
}
