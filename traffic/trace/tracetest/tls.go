package tracetest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"time"
)

// tlsLeg is one policy server's TLS session to the clearinghouse, as the
// lab runs it with tls: "on": real crypto/tls on both ends (mutual TLS),
// over loopback TCP, with every record either end writes recorded in
// order so that the generator can put the same bytes on its links, and the
// session secrets written to the generator's key log.
type tlsLeg struct {
	client, server *tls.Conn
	rec            *recorder
}

// chunk is what one end wrote in one write: TLS records.
type chunk struct {
	fromClient bool
	b          []byte
}

// recorder keeps, in order, what both ends of a connection wrote.
type recorder struct {
	mu     sync.Mutex
	chunks []chunk
}

func (r *recorder) take() []chunk {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.chunks
	r.chunks = nil
	return out
}

// recConn records what is written to a connection.
type recConn struct {
	net.Conn
	rec        *recorder
	fromClient bool
}

func (c *recConn) Write(b []byte) (int, error) {
	c.rec.mu.Lock()
	c.rec.chunks = append(c.rec.chunks, chunk{c.fromClient, append([]byte(nil), b...)})
	c.rec.mu.Unlock()
	return c.Conn.Write(b)
}

// selfSigned makes a throwaway certificate for the lab's mutual TLS.
func selfSigned(name string) (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:        true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool, nil
}

// newTLSLeg opens a TLS session with the given maximum version and
// returns it with the records of its handshake.
func newTLSLeg(version uint16, keyLog io.Writer) (*tlsLeg, []chunk, error) {
	cert, pool, err := selfSigned("ch")
	if err != nil {
		return nil, nil, fmt.Errorf("tracetest: tls: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("tracetest: tls: %w", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, nil, fmt.Errorf("tracetest: tls: %w", err)
	}
	sc, ok := <-accepted
	if !ok {
		cc.Close()
		return nil, nil, fmt.Errorf("tracetest: tls: accept failed")
	}
	rec := &recorder{}
	leg := &tlsLeg{
		client: tls.Client(&recConn{cc, rec, true}, &tls.Config{
			Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "ch",
			MinVersion: tls.VersionTLS12, MaxVersion: version, KeyLogWriter: keyLog,
		}),
		server: tls.Server(&recConn{sc, rec, false}, &tls.Config{
			Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
			MinVersion: tls.VersionTLS12, MaxVersion: version,
		}),
		rec: rec,
	}
	errc := make(chan error, 1)
	go func() { errc <- leg.server.Handshake() }()
	if err := leg.client.Handshake(); err != nil {
		leg.close()
		return nil, nil, fmt.Errorf("tracetest: tls client handshake: %w", err)
	}
	if err := <-errc; err != nil {
		leg.close()
		return nil, nil, fmt.Errorf("tracetest: tls server handshake: %w", err)
	}
	return leg, rec.take(), nil
}

// send writes b from one end, reads it at the other, and returns the
// records that carried it (with any the reader wrote meanwhile, such as a
// TLS 1.3 session ticket).
func (l *tlsLeg) send(fromClient bool, b []byte) ([]chunk, error) {
	w, r := l.client, l.server
	if !fromClient {
		w, r = l.server, l.client
	}
	if _, err := w.Write(b); err != nil {
		return nil, fmt.Errorf("tracetest: tls write: %w", err)
	}
	got := make([]byte, len(b))
	if _, err := io.ReadFull(r, got); err != nil {
		return nil, fmt.Errorf("tracetest: tls read: %w", err)
	}
	if !bytes.Equal(got, b) {
		return nil, fmt.Errorf("tracetest: tls: read other bytes than written")
	}
	return l.rec.take(), nil
}

func (l *tlsLeg) close() {
	l.client.Close()
	l.server.Close()
}
