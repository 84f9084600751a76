package app

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/internal/ticketkeys"
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
// tlsListener is one of the fixture's TLS listeners, for tlsHello.
type tlsListener struct {
	name     string
	addr     string
	starttls bool
}

// tlsListeners are the fixture's implicit-TLS and STARTTLS listeners.
func tlsListeners(f *fixture) []tlsListener {
	return []tlsListener{{"implicit", f.implicit, false}, {"starttls", f.starttls, true}}
}

func TestTLSProtocolsOnListeners(t *testing.T) {
	// The fixture's certificate is ECDSA: these are suites it can use.
	disabled := tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
	kept := tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
	tls12Only := func(suite uint16) *tls.Config {
		return &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}}
	}

	t.Run("disable_cipher_suites", func(t *testing.T) {
		f := startFixture(t, "[tls.protocols]\ndisable_cipher_suites = [\"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\", \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"]\n")
		for _, l := range tlsListeners(f) {
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
		for _, l := range tlsListeners(f) {
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

// resumes connects to an implicit-TLS listener with cfg, reads the
// greeting (so a TLS 1.3 ticket sent after the handshake reaches the
// client's cache) and reports whether the session was resumed.
func resumes(t *testing.T, addr string, cfg *tls.Config) bool {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if l, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(l, "* OK") {
		t.Fatalf("greeting: %q %v", l, err)
	}
	return c.ConnectionState().DidResume
}

// TestSessionTicketsAcrossInstances: two proxies given the same
// tls.tickets.key_file resume each other's sessions, over TLS 1.2 and 1.3,
// and still do after a reload; a proxy with its own random secret resumes
// only its own; tls.tickets.enabled = false resumes nothing.
func TestSessionTicketsAcrossInstances(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "tickets.key")
	if err := os.WriteFile(keyFile, ticketkeys.RandomSecret(), 0o600); err != nil {
		t.Fatal(err)
	}
	shared := fmt.Sprintf("[tls.tickets]\nkey_file = %q\n", keyFile)
	a, b := startFixture(t, shared), startFixture(t, shared)
	own := startFixture(t, "")
	off := startFixture(t, "[tls.tickets]\nenabled = false\n")
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		// One cache entry per server name: every proxy is "localhost".
		cfg := &tls.Config{ServerName: "localhost", InsecureSkipVerify: true, MinVersion: v, MaxVersion: v,
			ClientSessionCache: tls.NewLRUClientSessionCache(8)}
		if resumes(t, a.implicit, cfg) {
			t.Fatalf("TLS %x: the first handshake resumed", v)
		}
		if !resumes(t, b.implicit, cfg) {
			t.Errorf("TLS %x: a second instance sharing the key file did not resume the first one's session", v)
		}
		if err := a.app.Reload(); err != nil {
			t.Fatal(err)
		}
		if !resumes(t, a.implicit, cfg) {
			t.Errorf("TLS %x: after a reload the session did not resume", v)
		}
		if resumes(t, own.implicit, cfg) {
			t.Errorf("TLS %x: an instance with its own secret resumed another's session", v)
		}
		if !resumes(t, own.implicit, cfg) {
			t.Errorf("TLS %x: an instance with a random secret did not resume its own session", v)
		}
		resumes(t, off.implicit, cfg)
		if resumes(t, off.implicit, cfg) {
			t.Errorf("TLS %x: tls.tickets.enabled = false resumed a session", v)
		}
	}
}
