package tlspolicy

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/internal/testcert"
)

// TestDefaultTLS12CipherSuitesAreGos: the list disable_cipher_suites
// removes from is what a Go server with CipherSuites unset really
// accepts, so disabling a suite never turns another one on.
func TestDefaultTLS12CipherSuitesAreGos(t *testing.T) {
	// An ECDSA and an RSA certificate, so that every key exchange can
	// be chosen.
	ec, _, _, err := testcert.New("localhost")
	if err != nil {
		t.Fatal(err)
	}
	server := &tls.Config{Certificates: []tls.Certificate{ec, rsaCert(t)}}
	var accepted []string
	all := append(tls.CipherSuites(), tls.InsecureCipherSuites()...)
	for _, s := range all {
		if TLS13Only(s) {
			continue
		}
		if handshakeTLS12(server, s.ID) == nil {
			accepted = append(accepted, s.Name)
		}
	}
	var want []string
	for _, s := range DefaultTLS12CipherSuites() {
		want = append(want, s.Name)
	}
	slices.Sort(accepted)
	slices.Sort(want)
	if !slices.Equal(accepted, want) {
		t.Fatalf("a Go server accepts\n%v\nDefaultTLS12CipherSuites says\n%v", accepted, want)
	}
}

func rsaCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// handshakeTLS12 runs a TLS 1.2 handshake over a pipe with a client that
// offers only suite.
func handshakeTLS12(server *tls.Config, suite uint16) error {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	go func() {
		s := tls.Server(b, server)
		done <- s.Handshake()
		s.Close()
	}()
	c := tls.Client(a, &tls.Config{InsecureSkipVerify: true, CipherSuites: []uint16{suite}, MaxVersion: tls.VersionTLS12}) //nolint:gosec // a test handshake
	cerr := c.Handshake()
	a.Close()
	serr := <-done
	return errors.Join(cerr, serr)
}
