package app

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The HTTP fixture: two Go HTTP servers "old" (the default) and "new"
// (alice is mapped to it; it serves TLS), a plaintext http listener
// routing /dav/** and /jmap/** by the account in Authorization, /pinned/**
// to old, and everything else by ?account= with the default as fallback.

type httpFixture struct {
	app      *App
	old, new *httptest.Server
	web      string
	webTLS   string       // implicit TLS, h2 offered
	oldConns atomic.Int32 // connections the old backend accepted
	requests atomic.Int32 // requests either backend received
	upgrades chan string  // the backend that answered a WebSocket upgrade
	sse      chan struct{}
}

// startHTTPFixture starts the fixture; extra is appended to the
// configuration.
func startHTTPFixture(t *testing.T, extra ...string) *httpFixture {
	t.Helper()
	f := &httpFixture{upgrades: make(chan string, 4), sse: make(chan struct{})}
	handler := func(name string) http.Handler {
		mux := http.NewServeMux()
		mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
			f.upgrades <- name
			c, rw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello from %s\n", name)
			rw.Flush()
			// Echo lines until the client closes.
			for {
				l, err := rw.ReadString('\n')
				if err != nil {
					return
				}
				fmt.Fprintf(rw, "%s echo %s", name, l)
				rw.Flush()
			}
		})
		mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: first from %s\n\n", name)
			w.(http.Flusher).Flush()
			<-f.sse // sent only once the client has read the first event
			fmt.Fprintf(w, "data: second from %s\n\n", name)
		})
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s %s xff=%s body=%d", name, r.Method, r.URL.Path, r.Header.Get("X-Forwarded-For"), len(body))
		})
		return mux
	}
	counted := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f.requests.Add(1)
			h.ServeHTTP(w, r)
		})
	}
	f.old = httptest.NewUnstartedServer(counted(handler("old")))
	f.old.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.oldConns.Add(1)
		}
	}
	f.old.Start()
	t.Cleanup(f.old.Close)
	f.new = httptest.NewTLSServer(counted(handler("new")))
	t.Cleanup(f.new.Close)
	files := writeProxyFiles(t, "alice@example.com new\n")
	a := startApp(t, fmt.Sprintf(`
[server]
backend_timeout = "2s"
health_check_interval = "0s"
%s%s%s%s%s[routing]
default_destination = "old"
%s
[[http.route]]
match = "/**"
host = "admin.test"
destination = "new"
[[http.route]]
match = "/post-only/**"
methods = ["POST"]
destination = "new"
[[http.route]]
match = "/pinned/**"
destination = "old"
[[http.route]]
match = "{/dav/**,/jmap/**,/ws,/events}"
[http.route.extract]
from = "authorization"
[[http.route]]
match = "/**"
fallback = "default"
[http.route.extract]
from = "query"
param = "account"
%s`, files.certSection(), listenerSection("web", "http", "plain", ""), listenerSection("webtls", "http", "implicit", ""),
		destSection("old", "forwarding = \"none\"\nforwarded = true\nallow_plaintext_auth = true\n", "http", portOf(f.old.URL[len("http://"):]), "plain"),
		destSection("new", "forwarding = \"none\"\ntls_allow_invalid_certs = true\n", "http", portOf(f.new.URL[len("https://"):]), "implicit"),
		fileMapping(files.mapping, "normalize = \"lowercase\"\n"), strings.Join(extra, "\n")))
	f.app, f.web, f.webTLS = a, addrOf(t, a, "web"), addrOf(t, a, "webtls")
	return f
}

func basic(user string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":secret"))
}

// countingClient is an HTTP/1.1 client that counts its connections.
func countingClient(dials *atomic.Int32) *http.Client {
	d := &net.Dialer{Timeout: 3 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxConnsPerHost: 1,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func get(t *testing.T, c *http.Client, url, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return doRequest(t, c, req)
}

// TestHTTPRoutesEachRequest: on one keep-alive connection, requests go to
// the backend of the account in each request (Basic, Bearer JWT, query),
// pinned paths and fallbacks are honoured, the client's address is added
// for a destination that asks for it, and a TLS backend works.
func TestHTTPRoutesEachRequest(t *testing.T) {
	f := startHTTPFixture(t)
	var dials atomic.Int32
	c := countingClient(&dials)
	base := "http://" + f.web
	jwt := "e30." + base64.RawURLEncoding.EncodeToString([]byte(`{"email":"alice@example.com"}`)) + ".sig"
	for _, tc := range []struct{ path, auth, want string }{
		{"/dav/a", basic("alice@example.com"), "new GET /dav/a"},
		{"/dav/b", basic("bob@example.com"), "old GET /dav/b xff=127.0.0.1"},
		{"/jmap/c", "Bearer " + jwt, "new GET /jmap/c"},
		{"/pinned/d", basic("alice@example.com"), "old GET /pinned/d"},
		{"/other?account=Alice@Example.com", "", "new GET /other"},
		{"/other", "", "old GET /other"}, // no account: the default
	} {
		code, body := get(t, c, base+tc.path, tc.auth)
		if code != 200 || !strings.HasPrefix(body, tc.want) {
			t.Fatalf("%s: %d %q, want %q", tc.path, code, body, tc.want)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("the client needed %d connections, want one keep-alive connection", n)
	}
	// No credentials on an authorization route without fallback: 401.
	if code, _ := get(t, c, base+"/dav/x", ""); code != 401 {
		t.Fatalf("no credentials: %d", code)
	}
	// A POST body crosses to the backend.
	resp, err := c.Post(base+"/x?account=bob@example.com", "text/plain", strings.NewReader(strings.Repeat("y", 100000)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(b), "old POST /x") || !strings.Contains(string(b), "body=100000") {
		t.Fatalf("POST: %q", b)
	}
}

// TestHTTPWebSocketAndSSE: an upgrade is answered by the account's backend
// and the streams are bridged both ways; server-sent events arrive as
// they are sent.
func TestHTTPWebSocketAndSSE(t *testing.T) {
	f := startHTTPFixture(t)
	conn := dialTCP(t, f.web, 10*time.Second)
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: mail.test\r\nAuthorization: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", basic("bob@example.com"))
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	if got := <-f.upgrades; got != "old" {
		t.Fatalf("upgrade answered by %q", got)
	}
	if l, _ := r.ReadString('\n'); l != "hello from old\n" {
		t.Fatalf("after 101: %q", l)
	}
	for i := 0; i < 3; i++ {
		fmt.Fprintf(conn, "ping %d\n", i)
		if l, _ := r.ReadString('\n'); l != fmt.Sprintf("old echo ping %d\n", i) {
			t.Fatalf("echo %d: %q", i, l)
		}
	}

	sse := dialTCP(t, f.web, 10*time.Second)
	fmt.Fprintf(sse, "GET /events HTTP/1.1\r\nHost: mail.test\r\nAuthorization: %s\r\n\r\n", basic("alice@example.com"))
	sr := bufio.NewReader(sse)
	resp, err = http.ReadResponse(sr, nil)
	if err != nil || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %v %v", resp, err)
	}
	first := make([]byte, 64)
	n, err := resp.Body.Read(first) // arrives before the backend may send the second
	if err != nil || !strings.Contains(string(first[:n]), "first from new") {
		t.Fatalf("first event: %q %v", first[:n], err)
	}
	close(f.sse)
	rest, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(rest), "second from new") {
		t.Fatalf("second event: %q", rest)
	}
}

// TestHTTPBackendDown: a stopped backend gives 502; the client's
// connection stays usable for another destination.
func TestHTTPBackendDown(t *testing.T) {
	f := startHTTPFixture(t)
	var dials atomic.Int32
	c := countingClient(&dials)
	f.old.Close()
	if code, _ := get(t, c, "http://"+f.web+"/dav/x", basic("bob@example.com")); code != 502 {
		t.Fatalf("stopped backend: %d", code)
	}
	if code, body := get(t, c, "http://"+f.web+"/dav/y", basic("alice@example.com")); code != 200 || !strings.HasPrefix(body, "new") {
		t.Fatalf("after the 502: %d %q", code, body)
	}
}

// TestHTTP2RoutesEachStream: a TLS client that negotiates h2 gets HTTP/2,
// and the streams of its one connection go to each account's backend;
// a client that offers only HTTP/1.1 on the same listener gets HTTP/1.1.
func TestHTTP2RoutesEachStream(t *testing.T) {
	f := startHTTPFixture(t)
	var dials atomic.Int32
	d := &net.Dialer{Timeout: 3 * time.Second}
	h2 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		ForceAttemptHTTP2: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
	}}
	base := "https://" + f.webTLS
	for i := 0; i < 3; i++ {
		for _, tc := range []struct{ user, want string }{{"alice@example.com", "new GET /dav/"}, {"bob@example.com", "old GET /dav/"}} {
			req, _ := http.NewRequest("GET", base+"/dav/x", nil)
			req.Header.Set("Authorization", basic(tc.user))
			resp, err := h2.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Proto != "HTTP/2.0" || !strings.HasPrefix(string(b), tc.want) {
				t.Fatalf("%s: %s %q, want HTTP/2.0 and %q", tc.user, resp.Proto, b, tc.want)
			}
		}
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("%d connections, want one multiplexed connection", n)
	}
	h1 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}},
	}}
	code, body := get(t, h1, base+"/dav/y", basic("alice@example.com"))
	if code != 200 || !strings.HasPrefix(body, "new GET /dav/y") {
		t.Fatalf("HTTP/1.1 over TLS: %d %q", code, body)
	}
}

// TestHTTPBackendConnectionsPooled: clients that come one after another
// (each with its own connection) reuse the idle backend connection their
// predecessors left, instead of each dialing the backend.
func TestHTTPBackendConnectionsPooled(t *testing.T) {
	f := startHTTPFixture(t)
	for i := 0; i < 5; i++ {
		c := countingClient(new(atomic.Int32)) // a new client connection each time
		code, body := get(t, c, "http://"+f.web+"/dav/x", basic("bob@example.com"))
		if code != 200 || !strings.HasPrefix(body, "old GET /dav/x") {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
		c.CloseIdleConnections()
		// The proxy has seen the client go once its relayed session is
		// over: its backend leg is back in the pool by then.
		for deadline := time.Now().Add(10 * time.Second); f.app.Engine().Stats.Relaying.Load() != 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("client %d: the proxy still relays %d sessions", i, f.app.Engine().Stats.Relaying.Load())
			}
		}
	}
	// Idle legs are pooled per event loop (one loop per CPU by default):
	// at most one dial per loop.
	if n := f.oldConns.Load(); n > int32(runtime.GOMAXPROCS(0)) {
		t.Fatalf("the backend accepted %d connections for 5 clients one after another, want at most one per event loop (%d)", n, runtime.GOMAXPROCS(0))
	}
}

// TestHTTPRoutesByHostAndMethod: a route may apply to one Host or to some
// methods only; requests it does not apply to fall through to later routes.
func TestHTTPRoutesByHostAndMethod(t *testing.T) {
	f := startHTTPFixture(t)
	c := countingClient(new(atomic.Int32))
	req, _ := http.NewRequest("GET", "http://"+f.web+"/anything", nil)
	req.Host = "Admin.Test:8080"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(b), "new GET /anything") {
		t.Fatalf("Host admin.test: %q", b)
	}
	resp, err = c.Post("http://"+f.web+"/post-only/x", "text/plain", strings.NewReader("hi"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(b), "new POST /post-only/x") {
		t.Fatalf("POST: %q", b)
	}
	if _, body := get(t, c, "http://"+f.web+"/post-only/x", ""); !strings.HasPrefix(body, "old GET /post-only/x") {
		t.Fatalf("GET falls through to the default: %q", body)
	}
}
