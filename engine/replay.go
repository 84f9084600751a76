package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/engine/tlsconn"
	"github.com/switchyard-mail/switchyard/internal/fdbudget"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/splice"
)

// replay takes a login (or a pass-through session's announcement) to its
// verdict at the backend. The backend leg lives only for the login, so it
// is driven by one short-lived goroutine (at most MaxDials at once) with
// blocking I/O and an absolute deadline, not enrolled in an event loop:
// dial, PROXY header, TLS, the replay machine (protocols.BackEnd), until the
// verdict. The verdict is posted to the client's loop, where the session,
// if it still wants it, hands both sockets to the bridge at once; if it
// gave up meanwhile, the socket is closed. The leg never outlives its
// session, and its socket has one owner at a time: the goroutine until it
// posts, then the loop task.
type replay struct {
	c     *conn
	owner replayOwner
	adm   admission

	done      bool        // loop: the verdict was delivered
	abandoned atomic.Bool // the session gave up: the goroutine closes, posts nothing
	mu        sync.Mutex
	netc      net.Conn // set once dialed, for abandon to unblock the goroutine
}

// replayOwner is the session behind a replay.
type replayOwner interface {
	// replayFailed: the login did not complete; relay is the backend's
	// rewritten refusal (FailRejected), else nil.
	replayFailed(kind protocols.FailKind, relay []byte, reason string)
	// bridged: the session now lives in the bridge (or failed to get
	// there: the client is closed either way).
	bridged()
	// account is the normalized account, for logs and the bridge.
	account() string
}

// replayResult is what the goroutine hands to the loop.
type replayResult struct {
	ok      bool
	kind    protocols.FailKind
	relay   []byte
	err     error
	conn    net.Conn
	tr      *tlsconn.Conn
	tc      *tls.Conn
	prelude []byte // the verdict for the client, and what the backend sent after it
}

var replayBufs = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

func (e *Engine) startReplay(c *conn, owner replayOwner, login *protocols.Login, adm admission) *replay {
	r := &replay{c: c, owner: owner, adm: adm}
	var fwd *forward.Info
	if adm.dp.Forwarding == ForwardXClient {
		f := c.forward()
		fwd = &f
	}
	back := c.ls.driver.NewBackEnd(login, adm.dest, adm.dp.TLS == TLSStartTLS, fwd)
	job := replayJob{
		dest:     adm.dest,
		dp:       adm.dp,
		fwd:      c.forward(),
		back:     back,
		proto:    c.ls.Protocol,
		deadline: time.Now().Add(e.opt.BackendTimeout),
	}
	if !e.fds.TryAcquire(fdbudget.Backend, 1) {
		e.refusal("fd_budget")
		r.deliver(replayResult{kind: protocols.FailUnavailable, err: errFDBudget})
		return r
	}
	if !e.goBounded(func() { r.deliver(e.runReplay(r, job)) }) {
		e.fds.Release(fdbudget.Backend, 1)
		e.refusal("dial_budget")
		r.deliver(replayResult{kind: protocols.FailUnavailable, err: errDialBudget})
	}
	return r
}

// abandon gives the replay up (the client went away, a timeout, a
// shutdown): the goroutine stops at once and nothing is delivered.
func (r *replay) abandon() {
	r.abandoned.Store(true)
	r.mu.Lock()
	if r.netc != nil {
		_ = r.netc.Close() // unblocks the goroutine's read or write
	}
	r.mu.Unlock()
}

// deliver posts res to the client's loop; from any goroutine.
func (r *replay) deliver(res replayResult) {
	if r.abandoned.Load() || !r.c.loop.post(func() { r.finish(res) }) {
		r.c.e.closeReplay(res)
	}
}

// closeReplay closes a result's socket that nobody took.
func (e *Engine) closeReplay(res replayResult) {
	if res.conn != nil {
		_ = res.conn.Close()
		e.fds.Release(fdbudget.Backend, 1)
	}
}

// finish runs on the loop with the goroutine's result.
func (r *replay) finish(res replayResult) {
	c, e := r.c, r.c.e
	if r.done || r.abandoned.Load() || c.phase != phOpen || c.closing {
		e.closeReplay(res)
		return
	}
	r.done = true
	if !res.ok {
		e.closeReplay(res)
		reason := "refused by the backend"
		if res.err != nil {
			reason = res.err.Error()
			e.log.Warn("backend failed during login", "destination", r.adm.dest.ID, "account", r.owner.account(), "err", res.err)
		} else {
			e.log.Info("login refused by backend", "account", r.owner.account(), "destination", r.adm.dest.ID, "client", c.client)
		}
		r.owner.replayFailed(res.kind, res.relay, reason)
		return
	}
	e.Stats.Logins.Add(1)
	e.opt.Observer.Auth(c.ls.Protocol, outcomeSuccess)
	back, err := e.takeReplayed(res)
	if err != nil {
		e.refusal("handoff_backend")
		e.log.Warn("hand-off to the bridge failed", "session", c.id, "account", r.owner.account(), "err", err)
		c.close()
		r.owner.bridged()
		return
	}
	back.dest = r.adm.dest.ID
	e.bridge(c, back, res.prelude, r.owner.account())
	r.owner.bridged()
}

// takeReplayed duplicates the replayed socket for the bridge and closes
// the goroutine's copy.
func (e *Engine) takeReplayed(res replayResult) (backendSide, error) {
	defer e.closeReplay(res)
	rc, err := res.conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		return backendSide{}, err
	}
	if !e.fds.TryAcquire(fdbudget.Bridge, 1) {
		return backendSide{}, errFDBudget
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = dupCloexec(int(s)) }); err != nil || derr != nil {
		e.fds.Release(fdbudget.Bridge, 1)
		return backendSide{}, errors.Join(err, derr)
	}
	return backendSide{fd: fd, tc: res.tc, tr: res.tr}, nil
}

// replayJob is what the goroutine works with: nothing of the loop's.
type replayJob struct {
	dest     *Destination
	dp       DestProtocol
	fwd      forward.Info
	back     protocols.BackEnd
	proto    string
	deadline time.Time
}

// runReplay is the goroutine: dial, announce, TLS, replay, verdict.
func (e *Engine) runReplay(r *replay, j replayJob) (res replayResult) {
	fail := func(kind protocols.FailKind, err error) replayResult {
		if res.conn != nil {
			_ = res.conn.Close()
			e.fds.Release(fdbudget.Backend, 1)
		}
		if kind == protocols.FailUnavailable {
			e.healthFailure(j.dest, j.proto, j.fwd.Client)
		}
		return replayResult{kind: kind, err: err}
	}
	ctx, cancel := context.WithDeadline(context.Background(), j.deadline)
	defer cancel()
	t0 := time.Now()
	conn, err := e.dialBackend(ctx, j.dest, j.dp.Port)
	e.opt.Observer.Dial(j.dest.ID, time.Since(t0), err)
	if err != nil {
		// A refused or timed-out connect is the host's doing, whoever
		// the client: counted for every client alike.
		e.fds.Release(fdbudget.Backend, 1)
		e.healthFailure(j.dest, j.proto, netip.AddrPort{})
		return replayResult{kind: protocols.FailUnavailable, err: err}
	}
	res.conn = conn
	r.mu.Lock()
	r.netc = conn
	r.mu.Unlock()
	if r.abandoned.Load() {
		return fail(protocols.FailTempRouting, errors.New("abandoned"))
	}
	_ = conn.SetDeadline(j.deadline)
	if j.dp.Forwarding == ForwardProxy {
		hdr, err := forward.ProxyV2Header(j.fwd)
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
		res.tr = tlsconn.NewStream(conn)
		cfg := j.dest.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{ServerName: j.dest.Host}
		}
		res.tc = tls.Client(res.tr, cfg)
		rw = res.tc
		return res.tc.HandshakeContext(ctx)
	}
	if j.dp.TLS == TLSImplicit {
		if err := startTLS(); err != nil {
			return fail(protocols.FailUnavailable, err)
		}
	}
	bp := replayBufs.Get().(*[]byte)
	defer replayBufs.Put(bp)
	buf := *bp
	var in, out []byte
	for {
		n, err := rw.Read(buf)
		in = append(in, buf[:n]...)
		for len(in) > 0 {
			k, o, ev := j.back.Feed(in, out[:0])
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
				if o := j.back.TLSStarted(out[:0]); len(o) > 0 {
					if _, err := rw.Write(o); err != nil {
						return fail(protocols.FailUnavailable, err)
					}
				}
			case protocols.BackendAuthOK:
				e.opt.Observer.BackendAuth(j.proto, j.dest.ID, time.Since(opened))
				e.healthSuccess(j.dest, j.proto)
				_ = conn.SetDeadline(time.Time{})
				res.ok = true
				res.prelude = append(append([]byte(nil), j.back.Relay()...), in...)
				return res
			case protocols.BackendAuthFailed:
				e.healthSuccess(j.dest, j.proto) // it answered: it is up
				relay := append([]byte(nil), j.back.Relay()...)
				res := fail(protocols.FailRejected, nil)
				res.relay = relay
				return res
			case protocols.BackendFailed:
				err := j.back.Err()
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
		if len(in) > e.lim.BackendInputCap {
			return fail(protocols.FailUnavailable, errors.New("backend sent too much before its verdict"))
		}
	}
}

// backendSide is the backend socket a session hands to the bridge.
type backendSide struct {
	fd   int
	tc   *tls.Conn
	tr   *tlsconn.Conn
	dest string
}

func (b backendSide) leg(prelude []byte) splice.Leg {
	l := splice.Leg{FD: b.fd, Prelude: prelude}
	if b.tc != nil {
		l.TLS, l.Transport = b.tc, b.tr
	}
	return l
}
