// Package h2 is what the engine needs for HTTP/2 from clients. An http
// listener with H2 offers ALPN "h2" next to "http/1.1"; a connection that
// negotiates h2 leaves the reactor once its handshake is done: the engine
// duplicates the socket, makes the copy blocking, closes gnet's, and gives
// the decrypted stream (a Conn) to the driver's ServeH2 on a goroutine of
// its own. HTTP/2 multiplexes streams with flow control and HPACK state
// per connection: golang.org/x/net/http2 keeps that state, and it needs a
// blocking connection. Its streams run outside the reactor but go through
// the same gate as every login and relayed request (Streams): the
// account's hold, resolution with its metrics, the destination serving
// http, its breaker; each is listed in the registry while it runs and a
// kick resets it.
package h2

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/switchyard-mail/switchyard/engine/gate"
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/session"
	"github.com/switchyard-mail/switchyard/engine/sessions"
	"github.com/switchyard-mail/switchyard/router"
)

// ALPN caches, per listener, the server TLS configuration with h2
// offered, derived from the current base configuration (certificates are
// swapped on reload).
type ALPN struct {
	cur atomic.Pointer[[2]*tls.Config] // base, derived
}

// Get returns base with h2 offered.
func (a *ALPN) Get(base *tls.Config) *tls.Config {
	if p := a.cur.Load(); p != nil && p[0] == base {
		return p[1]
	}
	d := base.Clone()
	d.NextProtos = []string{"h2", "http/1.1"}
	a.cur.Store(&[2]*tls.Config{base, d})
	return d
}

// Conn is the blocking connection ServeH2 gets: TLS over a descriptor the
// engine detached. Close shuts the descriptor down (waking a blocked
// read), closes it and calls done, once.
type Conn struct {
	*tls.Conn
	fd     int
	done   func()
	closed sync.Once
}

// NewConn wraps tc over the blocking descriptor fd.
func NewConn(tc *tls.Conn, fd int, done func()) *Conn {
	return &Conn{Conn: tc, fd: fd, done: done}
}

func (c *Conn) Close() error {
	c.closed.Do(func() {
		_ = unix.Shutdown(c.fd, unix.SHUT_RDWR)
		_ = unix.Close(c.fd)
		c.done()
	})
	return nil
}

// Stream is an HTTP/2 stream asking to go to a backend.
type Stream struct {
	Listener    string
	Client      netip.AddrPort
	Account     string // the routing identifier ("" for a route with a fixed destination)
	Destination string // where it goes
	// Cancel ends the stream (an admin kick); safe from any goroutine.
	Cancel func()
}

// Streams admits HTTP/2 streams through the engine's gate and lists each
// in the registry while it runs. Set its fields before use.
type Streams struct {
	Gate     *gate.Gate
	Router   options.Resolver
	Observer options.Observer
	Table    *sessions.Table
	NextID   func() uint64 // the engine's session ids
	Refusal  func(reason string)
	Log      *slog.Logger
}

// Resolve resolves a stream's account through the router (it may block:
// it runs on the stream's goroutine), with the same metrics as a login.
func (s *Streams) Resolve(ctx context.Context, id string) (router.Result, error) {
	res, err := s.Router.Resolve(ctx, s.Router.Normalize(id))
	s.Observer.Route(res, err)
	return res, err
}

// Admit applies the gate to a stream whose destination is known. It
// returns done, to call once when the stream ends (backendFailed: the
// backend could not be reached or failed mid-answer, which the breaker
// counts), or the HTTP status and reason to answer instead.
func (g *Streams) Admit(s Stream) (done func(backendFailed bool), status int, reason string) {
	account := ""
	if s.Account != "" {
		account = g.Router.Normalize(s.Account)
		if !g.Gate.DelayedUntil(account, time.Now()).IsZero() {
			g.Refusal("stream_held")
			return nil, 503, "account delayed"
		}
	}
	proto := "http"
	adm := g.Gate.Admit(session.AdmitRequest{Proto: proto, Account: account, Fixed: "stream"}, router.Result{Destination: s.Destination}, nil)
	if !adm.OK {
		g.Refusal("stream_" + adm.Outcome)
		return nil, 503, adm.Reason
	}
	id := g.NextID()
	started := time.Now()
	cancel := s.Cancel
	if cancel == nil {
		cancel = func() {}
	}
	reg := g.Table.Add(&sessions.Entry{Info: sessions.Info{ID: id, Listener: s.Listener, Protocol: proto, Client: s.Client.String(),
		State: sessions.StateStream, Account: account, Destination: adm.Dest.ID, Started: started}, Kick: cancel})
	dest := adm.Dest
	return func(backendFailed bool) {
		g.Table.Remove(reg)
		if backendFailed {
			g.Gate.HealthFailure(dest, proto, s.Client)
		} else {
			g.Gate.HealthSuccess(dest, proto)
		}
		g.Log.Debug("http/2 stream ended", "stream", id, "account", account, "destination", dest.ID,
			"client", s.Client, "backend_failed", backendFailed, "duration_s", time.Since(started).Round(time.Microsecond).Seconds())
	}, 0, ""
}
