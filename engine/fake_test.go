package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/internal/fdbudget"
	"github.com/switchyard-mail/switchyard/internal/testcert"
	"github.com/switchyard-mail/switchyard/internal/testnet"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
	"github.com/switchyard-mail/switchyard/router"
	"github.com/switchyard-mail/switchyard/splice"
)

// The engine's own tests run it with a toy line protocol ("fake"), a map
// for a router, real backends on loopback and the real bridge behind a
// recorder that checks which sockets it was given.
//
// Client side: greeting "HELLO"; "FAT n" answers n bytes of 'x' and CRLF;
// "LOGIN user" logs in; "STARTTLS" answers "GO" and upgrades; "QUIT"
// closes; anything else "ERR". Backend side: the backend greets "READY",
// the proxy sends "AUTH user", the backend answers "OK ..." or "NO ...".

type fakeDriver struct{}

func (fakeDriver) NewFrontEnd(*options.Listener, bool) protocols.FrontEnd { return &fakeFront{} }

func (fakeDriver) NewBackEnd(login *protocols.Login, _ *options.Destination, _ bool, _ *forward.Info) protocols.BackEnd {
	return &fakeBack{user: login.Creds.Username}
}

type fakeFront struct{ user string }

func (f *fakeFront) Greeting(out []byte) []byte { return append(out, "HELLO\r\n"...) }

func (f *fakeFront) Feed(in, out []byte) (int, []byte, protocols.Event) {
	n := 0
	for {
		i := bytes.Index(in[n:], []byte("\r\n"))
		if i < 0 {
			if len(in)-n > 1024 {
				return len(in), append(out, "TOO LONG\r\n"...), protocols.EventClose
			}
			return n, out, protocols.EventNone
		}
		line := string(in[n : n+i])
		n += i + 2
		switch {
		case strings.HasPrefix(line, "FAT "):
			k, _ := strconv.Atoi(line[4:])
			out = append(out, bytes.Repeat([]byte{'x'}, k)...)
			out = append(out, "\r\n"...)
		case strings.HasPrefix(line, "LOGIN "):
			f.user = line[6:]
			return n, out, protocols.EventLogin
		case line == "STARTTLS":
			return n, append(out, "GO\r\n"...), protocols.EventStartTLS
		case line == "QUIT":
			return n, append(out, "BYE\r\n"...), protocols.EventClose
		default:
			out = append(out, "ERR\r\n"...)
		}
	}
}

func (f *fakeFront) Login() *protocols.Login {
	return &protocols.Login{Creds: sasl.Credentials{Mechanism: "PLAIN", Username: f.user, Password: "secret"}}
}
func (f *fakeFront) TLSStarted(out []byte) []byte { return append(out, "HELLO TLS\r\n"...) }
func (f *fakeFront) LoginFailed(k protocols.FailKind, relay, out []byte) ([]byte, bool) {
	if len(relay) > 0 {
		return append(out, relay...), false
	}
	if k == protocols.FailRejected {
		return append(out, "NO\r\n"...), false
	}
	return append(out, "NO UNAVAILABLE\r\n"...), false
}
func (f *fakeFront) TooBusy(out []byte) []byte      { return append(out, "BUSY\r\n"...) }
func (f *fakeFront) Timeout(out []byte) []byte      { return append(out, "TIMEOUT\r\n"...) }
func (f *fakeFront) ShuttingDown(out []byte) []byte { return append(out, "BYE\r\n"...) }

type fakeBack struct {
	user  string
	sent  bool
	relay []byte
	err   error
}

func (b *fakeBack) Feed(in, out []byte) (int, []byte, protocols.BackendEvent) {
	i := bytes.Index(in, []byte("\r\n"))
	if i < 0 {
		return 0, out, protocols.BackendNone
	}
	line := string(in[:i])
	n := i + 2
	switch {
	case !b.sent && line == "READY":
		b.sent = true
		return n, append(out, "AUTH "+b.user+"\r\n"...), protocols.BackendNone
	case b.sent && strings.HasPrefix(line, "OK"):
		b.relay = append([]byte(line), "\r\n"...)
		return n, out, protocols.BackendAuthOK
	case b.sent && strings.HasPrefix(line, "NO"):
		b.relay = append([]byte(line), "\r\n"...)
		return n, out, protocols.BackendAuthFailed
	}
	b.err = errors.New("unexpected backend line " + strconv.Quote(line))
	return n, out, protocols.BackendFailed
}
func (b *fakeBack) TLSStarted(out []byte) []byte { return out }
func (b *fakeBack) Relay() []byte                { return b.relay }
func (b *fakeBack) Err() error                   { return b.err }

// fakeRouter routes every account to dest[account], else to def.
type fakeRouter struct {
	mu   sync.Mutex
	dest map[string]string
	def  string
}

func (r *fakeRouter) route(id string) (router.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d, ok := r.dest[id]; ok {
		return router.Result{Destination: d, Source: router.SourceStore}, nil
	}
	if r.def == "" {
		return router.Result{}, router.ErrNoRoute
	}
	return router.Result{Destination: r.def, Source: router.SourceDefault}, nil
}
func (r *fakeRouter) Cached(id string) (router.Result, error) { return r.route(id) }
func (r *fakeRouter) Resolve(_ context.Context, id string) (router.Result, error) {
	return r.route(id)
}
func (r *fakeRouter) Normalize(id string) string { return strings.ToLower(id) }

// fakeBackend is a backend on loopback running script per connection.
type fakeBackend struct {
	ln     net.Listener
	script func(c net.Conn)
	wg     sync.WaitGroup
}

func startBackend(t *testing.T, script func(c net.Conn)) *fakeBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBackend{ln: ln, script: script}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer c.Close()
				b.script(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); b.wg.Wait() })
	return b
}

func (b *fakeBackend) port() int { return b.ln.Addr().(*net.TCPAddr).Port }

// echoBackend logs anyone in, says who it serves, then echoes lines back
// prefixed with the user, so a client can tell whose backend leg it has.
func echoBackend(c net.Conn) {
	br, user, ok := backendLogin(c)
	if ok {
		echoAs(c, br, user)
	}
}

// backendLogin is the fake backend's side of a login: READY, then
// "AUTH <user>" answered "OK <user>".
func backendLogin(c net.Conn) (br *bufio.Reader, user string, ok bool) {
	br = bufio.NewReader(c)
	io.WriteString(c, "READY\r\n")
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, "", false
	}
	user = strings.TrimSpace(strings.TrimPrefix(line, "AUTH "))
	io.WriteString(c, "OK "+user+"\r\n")
	return br, user, true
}

// echoAs echoes each line back prefixed with user, until the client goes.
func echoAs(c net.Conn, br *bufio.Reader, user string) {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		io.WriteString(c, user+": "+line)
	}
}

// recordingBridge checks, for every session handed over, that the client
// descriptor is a socket whose peer is a client the test knows, and keeps
// what it saw.
type recordingBridge struct {
	splice.Bridge
	mu       sync.Mutex
	sessions []bridged
}

type bridged struct {
	info          splice.Info
	clientPeer    netip.AddrPort // the client descriptor's peer
	backendPeer   netip.AddrPort // the backend descriptor's peer
	clientPrelude string
}

func peerOf(fd int) netip.AddrPort {
	sa, err := unix.Getpeername(fd)
	if err != nil {
		return netip.AddrPort{}
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}

func (b *recordingBridge) Start(client, backend splice.Leg, info splice.Info, onEnd func(splice.Info, splice.Stats)) (*splice.Session, error) {
	b.mu.Lock()
	b.sessions = append(b.sessions, bridged{info: info, clientPeer: peerOf(client.FD), backendPeer: peerOf(backend.FD), clientPrelude: string(client.Prelude)})
	b.mu.Unlock()
	return b.Bridge.Start(client, backend, info, onEnd)
}

func (b *recordingBridge) seen() []bridged {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]bridged(nil), b.sessions...)
}

// harness is an engine with one "fake" listener and one destination.
type harness struct {
	e      *Engine
	bridge *recordingBridge
	router *fakeRouter
	addr   string
	lis    *options.Listener
	logs   *testnet.Buffer
}

type harnessOpt func(*options.Options, *options.Listener)

func startEngine(t testing.TB, backendPort int, opts ...harnessOpt) *harness {
	t.Helper()
	br, err := splice.New(splice.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rb := &recordingBridge{Bridge: br}
	rt := &fakeRouter{def: "b"}
	lis := &options.Listener{ID: "fake", Protocol: "fake", Addrs: []string{"127.0.0.1:0"}, PreauthTimeout: time.Minute, MaxConnections: 1000}
	logs := &testnet.Buffer{}
	var w io.Writer = logs
	if testing.Verbose() {
		w = io.MultiWriter(logs, os.Stderr)
	}
	opt := options.Options{
		Listeners: []*options.Listener{lis},
		Destinations: map[string]*options.Destination{"b": {ID: "b", Host: "127.0.0.1", AllowPlaintextAuth: true,
			Protocols: map[string]options.DestProtocol{"fake": {Port: backendPort}}}},
		Drivers:        map[string]options.Driver{"fake": fakeDriver{}},
		Router:         rt,
		Bridge:         rb,
		Logger:         slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})),
		BackendTimeout: 5 * time.Second,
		Loops:          2,
		FDs:            fdbudget.New(0),
	}
	for _, o := range opts {
		o(&opt, lis)
	}
	e, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Run() }()
	select {
	case <-e.Started():
	case err := <-done:
		t.Fatalf("engine stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("engine did not start")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
		_ = br.Shutdown(ctx)
		<-done
	})
	return &harness{e: e, bridge: rb, router: rt, addr: e.Addrs("fake")[0].String(), lis: lis, logs: logs}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func withTLS(t *testing.T, mode options.TLSMode) harnessOpt {
	cert, _, _, err := testcert.New("localhost")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	return func(o *options.Options, l *options.Listener) {
		l.TLS = mode
		o.ServerTLS = func() *tls.Config { return cfg }
	}
}

// client is a test client of the fake protocol.
type client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialClient(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, c: c, br: bufio.NewReader(c)}
	return cl
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) line() string {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	s, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (got %q)", err, s)
	}
	return strings.TrimRight(s, "\r\n")
}

func (c *client) expect(want string) {
	c.t.Helper()
	if got := c.line(); got != want {
		c.t.Fatalf("got %q, want %q", got, want)
	}
}

// closedByServer reads until EOF or a reset and reports whether the server
// closed within the deadline; it drops whatever it reads.
func (c *client) closedByServer(d time.Duration) bool {
	_ = c.c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
