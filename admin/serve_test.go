package admin

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/internal/testcert"
)

// serve starts s on a loopback port and stops it when the test ends.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve after Shutdown: %v", err)
		}
	})
	return ln.Addr().String()
}

func newServer(t *testing.T, mod func(*Options)) (*Server, *fakeBackend) {
	t.Helper()
	opt := Options{BearerToken: testToken}
	if mod != nil {
		mod(&opt)
	}
	b := newFake()
	s, err := New(opt, b)
	if err != nil {
		t.Fatal(err)
	}
	return s, b
}

// rawGet sends a GET on an open connection and returns the status line.
func rawGet(c net.Conn, path string) (string, error) {
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

// closedSoon reports whether the peer closes c (EOF or reset) within d.
func closedSoon(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	_, err := c.Read(b[:])
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}

func TestConnectionCap(t *testing.T) {
	s, _ := newServer(t, func(o *Options) {
		o.MaxConns = 2
		o.ReadHeaderTimeout = 10 * time.Second
		o.IdleTimeout = 10 * time.Second
	})
	addr := serve(t, s)

	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if line, err := rawGet(c, "/healthz"); err != nil || !strings.Contains(line, "200") {
			t.Fatalf("connection %d: %q %v", i, line, err)
		}
		held = append(held, c) // keep-alive: still holds its slot
	}
	// Refused at once: closed right after accept, which a loaded machine
	// may even report to connect(2) as a reset.
	extra, err := net.Dial("tcp", addr)
	if err == nil {
		defer extra.Close()
		if !closedSoon(extra, 2*time.Second) {
			t.Fatal("a connection beyond MaxConns was not closed at once")
		}
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatal(err)
	}
	// The held connections still work.
	if line, err := rawGet(held[0], "/healthz"); err != nil || !strings.Contains(line, "200") {
		t.Fatalf("held connection after the refusal: %q %v", line, err)
	}
	// Closing one frees a slot.
	held[1].Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		line, err := rawGet(c, "/healthz")
		c.Close()
		if err == nil && strings.Contains(line, "200") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot after a connection closed: %q %v", line, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := scrape(t, s)["switchyard_admin_connections_rejected_total"]; got < 1 {
		t.Fatalf("switchyard_admin_connections_rejected_total = %v", got)
	}
}

func TestSlowlorisCutByReadHeaderTimeout(t *testing.T) {
	s, _ := newServer(t, func(o *Options) { o.ReadHeaderTimeout = 300 * time.Millisecond })
	addr := serve(t, s)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	req := "GET /stats HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testToken + "\r\nX-Pad: " + strings.Repeat("a", 200) + "\r\n\r\n"
	cut := false
	for i := 0; i < len(req); i++ {
		if _, err := c.Write([]byte{req[i]}); err != nil {
			cut = true
			break
		}
		if closedSoon(c, 40*time.Millisecond) {
			cut = true
			break
		}
	}
	elapsed := time.Since(start)
	if !cut {
		t.Fatalf("a client sending its header byte by byte for %v was not cut off", elapsed)
	}
	if elapsed < 250*time.Millisecond || elapsed > 2*time.Second {
		t.Fatalf("cut off after %v, want about the 300 ms ReadHeaderTimeout", elapsed)
	}
}

func TestIdleConnectionClosed(t *testing.T) {
	s, _ := newServer(t, func(o *Options) { o.IdleTimeout = 200 * time.Millisecond })
	addr := serve(t, s)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if line, err := rawGet(c, "/healthz"); err != nil || !strings.Contains(line, "200") {
		t.Fatalf("%q %v", line, err)
	}
	// Drain the rest of the response, then wait for the idle close.
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4096)
	start := time.Now()
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	if el := time.Since(start); el > 1500*time.Millisecond {
		t.Fatalf("idle keep-alive connection kept for %v", el)
	}
}

func TestServeTLS(t *testing.T) {
	cert, certPEM, _, err := testcert.New("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newServer(t, func(o *Options) { o.TLS = &tls.Config{Certificates: []tls.Certificate{cert}} })
	addr := serve(t, s)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()

	req, _ := http.NewRequest("GET", "https://"+addr+"/stats", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"accepted":0`) {
		t.Fatalf("GET /stats over TLS: %d %s", resp.StatusCode, body)
	}
	// Plaintext on the TLS socket gets nowhere.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line, _ := rawGet(c, "/healthz")
	if strings.Contains(line, "200") {
		t.Fatalf("plaintext request answered on the TLS socket: %q", line)
	}
}

func TestShutdownStopsServe(t *testing.T) {
	s, _ := newServer(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve returned %v after Shutdown, want nil", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("listener still open after Shutdown")
	}
}
