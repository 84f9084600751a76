package app

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

// tlsHello opens a TLS connection to addr with client settings, after
// STARTTLS when starttls is set, and returns the handshake's error or, on
// success, the first line the proxy sends over TLS (the greeting for
// implicit TLS, the capability answer after STARTTLS).
func tlsHello(t *testing.T, addr string, starttls bool, cfg *tls.Config) (string, error) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
	if starttls {
		r := bufio.NewReader(raw)
		if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* OK") {
			t.Fatalf("greeting: %q %v", l, err)
		}
		if _, err := raw.Write([]byte("s STARTTLS\r\n")); err != nil {
			t.Fatal(err)
		}
		if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "s OK") {
			t.Fatalf("STARTTLS: %q %v", l, err)
		}
	}
	cfg.InsecureSkipVerify = true
	tc := tls.Client(raw, cfg)
	if err := tc.Handshake(); err != nil {
		return "", err
	}
	if starttls {
		if _, err := tc.Write([]byte("c CAPABILITY\r\n")); err != nil {
			return "", err
		}
	}
	l, err := bufio.NewReader(tc).ReadString('\n')
	return strings.TrimRight(l, "\r\n"), err
}

// TestTLSProtocolsOnListeners: [tls.protocols] reaches the handshakes of
// implicit-TLS and STARTTLS listeners. A client offering only a disabled
// suite is refused; one offering another suite gets in. min_version =
// "1.3" refuses a TLS 1.2 client; max_version = "1.2" refuses a TLS
// 1.3-only one.
func TestTLSProtocolsOnListeners(t *testing.T) {
	// The fixture's certificate is ECDSA: these are suites it can use.
	disabled := tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
	kept := tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
	tls12Only := func(suite uint16) *tls.Config {
		return &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}}
	}

	t.Run("disable_cipher_suites", func(t *testing.T) {
		f := startFixture(t, "[tls.protocols]\ndisable_cipher_suites = [\"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\", \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"]\n")
		for _, l := range []struct {
			name     string
			addr     string
			starttls bool
		}{{"implicit", f.implicit, false}, {"starttls", f.starttls, true}} {
			if _, err := tlsHello(t, l.addr, l.starttls, tls12Only(disabled)); err == nil {
				t.Errorf("%s: a client offering only the disabled %s got through", l.name, tls.CipherSuiteName(disabled))
			}
			line, err := tlsHello(t, l.addr, l.starttls, tls12Only(kept))
			if err != nil || !strings.HasPrefix(line, "*") {
				t.Errorf("%s: a client offering %s: %q %v", l.name, tls.CipherSuiteName(kept), line, err)
			}
		}
	})

	t.Run("versions", func(t *testing.T) {
		f := startFixture(t, "[tls.protocols]\nmin_version = \"1.3\"\n")
		for _, l := range []struct {
			name     string
			addr     string
			starttls bool
		}{{"implicit", f.implicit, false}, {"starttls", f.starttls, true}} {
			_, err := tlsHello(t, l.addr, l.starttls, &tls.Config{MaxVersion: tls.VersionTLS12})
			if err == nil {
				t.Errorf("%s: a TLS 1.2 client got through min_version = \"1.3\"", l.name)
			}
			line, err := tlsHello(t, l.addr, l.starttls, &tls.Config{MinVersion: tls.VersionTLS13})
			if err != nil || !strings.HasPrefix(line, "*") {
				t.Errorf("%s: a TLS 1.3 client: %q %v", l.name, line, err)
			}
		}
		g := startFixture(t, "[tls.protocols]\nmax_version = \"1.2\"\n")
		if _, err := tlsHello(t, g.implicit, false, &tls.Config{MinVersion: tls.VersionTLS13}); err == nil {
			t.Error("a TLS 1.3-only client got through max_version = \"1.2\"")
		}
		if line, err := tlsHello(t, g.implicit, false, &tls.Config{}); err != nil || !strings.HasPrefix(line, "*") {
			t.Errorf("a client of both versions under max_version = \"1.2\": %q %v", line, err)
		}
	})
}

// TestTLSProtocolsOnHTTP2: the HTTP/2 listener's configuration (ALPN h2
// added to the base one) keeps the disabled suites off too.
func TestTLSProtocolsOnHTTP2(t *testing.T) {
	f := startHTTPFixture(t, "[tls.protocols]\ndisable_cipher_suites = [\"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\"]\n")
	dialH2 := func(suite uint16) (*tls.Conn, error) {
		return tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", f.webTLS, &tls.Config{
			InsecureSkipVerify: true, NextProtos: []string{"h2"},
			MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite},
		})
	}
	if c, err := dialH2(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256); err == nil {
		c.Close()
		t.Fatal("an h2 client offering only the disabled suite got through")
	}
	c, err := dialH2(tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q, want h2", p)
	}
}
