package osp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
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

// labPKIValidity is how long lab certificates are valid; labs live minutes
// to days.
const labPKIValidity = 365 * 24 * time.Hour

// WriteLabPKI creates a lab CA and one certificate per node in dir
// (created if missing): ca.pem, ca.key, <node>.pem, <node>.key, PEM,
// ECDSA P-256, keys mode 0600. A node certificate names the node as its
// common name and DNS SAN (plus "localhost" and 127.0.0.1 for tests run on
// loopback) and is good for TLS server and client auth and for signing
// tokens (S/MIME signing, so `openssl cms -verify` accepts it). It takes
// well under a millisecond per node.
func WriteLabPKI(dir string, nodeNames []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("osp: lab pki: %w", err)
	}
	now := time.Now().Add(-time.Hour) // tolerate small clock skew between namespaces' readers
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("osp: lab pki: ca key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "qoslab lab CA", Organization: []string{"qoslab"}},
		NotBefore:             now,
		NotAfter:              now.Add(labPKIValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("osp: lab pki: ca cert: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return fmt.Errorf("osp: lab pki: ca cert: %w", err)
	}
	if err := writePEM(filepath.Join(dir, CACertFile), "CERTIFICATE", caDER, 0o644); err != nil {
		return err
	}
	if err := writeKey(filepath.Join(dir, CAKeyFile), caKey); err != nil {
		return err
	}
	for _, name := range nodeNames {
		if err := issueNodeCert(dir, name, ca, caKey, now); err != nil {
			return err
		}
	}
	return nil
}

func issueNodeCert(dir, name string, ca *x509.Certificate, caKey crypto.Signer, now time.Time) error {
	if name == "" || filepath.Base(name) != name || name == "ca" {
		return fmt.Errorf("osp: lab pki: bad node name %q", name)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("osp: lab pki: %s key: %w", name, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"qoslab"}},
		DNSNames:     []string{name, "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now,
		NotAfter:     now.Add(labPKIValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth,
			x509.ExtKeyUsageEmailProtection},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("osp: lab pki: %s cert: %w", name, err)
	}
	if err := writePEM(CertFile(dir, name), "CERTIFICATE", der, 0o644); err != nil {
		return err
	}
	return writeKey(KeyFile(dir, name), key)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n.Add(n, big.NewInt(1))
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("osp: lab pki: %s: %w", path, err)
	}
	return writePEM(path, "PRIVATE KEY", der, 0o600)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, b, mode); err != nil {
		return fmt.Errorf("osp: lab pki: %w", err)
	}
	return nil
}

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
