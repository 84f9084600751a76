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
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/internal/testcert"
	"github.com/switchyard-mail/switchyard/limits"
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

// dial connects to addr and closes the connection when the test ends.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
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
		// Far beyond the wait below: only a refusal closes the extra
		// connection within it, however busy the machine.
		o.ReadHeaderTimeout = 2 * time.Minute
		o.IdleTimeout = 2 * time.Minute
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
		if !closedSoon(extra, 30*time.Second) {
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
	deadline := time.Now().Add(15 * time.Second) // a bound for a failure, not a measure
	for {
		// Until the server has seen the close, a dial is still refused,
		// which connect(2) may report as a reset (as above).
		c, err := net.Dial("tcp", addr)
		if err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatal(err)
		}
		var line string
		if err == nil {
			line, err = rawGet(c, "/healthz")
			c.Close()
		}
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
	c := dial(t, addr)
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
	// Cut before the header was complete (sending it takes over 11 s),
	// and not before the ReadHeaderTimeout: a deadline never fires early,
	// so this lower bound cannot flake; how late the cut comes on a busy
	// machine is not asserted.
	elapsed := time.Since(start)
	if !cut {
		t.Fatalf("a client sending its header byte by byte for %v was not cut off", elapsed)
	}
	if elapsed < 250*time.Millisecond {
		t.Fatalf("cut off after %v, before the 300 ms ReadHeaderTimeout", elapsed)
	}
}

func TestIdleConnectionClosed(t *testing.T) {
	s, _ := newServer(t, func(o *Options) { o.IdleTimeout = 200 * time.Millisecond })
	addr := serve(t, s)
	c := dial(t, addr)
	if line, err := rawGet(c, "/healthz"); err != nil || !strings.Contains(line, "200") {
		t.Fatalf("%q %v", line, err)
	}
	// Drain the rest of the response, then wait for the idle close: the
	// server's end of file, not this test's read deadline (a minute, far
	// beyond the 200 ms IdleTimeout, only so that a failure ends).
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 4096)
	var err error
	for err == nil {
		_, err = c.Read(buf)
	}
	if !errors.Is(err, io.EOF) {
		t.Fatalf("idle keep-alive connection not closed by the server: %v", err)
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
	c := dial(t, addr)
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

// flood opens n connections to addr from the loopback address from and
// leaves them idle: silent TCP, or (halfTLS) a TLS record header announcing
// a ClientHello that never comes. Connections the server resets are closed;
// the others are closed when the test ends.
func flood(t *testing.T, addr, from string, n int, halfTLS bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 3 * time.Second}
	for i := 0; i < n; i++ {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			continue // reset while connecting: refused, as it should be
		}
		t.Cleanup(func() { c.Close() })
		if halfTLS {
			// handshake record, TLS 1.0 record version, 512 bytes, of
			// which only the ClientHello type and part of its length.
			_, _ = c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00})
		}
	}
}

// waitRejected waits until the server has refused want connections.
func waitRejected(t *testing.T, s *Server, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := scrape(t, s)["switchyard_admin_connections_rejected_total"]
		if got == want {
			return
		}
		if got > want || time.Now().After(deadline) {
			t.Fatalf("switchyard_admin_connections_rejected_total = %v, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tlsServer serves HTTPS with a test certificate; local, when set, decides
// which clients are loopback for the reserve.
func tlsServer(t *testing.T, mod func(*Options), local func(netip.Addr) bool) (*Server, string, *http.Client) {
	t.Helper()
	cert, certPEM, _, err := testcert.New("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newServer(t, func(o *Options) {
		o.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		o.ReadHeaderTimeout = time.Minute // the flood stays put while the test looks
		if mod != nil {
			mod(o)
		}
	})
	if local != nil {
		s.local = local
	}
	addr := serve(t, s)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	return s, addr, client
}

// answers reports the status of GET path with (or without) the token.
func answers(t *testing.T, client *http.Client, addr, path string, token bool) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "https://"+addr+path, nil)
	if token {
		req.Header.Set("Authorization", "Bearer "+testToken)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestIdleFloodDoesNotDenyService: with the default caps, idle TCP
// connections and half-finished TLS handshakes from other addresses leave
// /healthz (the container's health check) and the API answering. Before
// the per-client cap, 32 idle connections from anywhere took every slot.
func TestIdleFloodDoesNotDenyService(t *testing.T) {
	s, addr, client := tlsServer(t, nil, nil)
	flood(t, addr, "127.0.0.2", 64, false)
	flood(t, addr, "127.0.0.3", 64, true)
	waitRejected(t, s, 2*(64-limits.AdminMaxConnsPerClient))
	if code := answers(t, client, addr, "/healthz", false); code != 200 {
		t.Fatalf("/healthz during the flood: %d", code)
	}
	if code := answers(t, client, addr, "/stats", true); code != 200 {
		t.Fatalf("/stats during the flood: %d", code)
	}
}

// TestLoopbackReserve: when many addresses together fill every slot open
// to them, the loopback client still gets one.
func TestLoopbackReserve(t *testing.T) {
	// Only 127.0.0.1 counts as loopback here: the others stand in for
	// remote addresses.
	s, addr, client := tlsServer(t, func(o *Options) {
		o.MaxConns, o.MaxConnsPerClient, o.LoopbackReserve = 12, 3, 4
	}, func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.1") })
	for i := 2; i <= 6; i++ { // 5 addresses × 3 = 15 tries for 8 open slots
		flood(t, addr, "127.0.0."+strconv.Itoa(i), 3, i%2 == 0)
	}
	waitRejected(t, s, 15-8)
	for i := 0; i < 2; i++ {
		if code := answers(t, client, addr, "/healthz", false); code != 200 {
			t.Fatalf("/healthz from loopback with the rest full: %d", code)
		}
		if code := answers(t, client, addr, "/stats", true); code != 200 {
			t.Fatalf("/stats from loopback with the rest full: %d", code)
		}
	}
	// A further remote address is refused: the reserve is not for it.
	flood(t, addr, "127.0.0.7", 1, false)
	waitRejected(t, s, 15-8+1)
}

// TestHalfHandshakeCut: a client that starts a TLS handshake and stalls is
// cut off by ReadHeaderTimeout, freeing its slot.
func TestHalfHandshakeCut(t *testing.T) {
	_, addr, _ := tlsServer(t, func(o *Options) { o.ReadHeaderTimeout = 300 * time.Millisecond }, nil)
	c := dial(t, addr)
	if _, err := c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00}); err != nil {
		t.Fatal(err)
	}
	if !closedSoon(c, 10*time.Second) {
		t.Fatal("a stalled TLS handshake was not cut off")
	}
}
