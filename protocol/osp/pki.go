package osp

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Lab PKI file names inside the PKI directory (<labdir>/pki).
const (
	CACertFile = "ca.pem"
	CAKeyFile  = "ca.key"
)

// CertFile and KeyFile name a node's certificate and key in the PKI
// directory.
func CertFile(dir, node string) string { return filepath.Join(dir, node+".pem") }

// KeyFile names a node's private key in the PKI directory.
func KeyFile(dir, node string) string { return filepath.Join(dir, node+".key") }

// Identity is a node's certificate and private key from the lab PKI.
type Identity struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	TLS  tls.Certificate
}

// LoadIdentity reads <node>.pem and <node>.key from the PKI directory.
func LoadIdentity(dir, node string) (*Identity, error) {
	pair, err := tls.LoadX509KeyPair(CertFile(dir, node), KeyFile(dir, node))
	if err != nil {
		return nil, fmt.Errorf("osp: load identity %s from %s: %w", node, dir, err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("osp: load identity %s: %w", node, err)
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("osp: load identity %s: key is not a signer", node)
	}
	pair.Leaf = cert
	return &Identity{Cert: cert, Key: key, TLS: pair}, nil
}

// LoadCA reads the lab CA certificate as a pool of roots.
func LoadCA(dir string) (*x509.CertPool, error) {
	b, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, fmt.Errorf("osp: load lab CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("osp: load lab CA: no certificate in " + filepath.Join(dir, CACertFile))
	}
	return pool, nil
}

// ServerTLSConfig is the clearinghouse's HTTPS configuration: its lab
// certificate, client certificates required and verified against the lab
// CA (mutual TLS). keyLog, when not nil, receives the session secrets in
// NSS key log format so Wireshark can decrypt the capture.
func ServerTLSConfig(dir, node string, keyLog io.Writer) (*tls.Config, error) {
	id, err := LoadIdentity(dir, node)
	if err != nil {
		return nil, err
	}
	pool, err := LoadCA(dir)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{id.TLS},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
		KeyLogWriter: keyLog,
	}, nil
}

// ClientTLSConfig is a policy server's HTTPS configuration for talking to
// the clearinghouse named serverName: its own lab certificate for mutual
// TLS, the lab CA as the only root.
func ClientTLSConfig(dir, node, serverName string, keyLog io.Writer) (*tls.Config, error) {
	id, err := LoadIdentity(dir, node)
	if err != nil {
		return nil, err
	}
	pool, err := LoadCA(dir)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{id.TLS},
		RootCAs:      pool,
		ServerName:   serverName,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
		KeyLogWriter: keyLog,
	}, nil
}
