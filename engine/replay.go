package engine

import (
	"errors"
	"time"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
)

// replay drives one backend leg through a login replay (a protocols.BackEnd)
// to its verdict, for a login or a pass-through session. On BackendAuthOK
// it hands both sockets to the bridge at once, inside the leg's callback,
// while its owner still holds both live connections; otherwise the session
// hears why it failed.
type replay struct {
	c     *conn
	owner replayOwner
	leg   *leg
	back  protocols.BackEnd
	login *protocols.Login
	adm   admission
}

// replayOwner is the session behind a replay.
type replayOwner interface {
	// replayFailed: the login did not complete; the leg is gone. relay is
	// the backend's rewritten refusal (FailRejected), else nil.
	replayFailed(kind protocols.FailKind, relay []byte, reason string)
	// bridged: the session now lives in the bridge (or failed to get
	// there: the client is closed either way).
	bridged()
	// account is the normalized account, for logs and the bridge.
	account() string
}

func (e *Engine) startReplay(c *conn, owner replayOwner, login *protocols.Login, adm admission) *replay {
	r := &replay{c: c, owner: owner, login: login, adm: adm}
	r.leg = e.dial(c.loop, r, adm.dest, adm.dp, c.fwd)
	return r
}

// abandon drops the leg (the client went away, a timeout, a shutdown).
func (r *replay) abandon() {
	if r.leg != nil {
		r.leg.drop()
		r.leg = nil
	}
}

func (r *replay) legUp(l *leg) {
	if l != r.leg {
		return
	}
	var fwd *forward.Info
	if l.dp.Forwarding == ForwardXClient {
		f := r.c.fwd
		fwd = &f
	}
	r.back = r.c.ls.driver.NewBackEnd(r.login, l.dest, l.dp.TLS == TLSStartTLS, fwd)
	if len(l.in) > 0 {
		r.legData(l)
	}
}

func (r *replay) legTLSUp(l *leg) {
	if l != r.leg {
		return
	}
	l.write(r.back.TLSStarted(r.c.loop.out[:0]))
	if len(l.in) > 0 && l.st == legOpen {
		r.legData(l)
	}
}

func (r *replay) legDown(l *leg, err error) {
	if l != r.leg {
		return
	}
	r.leg = nil
	e := r.c.e
	e.log.Warn("backend failed during login", "destination", l.dest.ID, "account", r.owner.account(), "err", err)
	e.healthFailure(l.dest, r.c.ls.Protocol)
	r.owner.replayFailed(protocols.FailUnavailable, nil, err.Error())
}

// legData feeds the backend's bytes to the replay machine.
func (r *replay) legData(l *leg) {
	if l != r.leg || r.back == nil {
		return
	}
	e := r.c.e
	for len(l.in) > 0 && l.st == legOpen {
		n, out, ev := r.back.Feed(l.in, r.c.loop.out[:0])
		l.in = l.in[n:]
		l.write(out)
		if l.st != legOpen {
			return // the write failed: legDown follows
		}
		switch ev {
		case protocols.BackendNone:
			if n == 0 {
				return
			}
		case protocols.BackendStartTLS:
			l.startTLS()
			return
		case protocols.BackendAuthOK:
			e.Stats.Logins.Add(1)
			e.opt.Observer.Auth(r.c.ls.Protocol, outcomeSuccess)
			e.opt.Observer.BackendAuth(r.c.ls.Protocol, l.dest.ID, time.Since(l.openedAt))
			e.healthSuccess(l.dest, r.c.ls.Protocol)
			r.handOff(l)
			return
		case protocols.BackendAuthFailed:
			e.healthSuccess(l.dest, r.c.ls.Protocol) // it answered: it is up
			relay := append([]byte(nil), r.back.Relay()...)
			r.leg = nil
			l.drop()
			r.owner.replayFailed(protocols.FailRejected, relay, "refused by the backend")
			return
		case protocols.BackendFailed:
			err := r.back.Err()
			if err == nil {
				err = errors.New("backend protocol error")
			}
			r.leg = nil
			l.drop()
			e.log.Warn("backend failed during login", "destination", l.dest.ID, "account", r.owner.account(), "err", err)
			e.healthFailure(l.dest, r.c.ls.Protocol)
			r.owner.replayFailed(protocols.FailUnavailable, nil, err.Error())
			return
		}
	}
	l.in = nil
}

// handOff runs at the verdict: the client gets the backend's verdict (and
// what the backend sent after it) as the bridge's first bytes; the client's
// pipelined commands go to the backend first.
func (r *replay) handOff(l *leg) {
	prelude := make([]byte, 0, len(r.back.Relay())+len(l.in))
	prelude = append(prelude, r.back.Relay()...)
	prelude = append(prelude, l.in...)
	l.in = nil
	r.leg = nil
	r.c.e.bridge(r.c, l, prelude, r.owner.account())
	r.owner.bridged()
}
