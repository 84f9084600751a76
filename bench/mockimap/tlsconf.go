package mockimap

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/switchyard-mail/switchyard/internal/testcert"
)

// SelfSigned makes a throw-away certificate (internal/testcert's) for
// hosts (default localhost, 127.0.0.1 and ::1). It returns a server
// configuration and a pool that trusts the certificate, for clients.
func SelfSigned(hosts ...string) (*tls.Config, *x509.CertPool, error) {
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	cert, _, _, err := testcert.New(hosts...)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return cfg, pool, nil
}
