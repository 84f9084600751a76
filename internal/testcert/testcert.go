// Package testcert makes throwaway certificates for tests and the demo.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Spec says what a self-signed certificate is for. The zero Spec is New's:
// "switchyard test", valid for a year, for servers and clients.
type Spec struct {
	CommonName   string        // default "switchyard test"
	Organization string        // none when empty
	Names        []string      // DNS names or IP literals
	Validity     time.Duration // from an hour ago; default a year
	ServerOnly   bool          // server auth only (default: server and client auth)
}

// Issued is a self-signed certificate and its key.
type Issued struct {
	DER     []byte
	Leaf    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte // PKCS #8
}

// Make returns a self-signed ECDSA P-256 CA certificate as s describes.
func Make(s Spec) (Issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Issued{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return Issued{}, err
	}
	if s.CommonName == "" {
		s.CommonName = "switchyard test"
	}
	if s.Validity == 0 {
		s.Validity = 365 * 24 * time.Hour
	}
	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	if s.ServerOnly {
		usage = usage[:1]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: s.CommonName},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(s.Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           usage,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if s.Organization != "" {
		tmpl.Subject.Organization = []string{s.Organization}
	}
	for _, n := range s.Names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return Issued{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return Issued{}, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Issued{}, err
	}
	return Issued{
		DER:     der,
		Leaf:    leaf,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}, nil
}

// New returns a self-signed ECDSA P-256 certificate valid for names (DNS
// names or IP literals), as a tls.Certificate and as PEM blocks.
func New(names ...string) (tls.Certificate, []byte, []byte, error) {
	c, err := Make(Spec{Names: names})
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	cert, err := c.TLS()
	return cert, c.CertPEM, c.KeyPEM, err
}

// TLS returns c as a server's (or client's) certificate, its Leaf set.
func (c Issued) TLS() (tls.Certificate, error) {
	cert, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	cert.Leaf = c.Leaf
	return cert, err
}

// WriteFiles writes a new certificate and key into dir and returns paths.
func WriteFiles(dir string, names ...string) (certFile, keyFile string, err error) {
	_, c, k, err := New(names...)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err = os.WriteFile(certFile, c, 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, os.WriteFile(keyFile, k, 0o600)
}
