package backend

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/tlsconn"
	"github.com/switchyard-mail/switchyard/internal/fdbudget"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
)

// A login's backend side runs on one short-lived goroutine with blocking
// I/O and an absolute deadline: dial, announce the client (PROXY header;
// IMAP ID and XCLIENT are the replay machine's), TLS, the replay machine
// (protocols.BackEnd), until the verdict. The engine starts the goroutine,
// holds the backend descriptor's budget for it, and posts the Verdict to
// the client's loop; this package knows no loop.

// Runner runs logins' backend sides. It is set up once per engine.
type Runner struct {
	Dialer   *Dialer
	Observer options.Observer // Dial, BackendAuth
	FDs      *fdbudget.Budget // one Backend descriptor per login, held by the caller
	Health   options.Health   // optional
	// InputCap bounds the backend's bytes buffered before its verdict.
	InputCap int
}

// Job is what the goroutine works with: nothing of the loop's.
type Job struct {
	Dest     *options.Destination
	DP       options.DestProtocol
	Fwd      forward.Info
	Back     protocols.BackEnd
	Proto    string
	Deadline time.Time
}

// Verdict is what the goroutine hands to the loop. On OK, Conn (and TLS,
// when the leg uses it) is the backend socket, whose owner the receiver
// now is, with the Backend descriptor it holds; otherwise Conn is nil and
// the descriptor was given back.
type Verdict struct {
	OK      bool
	Kind    protocols.FailKind
	Relay   []byte // the backend's rewritten refusal (FailRejected)
	Err     error
	Conn    net.Conn
	TR      *tlsconn.Conn
	TC      *tls.Conn
	Prelude []byte // the verdict for the client, and what the backend sent after it
}

// Login is one login's backend side, as its session sees it: the session
// may abandon it at any time from its loop.
type Login struct {
	abandoned atomic.Bool // the session gave up: the goroutine closes, posts nothing
	mu        sync.Mutex
	netc      net.Conn // set once dialed, for Abandon to unblock the goroutine
}

// Abandon gives the login up (the client went away, a timeout, a
// shutdown): the goroutine stops at once.
func (l *Login) Abandon() {
	l.abandoned.Store(true)
	l.mu.Lock()
	if l.netc != nil {
		_ = l.netc.Close() // unblocks the goroutine's read or write
	}
	l.mu.Unlock()
}

// Abandoned reports whether Abandon was called.
func (l *Login) Abandoned() bool { return l.abandoned.Load() }

var bufs = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// Run is the goroutine: dial, announce, TLS, replay, verdict.
func (rn *Runner) Run(r *Login, j Job) (res Verdict) {
	fail := func(kind protocols.FailKind, err error) Verdict {
		if res.Conn != nil {
			_ = res.Conn.Close()
			rn.FDs.Release(fdbudget.Backend, 1)
		}
		if kind == protocols.FailUnavailable {
			ReportFailure(rn.Health, j.Dest, j.Proto, j.Fwd.Client)
		}
		return Verdict{Kind: kind, Err: err}
	}
	ctx, cancel := context.WithDeadline(context.Background(), j.Deadline)
	defer cancel()
	t0 := time.Now()
	conn, err := rn.Dialer.Dial(ctx, j.Dest, j.DP.Port)
	rn.Observer.Dial(j.Dest.ID, time.Since(t0), err)
	if err != nil {
		// A refused or timed-out connect is the host's doing, whoever
		// the client: counted for every client alike.
		rn.FDs.Release(fdbudget.Backend, 1)
		ReportFailure(rn.Health, j.Dest, j.Proto, netip.AddrPort{})
		return Verdict{Kind: protocols.FailUnavailable, Err: err}
	}
	res.Conn = conn
	r.mu.Lock()
	r.netc = conn
	r.mu.Unlock()
	if r.abandoned.Load() {
		return fail(protocols.FailTempRouting, errors.New("abandoned"))
	}
	_ = conn.SetDeadline(j.Deadline)
	if j.DP.Forwarding == options.ForwardProxy {
		hdr, err := forward.ProxyV2Header(j.Fwd)
		if err == nil {
			_, err = conn.Write(hdr)
		}
		if err != nil {
			return fail(protocols.FailUnavailable, err)
		}
	}
	opened := time.Now()
	var rw interface {
		Read([]byte) (int, error)
		Write([]byte) (int, error)
	} = conn
	startTLS := func() error {
		res.TR = tlsconn.NewStream(conn)
		cfg := j.Dest.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{ServerName: j.Dest.Host}
		}
		res.TC = tls.Client(res.TR, cfg)
		rw = res.TC
		return res.TC.HandshakeContext(ctx)
	}
	if j.DP.TLS == options.TLSImplicit {
		if err := startTLS(); err != nil {
			return fail(protocols.FailUnavailable, err)
		}
	}
	// One pooled buffer holds the reads, the backend's unread input and
	// the replay's output (each capped, so an append past its part moves
	// to a buffer of its own): nothing of it outlives Run (the verdict and
	// the prelude are copies).
	bp := bufs.Get().(*[]byte)
	defer bufs.Put(bp)
	b := *bp
	buf, in, out := b[:2048:2048], b[2048:2048:3072], b[3072:3072:4096]
	for {
		n, err := rw.Read(buf)
		in = append(in, buf[:n]...)
		for len(in) > 0 {
			k, o, ev := j.Back.Feed(in, out[:0])
			out = o
			in = in[k:]
			if len(out) > 0 {
				if _, err := rw.Write(out); err != nil {
					return fail(protocols.FailUnavailable, err)
				}
			}
			switch ev {
			case protocols.BackendNone:
				if k == 0 {
					goto read
				}
			case protocols.BackendStartTLS:
				if len(in) > 0 {
					return fail(protocols.FailUnavailable, errors.New("backend sent bytes after its STARTTLS go-ahead"))
				}
				if err := startTLS(); err != nil {
					return fail(protocols.FailUnavailable, err)
				}
				if o := j.Back.TLSStarted(out[:0]); len(o) > 0 {
					if _, err := rw.Write(o); err != nil {
						return fail(protocols.FailUnavailable, err)
					}
				}
			case protocols.BackendAuthOK:
				rn.Observer.BackendAuth(j.Proto, j.Dest.ID, time.Since(opened))
				ReportSuccess(rn.Health, j.Dest, j.Proto)
				_ = conn.SetDeadline(time.Time{})
				res.OK = true
				res.Prelude = append(append([]byte(nil), j.Back.Relay()...), in...)
				return res
			case protocols.BackendAuthFailed:
				ReportSuccess(rn.Health, j.Dest, j.Proto) // it answered: it is up
				relay := append([]byte(nil), j.Back.Relay()...)
				res := fail(protocols.FailRejected, nil)
				res.Relay = relay
				return res
			case protocols.BackendFailed:
				err := j.Back.Err()
				if err == nil {
					err = errors.New("backend protocol error")
				}
				return fail(protocols.FailUnavailable, err)
			}
		}
	read:
		if err != nil {
			if r.abandoned.Load() {
				return fail(protocols.FailTempRouting, errors.New("abandoned"))
			}
			return fail(protocols.FailUnavailable, err)
		}
		if len(in) > rn.InputCap {
			return fail(protocols.FailUnavailable, errors.New("backend sent too much before its verdict"))
		}
	}
}

// ReportSuccess tells the breaker d answered for proto.
func ReportSuccess(h options.Health, d *options.Destination, proto string) {
	if h != nil && d != nil {
		h.Success(d.ID, proto)
	}
}

// ReportFailure reports a failure of d for proto, seen while serving
// client; a breaker that counts distinct clients
// (server.host_down_min_clients) gets the client's address. A failure
// that is no client's doing (a refused connect) passes no client.
func ReportFailure(h options.Health, d *options.Destination, proto string, client netip.AddrPort) {
	if h == nil || d == nil {
		return
	}
	if hf, ok := h.(options.HealthFrom); ok && client.IsValid() {
		hf.FailureFrom(d.ID, proto, client.Addr().String())
		return
	}
	h.Failure(d.ID, proto)
}
