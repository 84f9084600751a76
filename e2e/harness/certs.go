//go:build linux

package harness

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/internal/testcert"
)

// Cert is a self-signed certificate written as PEM files.
type Cert struct {
	CertFile string
	KeyFile  string
	Pool     *x509.CertPool // trusts exactly this certificate
}

// GenerateCert writes a self-signed ECDSA P-256 certificate valid for the
// given DNS names and IP addresses (and always localhost / 127.0.0.1) into
// dir as name.pem and name.key. The files are world-readable so that
// servers that drop privileges can read them.
func GenerateCert(t testing.TB, dir, name string, hosts ...string) Cert {
	t.Helper()
	issued, err := testcert.Make(testcert.Spec{
		CommonName:   name,
		Organization: "switchyard e2e",
		Names:        append([]string{"localhost", "127.0.0.1"}, hosts...),
		Validity:     48 * time.Hour,
		ServerOnly:   true,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := Cert{
		CertFile: filepath.Join(dir, name+".pem"),
		KeyFile:  filepath.Join(dir, name+".key"),
		Pool:     x509.NewCertPool(),
	}
	if err := os.WriteFile(c.CertFile, issued.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.KeyFile, issued.KeyPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	c.Pool.AddCert(issued.Leaf)
	return c
}

// ClientTLS is a client configuration that trusts only c, for server name
// serverName.
func (c Cert) ClientTLS(serverName string) *tls.Config {
	return &tls.Config{RootCAs: c.Pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
}
