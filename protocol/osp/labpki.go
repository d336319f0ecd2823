package osp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sync/errgroup"
)

// labPKIValidity is how long lab certificates are valid; labs live minutes
// to days.
const labPKIValidity = 365 * 24 * time.Hour

// Roles the lab PKI writes as a certificate's subject OU: the topology role
// of the node it was issued to. The clearinghouse serves OSP only to
// certificates of RolePolicyServer.
const (
	RolePolicyServer  = "pdp"
	RoleClearinghouse = "clearinghouse"
)

// rsaBits is the size of the lab's RSA keys.
const rsaBits = 2048

// PKINode is a lab node the PKI issues a certificate to.
type PKINode struct {
	Name  string       // common name and DNS SAN
	Role  string       // topology role, written as the subject's OU
	Addrs []netip.Addr // IP SANs, so that a client dialling https://<address> can verify the node
}

// usesRSA says whether a role's key is RSA. The OSP Toolkit (the reference
// OSP client) loads RSA private keys only, and checks token signatures and
// certificate chains with its own RSA code, so the CA, the clearinghouse
// (it signs tokens) and the policy servers (OSP clients) get RSA-2048. The
// other nodes get ECDSA P-256: an RSA key costs ~40 ms to generate, and
// they never speak OSP.
func usesRSA(role string) bool { return role == RolePolicyServer || role == RoleClearinghouse }

// WriteLabPKI creates a lab CA and one certificate per node in dir
// (created if missing): ca.pem, ca.key, <node>.pem, <node>.key, PEM, keys
// mode 0600 (RSA keys as PKCS#1 "RSA PRIVATE KEY", EC keys as PKCS#8).
// A node certificate names the node as its common name and DNS SAN, its
// role as its subject OU, its addresses as IP SANs (plus "localhost" and
// 127.0.0.1 for tests on loopback), and is good for TLS server and client
// auth and for signing tokens (S/MIME signing, so `openssl cms -verify`
// accepts it). Keys are generated in parallel.
func WriteLabPKI(dir string, nodes []PKINode) error {
	for _, n := range nodes {
		if n.Name == "" || filepath.Base(n.Name) != n.Name || n.Name == "ca" {
			return fmt.Errorf("osp: lab pki: bad node name %q", n.Name)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("osp: lab pki: %w", err)
	}
	now := time.Now().Add(-time.Hour) // tolerate small clock skew between namespaces' readers
	keys := make([]crypto.Signer, len(nodes))
	var caKey crypto.Signer
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	g.Go(func() (err error) { caKey, err = newKey(true); return err })
	for i, n := range nodes {
		g.Go(func() (err error) { keys[i], err = newKey(usesRSA(n.Role)); return err })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("osp: lab pki: %w", err)
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
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
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
	for i, n := range nodes {
		if err := issueNodeCert(dir, n, keys[i], ca, caKey, now); err != nil {
			return err
		}
	}
	return nil
}

func newKey(rsaKey bool) (crypto.Signer, error) {
	if rsaKey {
		return rsa.GenerateKey(rand.Reader, rsaBits)
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func issueNodeCert(dir string, n PKINode, key crypto.Signer, ca *x509.Certificate, caKey crypto.Signer, now time.Time) error {
	ips := []net.IP{net.IPv4(127, 0, 0, 1)}
	for _, a := range n.Addrs {
		ips = append(ips, a.AsSlice())
	}
	subject := pkix.Name{CommonName: n.Name, Organization: []string{"qoslab"}}
	if n.Role != "" {
		subject.OrganizationalUnit = []string{n.Role}
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      subject,
		DNSNames:     []string{n.Name, "localhost"},
		IPAddresses:  ips,
		NotBefore:    now,
		NotAfter:     now.Add(labPKIValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth,
			x509.ExtKeyUsageEmailProtection},
	}
	if _, ok := key.(*rsa.PrivateKey); ok {
		// TLS 1.2's RSA key exchange encrypts to the certificate's key.
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return fmt.Errorf("osp: lab pki: %s cert: %w", n.Name, err)
	}
	if err := writePEM(CertFile(dir, n.Name), "CERTIFICATE", der, 0o644); err != nil {
		return err
	}
	return writeKey(KeyFile(dir, n.Name), key)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n.Add(n, big.NewInt(1))
}

func writeKey(path string, key crypto.Signer) error {
	if k, ok := key.(*rsa.PrivateKey); ok {
		return writePEM(path, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k), 0o600)
	}
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
