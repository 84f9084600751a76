// Package splice bridges the two legs of an authenticated proxy session
// (client and backend) until one side is done.
//
// On Linux the bridge is a few edge-triggered epoll loops, each on its own
// locked OS thread, with no goroutine per session. A direction between two
// plaintext legs moves bytes with splice(2) through a pipe taken from a
// per-loop pool only while bytes are in flight; past the pipe cap it copies
// through a small pooled buffer. A direction with a TLS leg decrypts or
// encrypts in the loop with crypto/tls over a non-blocking transport and
// applies backpressure: a source is not read while its destination still holds
// unsent bytes. Elsewhere, or when Config.Portable is set, a goroutine pair
// per session does the same job with the same API.
//
// See README.md for the design, the limits and the measured figures.
package splice

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/internal/fdbudget"
	"github.com/switchyard-mail/switchyard/limits"
)

// Transport is the part of a TLS leg's transport (engine/tlsconn.Conn) the
// bridge uses. After UseFD(fd) the transport reads the socket without
// blocking (an empty socket gives an error that is a net.Error with Timeout()
// true, which crypto/tls does not latch) and Write never blocks: what the
// socket refuses stays in an internal buffer of PendingOut bytes, written by
// FlushOut, which returns a would-block error while some remains.
type Transport interface {
	UseFD(fd int)
	PendingOut() int
	FlushOut() error
}

// Corker may be implemented by a Transport. Between Cork and Uncork the
// transport keeps what is written in its pending buffer instead of writing
// it, so the TLS records produced by one tls.Conn.Write leave in one write(2).
// Uncork does not write; the bridge calls FlushOut next.
type Corker interface {
	Cork()
	Uncork()
}

// Leg is one side of a bridged session.
type Leg struct {
	// FD is a connected TCP socket in non-blocking mode, with TCP_NODELAY
	// set (Go's net package sets it on every TCP connection). Start takes
	// ownership of it, even when it fails: the bridge closes it. It should
	// be the socket's only descriptor by then (close the others first): the
	// bridge does not remove it from its epoll set, closing does.
	FD int
	// TLS is the finished TLS connection when this leg is TLS; its transport
	// is Transport. The bridge switches the transport to FD with
	// Transport.UseFD(FD). After Start, nothing else may use TLS or
	// Transport, and neither may be closed: the bridge closes FD itself.
	TLS       *tls.Conn
	Transport Transport
	// Prelude is plaintext delivered to this leg before anything read from
	// the other leg (pipelined client commands for the backend; the
	// backend's bytes after its auth verdict for the client). The bridge
	// keeps the slice until it is written; the caller must not modify it.
	Prelude []byte
}

// Info identifies a session for logs and the admin API.
type Info struct {
	ID          uint64
	Account     string
	Protocol    string
	Listener    string
	Destination string
	Client      string
	Bridge      string // how it is bridged: "splice" or "copy"
}

// Stats is what a session did, reported once when it ends.
type Stats struct {
	ClientToBackend int64 // bytes delivered to the backend, preludes included
	BackendToClient int64 // bytes delivered to the client (plaintext for a TLS leg)
	// Reason is why the session ended: ReasonClientClosed,
	// ReasonBackendClosed, ReasonIdle, ReasonShutdown, the reason given to
	// Session.Close (ReasonKicked for the admin API), or "error: " followed
	// by the leg, the operation and the error.
	Reason   string
	Duration time.Duration
}

// Reasons reported in Stats.Reason.
const (
	ReasonClientClosed  = "client closed"  // the client finished first, then the backend
	ReasonBackendClosed = "backend closed" // the backend finished first, then the client
	ReasonIdle          = "idle timeout"
	ReasonKicked        = "kicked"
	ReasonShutdown      = "shutdown"
)

// Config tunes a bridge. Zero values take the defaults.
type Config struct {
	// Loops is the number of epoll loops (default max(1, GOMAXPROCS/2)).
	Loops int
	// IdleTimeout ends a session when no byte moved either way for this
	// long (default 30 minutes, server.bridge_idle's; negative: never). It
	// is checked by a sweep about once a second.
	IdleTimeout time.Duration
	// PipeSize is the capacity asked of each pipe with F_SETPIPE_SZ
	// (default 1 MiB, capped at fs.pipe-max-size).
	PipeSize int
	// MaxPipes caps the pipes the bridge holds at once, like HAProxy's
	// maxpipes. A direction that finds none free copies through a buffer of
	// CopyBufferSize instead. 0 picks a default that fits under
	// fs.pipe-user-pages-soft (or limits.MaxPipes, 1024, when that limit
	// does not apply);
	// a negative value disables splice(2) altogether.
	MaxPipes int
	// CopyBufferSize is the size of the pooled buffer a direction borrows
	// while it copies through user space (default 16 KiB; TLS directions use
	// at least 16 KiB). A buffer is held only while bytes are in flight.
	CopyBufferSize int
	// Portable selects the goroutine-pair bridge even on Linux.
	Portable bool
	// FDs, when set, is the process's descriptor budget: every pipe asks
	// it for its two descriptors, and a refusal means copying through a
	// buffer instead, as past MaxPipes.
	FDs *fdbudget.Budget
}

// Bridge runs bridged sessions.
type Bridge interface {
	// Start bridges client and backend until both directions are done, an
	// error or reset occurs, the idle timeout passes, or the session is
	// closed. It takes ownership of both FDs even when it fails. onEnd (may
	// be nil) is called exactly once when the session ends, from the bridge's
	// own goroutine: it must not block.
	Start(client, backend Leg, info Info, onEnd func(Info, Stats)) (*Session, error)
	// Sessions lists the live sessions (for the admin API).
	Sessions() []*Session
	// Shutdown stops accepting sessions, waits for the live ones to end
	// until ctx is done, then closes them with ReasonShutdown, and frees
	// the bridge's resources. It returns ctx.Err() if it had to close
	// sessions.
	Shutdown(ctx context.Context) error
}

// sweepEvery is the period of the idle-timeout sweep (a variable for tests).
var sweepEvery = limits.BridgeSweepInterval

// ErrClosed is returned by Start after Shutdown.
var ErrClosed = errors.New("splice: bridge shut down")

// New returns the epoll bridge on Linux, the portable one elsewhere or when
// cfg.Portable is set.
func New(cfg Config) (Bridge, error) {
	cfg = cfg.withDefaults()
	if cfg.Portable {
		return newPortable(cfg), nil
	}
	return newPlatform(cfg)
}

func (c Config) withDefaults() Config {
	if c.Loops <= 0 {
		c.Loops = max(1, runtime.GOMAXPROCS(0)/2)
	}
	switch {
	case c.IdleTimeout == 0:
		c.IdleTimeout = limits.BridgeIdle
	case c.IdleTimeout < 0:
		c.IdleTimeout = 0 // never
	}
	if c.PipeSize <= 0 {
		c.PipeSize = limits.PipeSize
	}
	if c.CopyBufferSize <= 0 {
		c.CopyBufferSize = limits.CopyBufferSize
	}
	return c
}

// Session is a live or finished bridged session. Its methods are safe from
// any goroutine.
type Session struct {
	info    Info
	c2b     atomic.Int64
	b2c     atomic.Int64
	started time.Time
	closer  interface{ close(reason string) }
}

// Info returns what identifies the session.
func (s *Session) Info() Info { return s.info }

// Bytes returns the bytes delivered so far to the backend and to the client.
func (s *Session) Bytes() (c2b, b2c int64) { return s.c2b.Load(), s.b2c.Load() }

// Started returns when Start was called.
func (s *Session) Started() time.Time { return s.started }

// Close ends the session with reason (ReasonKicked for the admin API's
// kick). It returns at once; onEnd reports the reason unless the session had
// already ended. Closing twice keeps the first reason.
func (s *Session) Close(reason string) {
	if reason == "" {
		reason = ReasonKicked
	}
	s.closer.close(reason)
}

// registry is the set of live sessions and the shutdown state shared by both
// bridges.
type registry struct {
	mu      sync.Mutex
	live    map[*Session]struct{}
	closed  bool
	drained chan struct{} // closed when closed && len(live)==0
}

func newRegistry() registry {
	return registry{live: make(map[*Session]struct{}), drained: make(chan struct{})}
}

// add registers s unless the bridge is shut down.
func (r *registry) add(s *Session) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.live[s] = struct{}{}
	return true
}

func (r *registry) remove(s *Session) {
	r.mu.Lock()
	delete(r.live, s)
	if r.closed && len(r.live) == 0 {
		select {
		case <-r.drained:
		default:
			close(r.drained)
		}
	}
	r.mu.Unlock()
}

func (r *registry) list() []*Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Session, 0, len(r.live))
	for s := range r.live {
		out = append(out, s)
	}
	return out
}

// shutdown marks the registry closed, waits for it to drain until ctx is
// done, then closes what remains and waits for that.
func (r *registry) shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	if len(r.live) == 0 {
		select {
		case <-r.drained:
		default:
			close(r.drained)
		}
	}
	r.mu.Unlock()
	select {
	case <-r.drained:
		return nil
	case <-ctx.Done():
	}
	for _, s := range r.list() {
		s.Close(ReasonShutdown)
	}
	<-r.drained
	return ctx.Err()
}

// legError names the leg and operation that failed.
func legError(client bool, op string, err error) string {
	leg := "backend"
	if client {
		leg = "client"
	}
	return "error: " + leg + " " + op + ": " + err.Error()
}

// isWouldBlock reports whether err is a transport's "no data now / cannot
// write now" error.
func isWouldBlock(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// bufPool lends copy buffers of one size.
type bufPool struct {
	size int
	p    sync.Pool
}

func newBufPool(size int) *bufPool {
	bp := &bufPool{size: size}
	bp.p.New = func() any { b := make([]byte, size); return &b }
	return bp
}

func (bp *bufPool) get() *[]byte  { return bp.p.Get().(*[]byte) }
func (bp *bufPool) put(b *[]byte) { bp.p.Put(b) }

// ZeroCopy reports whether b moves plaintext legs with splice(2) (the
// epoll engine) rather than by copying (the portable bridge).
func ZeroCopy(b Bridge) bool {
	_, portable := b.(*ptBridge)
	return !portable
}
