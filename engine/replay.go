package engine

import (
	"crypto/tls"
	"errors"
	"net"
	"time"

	"github.com/switchyard-mail/switchyard/engine/backend"
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/session"
	"github.com/switchyard-mail/switchyard/engine/sock"
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
// verdict (engine/backend: Runner.Run). The verdict is posted to the client's loop, where the session,
// if it still wants it, hands both sockets to the bridge at once; if it
// gave up meanwhile, the socket is closed. The leg never outlives its
// session, and its socket has one owner at a time: the goroutine until it
// posts, then the loop task.
type replay struct {
	c     *conn
	owner session.ReplayOwner
	adm   session.Admission

	done  bool          // loop: the verdict was delivered
	login backend.Login // the goroutine's side: abandoned, the socket to close
}

func (e *Engine) startReplay(c *conn, owner session.ReplayOwner, login *protocols.Login, adm session.Admission) *replay {
	r := &replay{c: c, owner: owner, adm: adm}
	var fwd *forward.Info
	if adm.DP.Forwarding == options.ForwardXClient {
		f := c.Forward()
		fwd = &f
	}
	back := c.ls.driver.NewBackEnd(login, adm.Dest, adm.DP.TLS == options.TLSStartTLS, fwd)
	job := backend.Job{
		Dest:     adm.Dest,
		DP:       adm.DP,
		Fwd:      c.Forward(),
		Back:     back,
		Proto:    c.ls.Protocol,
		Deadline: time.Now().Add(e.opt.BackendTimeout),
	}
	if !e.fds.TryAcquire(fdbudget.Backend, 1) {
		e.refusal("fd_budget")
		r.deliver(backend.Verdict{Kind: protocols.FailUnavailable, Err: errFDBudget})
		return r
	}
	if !e.goBounded(func() { r.deliver(e.backend.Run(&r.login, job)) }) {
		e.fds.Release(fdbudget.Backend, 1)
		e.refusal("dial_budget")
		r.deliver(backend.Verdict{Kind: protocols.FailUnavailable, Err: errDialBudget})
	}
	return r
}

// Abandon gives the replay up (the client went away, a timeout, a
// shutdown): the goroutine stops at once and nothing is delivered.
func (r *replay) Abandon() { r.login.Abandon() }

// Dest is where the login goes.
func (r *replay) Dest() *options.Destination { return r.adm.Dest }

// deliver posts res to the client's loop; from any goroutine.
func (r *replay) deliver(res backend.Verdict) {
	if r.login.Abandoned() || !r.c.loop.Post(func() { r.finish(res) }) {
		r.c.e.closeReplay(res)
	}
}

// closeReplay closes a result's socket that nobody took.
func (e *Engine) closeReplay(res backend.Verdict) {
	if res.Conn != nil {
		_ = res.Conn.Close()
		e.fds.Release(fdbudget.Backend, 1)
	}
}

// finish runs on the loop with the goroutine's result.
func (r *replay) finish(res backend.Verdict) {
	c, e := r.c, r.c.e
	if r.done || r.login.Abandoned() || c.phase != phOpen || c.closing {
		e.closeReplay(res)
		return
	}
	r.done = true
	if !res.OK {
		e.closeReplay(res)
		reason := "refused by the backend"
		if res.Err != nil {
			reason = res.Err.Error()
			e.log.Warn("backend failed during login", "destination", r.adm.Dest.ID, "account", r.owner.Account(), "err", res.Err)
		} else {
			e.log.Info("login refused by backend", "account", r.owner.Account(), "destination", r.adm.Dest.ID, "client", c.client)
		}
		r.owner.ReplayFailed(res.Kind, res.Relay, reason)
		return
	}
	e.Stats.Logins.Add(1)
	e.opt.Observer.Auth(c.ls.Protocol, session.OutcomeSuccess)
	back, err := e.takeReplayed(res)
	if err != nil {
		e.refusal("handoff_backend")
		e.log.Warn("hand-off to the bridge failed", "session", c.id, "account", r.owner.Account(), "err", err)
		c.Close()
		r.owner.Bridged()
		return
	}
	back.dest = r.adm.Dest.ID
	e.bridge(c, back, res.Prelude, r.owner.Account())
	r.owner.Bridged()
}

// takeReplayed duplicates the replayed socket for the bridge and closes
// the goroutine's copy.
func (e *Engine) takeReplayed(res backend.Verdict) (backendSide, error) {
	defer e.closeReplay(res)
	rc, err := res.Conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		return backendSide{}, err
	}
	if !e.fds.TryAcquire(fdbudget.Bridge, 1) {
		return backendSide{}, errFDBudget
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = sock.DupCloexec(int(s)) }); err != nil || derr != nil {
		e.fds.Release(fdbudget.Bridge, 1)
		return backendSide{}, errors.Join(err, derr)
	}
	return backendSide{fd: fd, tc: res.TC, tr: res.TR}, nil
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
