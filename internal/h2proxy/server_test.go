package h2proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/switchyard-mail/switchyard/internal/testcert"
	"github.com/switchyard-mail/switchyard/internal/testnet"
	"github.com/switchyard-mail/switchyard/protocols/http/rules"
	"github.com/switchyard-mail/switchyard/router"
)

// echo is what the test backends answer: what they received.
type echo struct {
	Backend, Method, URI, Host, Body string
	Forwarded, XFF, XFP              []string
	Proto                            string
}

type backendT struct {
	srv      *httptest.Server
	dials    atomic.Int32
	requests atomic.Int32
}

type fixture struct {
	t        *testing.T
	srv      *Server
	base     string // https://127.0.0.1:port
	client   *http.Client
	accepted atomic.Int32
	a, b     *backendT
	sseNext  chan struct{} // closed by the test: the SSE backend sends its second event
	mu       sync.Mutex
	conns    []net.Conn
}

var client = netip.MustParseAddrPort("203.0.113.7:4711")

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func jwt(payload string) string {
	return b64url(`{"alg":"RS256","typ":"JWT"}`) + "." + b64url(payload) + "." + b64url("sig")
}

func basic(user string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":pw"))
}

func (f *fixture) newBackend(name string) *backendT {
	b := &backendT{}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.requests.Add(1)
		if r.URL.Path == "/sse" {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: one\n\n")
			w.(http.Flusher).Flush()
			<-f.sseNext
			_, _ = io.WriteString(w, "data: two\n\n")
			return
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.NewEncoder(w).Encode(echo{
			Backend: name, Method: r.Method, URI: r.RequestURI, Host: r.Host, Body: string(body),
			Forwarded: r.Header.Values("Forwarded"), XFF: r.Header.Values("X-Forwarded-For"),
			XFP: r.Header.Values("X-Forwarded-Proto"), Proto: r.Proto,
		})
	}))
	b.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			b.dials.Add(1)
		}
	}
	b.srv.Start()
	return b
}

func newFixture(t *testing.T, mod func(*Config)) *fixture {
	f := &fixture{t: t, sseNext: make(chan struct{})}
	f.a, f.b = f.newBackend("A"), f.newBackend("B")
	downURL := "http://" + testnet.RefusingAddr(t)

	routes, err := rules.CompileRoutes([]rules.RouteSpec{
		{Match: "/pinned/**", Destination: "B"},
		{Match: "/sse", Destination: "A"},
		{Match: "/fwd/**", Destination: "AF"},
		{Match: "/down/**", Destination: "DOWN"},
		{Match: "/login", Methods: []string{"POST"}, Extract: &rules.ExtractSpec{From: "body", Regex: `"user"\s*:\s*"([^"]+)"`}, Fallback: "default"},
		{Match: "/fb/**", Extract: &rules.ExtractSpec{From: "authorization"}, Fallback: "B"},
		{Match: "/{jmap,dav}/**", Extract: &rules.ExtractSpec{From: "authorization"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]Target{
		"A":    {URL: f.a.srv.URL},
		"B":    {URL: f.b.srv.URL},
		"AF":   {URL: f.a.srv.URL, Forwarded: true},
		"DOWN": {URL: downURL},
	}
	cfg := Config{
		Routes:             routes,
		DefaultDestination: "A",
		Resolve: func(ctx context.Context, id string) (string, error) {
			switch id {
			case "alice@a.example":
				return "A", nil
			case "bob@b.example":
				return "B", nil
			case "temp@x.example":
				return "", fmt.Errorf("%w: store down", router.ErrTempFail)
			}
			return "", router.ErrNoRoute
		},
		Target: func(dest string) (Target, bool) {
			t, ok := targets[dest]
			return t, ok
		},
		Logger: slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&cfg)
	}
	f.srv = New(cfg)

	cert, certPEM, _, err := testcert.New("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	f.base = "https://" + ln.Addr().String()
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.accepted.Add(1)
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.mu.Unlock()
			wg.Go(func() {
				// The engine hands over a connection that negotiated h2.
				tc := c.(*tls.Conn)
				if err := tc.HandshakeContext(context.Background()); err != nil || tc.ConnectionState().NegotiatedProtocol != "h2" {
					c.Close()
					return
				}
				f.srv.ServeConn(c, client, true)
			})
		}
	})

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	protos := new(http.Protocols)
	protos.SetHTTP2(true)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true, Protocols: protos}
	f.client = &http.Client{Transport: tr}

	t.Cleanup(func() {
		select {
		case <-f.sseNext:
		default:
			close(f.sseNext)
		}
		tr.CloseIdleConnections()
		ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		wg.Wait()
		f.srv.Close()
		f.a.srv.Close()
		f.b.srv.Close()
	})
	return f
}

// do sends a request; fields are "Name: value" lines.
func (f *fixture) do(method, path, body string, fields ...string) *http.Response {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.base+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, fl := range fields {
		k, v, _ := strings.Cut(fl, ": ")
		req.Header.Add(k, v)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	if resp.ProtoMajor != 2 {
		f.t.Fatalf("client spoke %s", resp.Proto)
	}
	return resp
}

// echoOf reads a backend's echo (and wants 200).
func (f *fixture) echoOf(resp *http.Response) echo {
	f.t.Helper()
	defer resp.Body.Close()
	var e echo
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		f.t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, &e); err != nil {
		f.t.Fatalf("%v: %s", err, b)
	}
	return e
}

// status reads a local answer.
func (f *fixture) status(resp *http.Response, want int) string {
	f.t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		f.t.Fatalf("status %d, want %d: %s", resp.StatusCode, want, b)
	}
	return string(b)
}

func TestStreamsRoutedPerRequestOnOneConnection(t *testing.T) {
	f := newFixture(t, nil)
	alice := basic("alice@a.example")
	bob := "Bearer " + jwt(`{"sub":"1","email":"bob@b.example"}`)
	// Open the connection first, so that the concurrent streams share it.
	f.echoOf(f.do("GET", "/jmap/warmup", "", "Authorization: "+alice))

	const n = 24
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			auth, want := alice, "A"
			if i%2 == 1 {
				auth, want = bob, "B"
			}
			req, _ := http.NewRequest("GET", fmt.Sprintf("%s/dav/%d?x=1", f.base, i), nil)
			req.Header.Set("Authorization", auth)
			resp, err := f.client.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var e echo
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				errs <- err
				return
			}
			if e.Backend != want || e.URI != fmt.Sprintf("/dav/%d?x=1", i) || e.Proto != "HTTP/1.1" {
				errs <- fmt.Errorf("stream %d: %+v, want backend %s", i, e, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := f.accepted.Load(); got != 1 {
		t.Fatalf("%d client connections, want one", got)
	}
}

func TestPinnedRouteKeepsHost(t *testing.T) {
	f := newFixture(t, nil)
	e := f.echoOf(f.do("GET", "/pinned/a%2Fb?q=1", ""))
	if e.Backend != "B" || e.URI != "/pinned/a%2Fb?q=1" || e.Host != strings.TrimPrefix(f.base, "https://") {
		t.Fatalf("%+v", e)
	}
	// Forged forwarding fields never reach a destination that does not
	// want them, and none are added.
	if len(e.Forwarded)+len(e.XFF)+len(e.XFP) != 0 {
		t.Fatalf("forwarding fields: %+v", e)
	}
	e = f.echoOf(f.do("GET", "/pinned/x", "", "Forwarded: for=6.6.6.6", "X-Forwarded-For: 6.6.6.6"))
	if len(e.Forwarded)+len(e.XFF)+len(e.XFP) != 0 {
		t.Fatalf("forged forwarding fields passed: %+v", e)
	}
}

func TestForwardedWhenAsked(t *testing.T) {
	f := newFixture(t, nil)
	e := f.echoOf(f.do("GET", "/fwd/x", "", "Forwarded: for=6.6.6.6", "X-Forwarded-For: 6.6.6.6", "X-Forwarded-Proto: http"))
	host := strings.TrimPrefix(f.base, "https://")
	want := `for="203.0.113.7:4711";proto=https;host="` + host + `"`
	if len(e.Forwarded) != 1 || e.Forwarded[0] != want {
		t.Fatalf("Forwarded %q, want %q", e.Forwarded, want)
	}
	if len(e.XFF) != 1 || e.XFF[0] != "203.0.113.7" || len(e.XFP) != 1 || e.XFP[0] != "https" {
		t.Fatalf("X-Forwarded-*: %+v", e)
	}
}

func TestLocalAnswers(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.VerifyBearer = func(tok string) error {
			if tok == "bad" {
				return errors.New("bad token")
			}
			return nil
		}
	})
	resp := f.do("GET", "/jmap/x", "")
	f.status(resp, 401)
	if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="switchyard"` {
		t.Fatalf("challenge %q", got)
	}
	resp = f.do("GET", "/pinned/x", "", "Authorization: Bearer bad")
	f.status(resp, 401)
	if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
		t.Fatalf("challenge %q", got)
	}
	if body := f.status(f.do("GET", "/nowhere", ""), 404); body != "404 Not Found: no route for this path\n" {
		t.Fatalf("body %q", body)
	}
	// Unknown account: no fallback is 502, a fallback routes.
	f.status(f.do("GET", "/jmap/x", "", "Authorization: "+basic("nobody@x.example")), 502)
	if e := f.echoOf(f.do("GET", "/fb/x", "", "Authorization: "+basic("nobody@x.example"))); e.Backend != "B" {
		t.Fatalf("fallback: %+v", e)
	}
	// The router cannot answer now.
	resp = f.do("GET", "/jmap/x", "", "Authorization: "+basic("temp@x.example"))
	f.status(resp, 503)
	if resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	// The backend is unreachable.
	f.status(f.do("GET", "/down/x", ""), 502)
	// The connection survived all of it.
	if e := f.echoOf(f.do("GET", "/jmap/x", "", "Authorization: "+basic("alice@a.example"))); e.Backend != "A" {
		t.Fatalf("%+v", e)
	}
	if got := f.accepted.Load(); got != 1 {
		t.Fatalf("%d client connections", got)
	}
}

// TestVerifiesQueryAndFormTokens: with VerifyBearer, a token in the
// access_token query parameter or in a form body's access_token field
// (RFC 6750 sections 2.3 and 2.2) is verified like one in Authorization:
// a forged one is answered 401 and no backend sees the stream; a form
// body too long to check is refused; a verified token goes through, the
// body whole.
func TestVerifiesQueryAndFormTokens(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.BodyExtractCap = 64
		c.VerifyBearer = func(tok string) error {
			if tok != "good" {
				return errors.New("bad token")
			}
			return nil
		}
	})
	const form = "Content-Type: application/x-www-form-urlencoded"
	refused := func(resp *http.Response, status int, challenge string) {
		t.Helper()
		f.status(resp, status)
		if got := resp.Header.Get("WWW-Authenticate"); got != challenge {
			t.Fatalf("challenge %q, want %q", got, challenge)
		}
	}
	refused(f.do("GET", "/pinned/x?access_token=forged", ""), 401, rules.InvalidTokenChallenge)
	refused(f.do("GET", "/pinned/x?a=1;access%5Ftoken=forged", ""), 401, rules.InvalidTokenChallenge)
	refused(f.do("GET", "/pinned/x?access_token=good", "", "Authorization: Bearer other"), 400, rules.InvalidRequestChallenge)
	refused(f.do("POST", "/pinned/x", "a=1&access_token=forged", form), 401, rules.InvalidTokenChallenge)
	refused(f.do("POST", "/pinned/x", "ACCESS_TOKEN=forged", "Content-Type: Application/X-WWW-Form-Urlencoded; charset=utf-8"), 401, rules.InvalidTokenChallenge)
	// A body route: the token is checked before the body routes.
	refused(f.do("POST", "/login", "user=bob%40b.example&access_token=forged", form), 401, rules.InvalidTokenChallenge)
	refused(f.do("POST", "/pinned/x", "access_token=good&pad="+strings.Repeat("x", 64), form), 413, "")
	// The same with no Content-Length (a body of unknown length).
	req, _ := http.NewRequest("POST", f.base+"/pinned/x", io.MultiReader(strings.NewReader("access_token=forged")))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	refused(resp, 401, rules.InvalidTokenChallenge)
	if a, b := f.a.requests.Load(), f.b.requests.Load(); a+b != 0 {
		t.Fatalf("the backends saw %d requests with unverified tokens", a+b)
	}

	if e := f.echoOf(f.do("GET", "/pinned/x?access_token=good", "")); e.Backend != "B" || e.URI != "/pinned/x?access_token=good" {
		t.Fatalf("%+v", e)
	}
	if e := f.echoOf(f.do("POST", "/pinned/x", "a=1&access_token=good", form, "Authorization: Bearer good")); e.Backend != "B" || e.Body != "a=1&access_token=good" {
		t.Fatalf("%+v", e)
	}
	// Not a form: the body is not read for a token (RFC 6750 reads
	// only form bodies), and streams as before.
	if e := f.echoOf(f.do("POST", "/pinned/x", "access_token=forged", "Content-Type: text/plain")); e.Body != "access_token=forged" {
		t.Fatalf("%+v", e)
	}
}

func TestEventStreamIsNotBuffered(t *testing.T) {
	f := newFixture(t, nil)
	resp := f.do("GET", "/sse", "")
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	rd := bufio.NewReader(resp.Body)
	// The first event arrives while the backend waits for the test.
	if line, err := rd.ReadString('\n'); err != nil || line != "data: one\n" {
		t.Fatalf("%q %v", line, err)
	}
	close(f.sseNext)
	rest, err := io.ReadAll(rd)
	if err != nil || string(rest) != "\ndata: two\n\n" {
		t.Fatalf("%q %v", rest, err)
	}
}

func TestRequestBodies(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.BodyExtractCap = 64 })
	alice := basic("alice@a.example")
	if e := f.echoOf(f.do("POST", "/jmap/upload", "hello world", "Authorization: "+alice)); e.Backend != "A" || e.Method != "POST" || e.Body != "hello world" {
		t.Fatalf("%+v", e)
	}
	// Routed by the body, which the backend still gets whole.
	login := `{"user": "bob@b.example", "password": "x"}`
	if e := f.echoOf(f.do("POST", "/login", login)); e.Backend != "B" || e.Body != login {
		t.Fatalf("%+v", e)
	}
	// Over the cap: not read ahead, the fallback ("default": A) decides,
	// and the body goes through whole.
	long := `{"user": "bob@b.example", "pad": "` + strings.Repeat("x", 200) + `"}`
	if e := f.echoOf(f.do("POST", "/login", long)); e.Backend != "A" || e.Body != long {
		t.Fatalf("%+v", e)
	}
	// The same without a Content-Length (a body of unknown length).
	req, _ := http.NewRequest("POST", f.base+"/login", io.MultiReader(strings.NewReader(long)))
	req.ContentLength = -1
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if e := f.echoOf(resp); e.Backend != "A" || e.Body != long {
		t.Fatalf("%+v", e)
	}
	req, _ = http.NewRequest("POST", f.base+"/login", io.MultiReader(strings.NewReader(login)))
	req.ContentLength = -1
	if resp, err = f.client.Do(req); err != nil {
		t.Fatal(err)
	}
	if e := f.echoOf(resp); e.Backend != "B" || e.Body != login {
		t.Fatalf("%+v", e)
	}
}

func TestBackendConnectionsReused(t *testing.T) {
	f := newFixture(t, nil)
	alice := basic("alice@a.example")
	for i := range 10 {
		e := f.echoOf(f.do("GET", fmt.Sprintf("/jmap/%d", i), "", "Authorization: "+alice))
		if e.Backend != "A" {
			t.Fatalf("%+v", e)
		}
		f.echoOf(f.do("POST", "/pinned/x", "body"))
	}
	if a, b := f.a.dials.Load(), f.b.dials.Load(); a != 1 || b != 1 {
		t.Fatalf("backend connections: A %d, B %d; want one each", a, b)
	}
	// Close drops the idle ones; the next request dials again.
	f.srv.Close()
	f.echoOf(f.do("GET", "/pinned/y", ""))
	if b := f.b.dials.Load(); b != 2 {
		t.Fatalf("B dialled %d times", b)
	}
}
