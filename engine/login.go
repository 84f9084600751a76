package engine

import (
	"time"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/sessions"
	"github.com/switchyard-mail/switchyard/identity"
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/router"
)

// loginSession is a connection that logs in and is then bridged (IMAP,
// POP3, ManageSieve, submission): the front end's pre-auth dialogue, the
// admission gate for the login's account, the replay at the backend, and
// the hand-off to the bridge at the verdict.
type loginSession struct {
	c     *conn
	front protocols.FrontEnd
	st    loginState

	login    *protocols.Login
	acct     string
	attempt  uint32
	hold     *loginHold // while the account is delayed
	started  int64      // unix nanoseconds: when the current login began (audit)
	replay   *replay
	lastDest *options.Destination // where the current login was sent
	blocking bool                 // paused: the client's output is behind
}

// loginHold is a login waiting for its account's delay to end.
type loginHold struct {
	end time.Time // when the delay ends
	max time.Time // when the client gets a temporary failure instead
}

// feedChunk bounds the input of one front end call.
const feedChunk = limits.FeedChunk

type loginState uint8

const (
	lsPreauth   loginState = iota // the front end's dialogue
	lsStartTLS                    // an upgrade is running
	lsRouting                     // waiting for the router
	lsHeld                        // the account is delayed
	lsReplaying                   // dialing and replaying at the backend
	lsDone                        // bridged or closing
)

func newLoginSession(c *conn) *loginSession {
	return &loginSession{c: c, front: c.ls.driver.NewFrontEnd(c.ls.Listener, c.ls.TLS == options.TLSImplicit)}
}

func (s *loginSession) account() string { return s.acct }

// since is when the current login began (zero: none did).
func (s *loginSession) since() time.Time {
	if s.started == 0 {
		return time.Time{}
	}
	return time.Unix(0, s.started)
}

func (s *loginSession) begin() {
	s.st = lsPreauth
	s.c.setDeadline(s.c.ls.PreauthTimeout)
	s.c.write(s.front.Greeting(s.c.loop.out[:0]))
}

func (s *loginSession) tlsUp() {
	s.st = lsPreauth
	s.c.write(s.front.TLSStarted(s.c.loop.out[:0]))
	s.input()
}

// input feeds the front end while it holds the dialogue. During a login
// the bytes wait (pipelined commands for the backend, bounded by the input
// cap). While the client's output is behind (it does not read), nothing is
// fed: each command could add more output.
func (s *loginSession) input() {
	c := s.c
	if s.st != lsPreauth || !c.live() {
		return
	}
	if c.behind() {
		s.block()
		return
	}
	out := c.loop.out[:0]
	for s.st == lsPreauth && len(c.in) > 0 && c.live() {
		// At most feedChunk bytes at a time, so one call's output stays
		// small whatever the machine answers to pipelined commands; a
		// command longer than that is fed whole.
		feed := c.in
		if len(feed) > feedChunk {
			feed = feed[:feedChunk]
		}
		n, o, ev := s.front.Feed(feed, out)
		if n == 0 && ev == protocols.EventNone && len(feed) < len(c.in) {
			n, o, ev = s.front.Feed(c.in, out)
		}
		out = o
		c.in = c.in[n:]
		switch ev {
		case protocols.EventNone:
			if n == 0 {
				c.write(out)
				return
			}
			if len(out) > c.e.lim.OutputSoftCap/4 {
				c.write(out)
				out = c.loop.out[:0]
				if c.behind() {
					s.block()
					return
				}
			}
		case protocols.EventStartTLS:
			c.write(out)
			s.st = lsStartTLS
			c.startTLS()
			return
		case protocols.EventClose:
			c.write(out)
			s.st = lsDone
			c.close()
			return
		case protocols.EventLogin:
			c.write(out)
			s.startLogin()
			return
		}
	}
	c.write(out)
}

// block pauses reading the client until its output drains.
func (s *loginSession) block() {
	if !s.blocking {
		s.blocking = true
		s.c.pause()
		s.c.loop.addPaused(s)
	}
}

// resume runs from the loop's tick while the session is paused.
func (s *loginSession) resume() {
	c := s.c
	if !c.live() || c.drained() {
		s.blocking = false
		c.loop.dropPaused(s)
		c.unpause()
		s.input()
	}
}

// startLogin takes the front end's credentials through the admission gate.
func (s *loginSession) startLogin() {
	c, e := s.c, s.c.e
	login := s.front.Login()
	id, err := identity.Identify(login.Creds, identity.Options{Claim: e.opt.IdentifierClaim, MasterSeparators: e.opt.MasterSeparators})
	if err != nil {
		e.log.Info("login refused: no usable identifier", "client", c.client, "mechanism", login.Creds.Mechanism)
		s.failed(admission{}.refuse(protocols.FailRejected, outcomeBadInput, "no usable identifier"), nil)
		return
	}
	if v := e.opt.VerifyToken; v != nil {
		account, err := v(login.Creds)
		if err != nil {
			e.log.Info("login refused: bearer token does not verify", "client", c.client, "mechanism", login.Creds.Mechanism, "err", err)
			s.failed(admission{}.refuse(protocols.FailRejected, outcomeFailure, "bearer token does not verify"), nil)
			return
		}
		if account != "" {
			id = account
		}
	}
	login.Identifier = id
	s.login = login
	s.lastDest = nil
	s.acct = e.opt.Router.Normalize(id)
	s.attempt++
	s.started = time.Now().UnixNano()
	now := time.Now()
	if until := e.delayedUntil(s.acct, now); !until.IsZero() {
		e.log.Info("login held: the account is delayed", "account", s.acct, "until", until)
		s.st = lsHeld
		s.hold = &loginHold{end: until, max: now.Add(MaxDelayHold)}
		s.c.deadline = minTime(until, s.hold.max, now.Add(sweepInterval))
		return
	}
	s.route()
}

func minTime(ts ...time.Time) time.Time {
	m := ts[0]
	for _, t := range ts[1:] {
		if t.Before(m) {
			m = t
		}
	}
	return m
}

// route resolves the account, inline or off the loop.
func (s *loginSession) route() {
	c := s.c
	s.st = lsRouting
	c.setDeadline(c.e.opt.BackendTimeout)
	attempt := s.attempt
	c.e.resolve(c.loop, s.acct, func(res router.Result, err error, _ bool) {
		if s.attempt != attempt || s.st != lsRouting || !c.live() {
			return
		}
		s.routed(res, err)
	})
}

func (s *loginSession) routed(res router.Result, err error) {
	c := s.c
	adm := c.e.gate(admitRequest{proto: c.ls.Protocol, account: s.acct, creds: true}, res, err)
	if !adm.ok {
		s.failed(adm, nil)
		return
	}
	s.st = lsReplaying
	s.lastDest = adm.dest
	c.setDeadline(c.e.opt.BackendTimeout)
	s.replay = c.e.startReplay(c, s, s.login, adm)
}

func (s *loginSession) describe() (state, account, destination string) {
	switch s.st {
	case lsRouting:
		return sessions.StateRouting, s.acct, ""
	case lsHeld:
		return sessions.StateHeld, s.acct, ""
	case lsReplaying:
		dest := ""
		if s.lastDest != nil {
			dest = s.lastDest.ID
		}
		return sessions.StateLogin, s.acct, dest
	}
	return sessions.StatePreauth, s.acct, "" // the account of its last login, if any
}

// replayFailed is the replay's report of a failed login.
func (s *loginSession) replayFailed(kind protocols.FailKind, relay []byte, reason string) {
	s.replay = nil
	outcome := outcomeFailure
	switch kind {
	case protocols.FailUnavailable:
		outcome = outcomeBackendFailure
	case protocols.FailTempRouting:
		outcome = outcomeTempFail
	}
	s.failed(admission{account: s.acct}.refuse(kind, outcome, reason), relay)
}

func (s *loginSession) bridged() {
	s.st = lsDone
	s.replay = nil
	dest := ""
	if s.lastDest != nil {
		dest = s.lastDest.ID
	}
	s.c.e.audit(s.c, s.acct, dest, "", "bridged", s.since())
}

// failed reports a failed login to the front end and resumes the dialogue
// (pipelined commands included).
func (s *loginSession) failed(adm admission, relay []byte) {
	c, e := s.c, s.c.e
	e.opt.Observer.Auth(c.ls.Protocol, adm.outcome)
	e.Stats.LoginFailures.Add(1)
	if adm.kind != protocols.FailRejected {
		e.Stats.BackendFailures.Add(1)
	}
	dest := ""
	if adm.dest != nil {
		dest = adm.dest.ID
	} else if s.lastDest != nil {
		dest = s.lastDest.ID // the backend that refused it or failed
	}
	s.lastDest = nil
	e.audit(c, s.acct, dest, adm.outcome, adm.reason, s.since())
	if s.replay != nil {
		s.replay.abandon()
		s.replay = nil
	}
	s.login = nil
	s.st = lsPreauth
	c.setDeadline(c.ls.PreauthTimeout)
	out, closeConn := s.front.LoginFailed(adm.kind, relay, c.loop.out[:0])
	c.write(out)
	if closeConn {
		s.st = lsDone
		c.close()
		return
	}
	s.input()
}

func (s *loginSession) expired(now time.Time) {
	c, e := s.c, s.c.e
	switch s.st {
	case lsPreauth, lsStartTLS:
		c.write(s.front.Timeout(c.loop.out[:0]))
		e.refusal("preauth_timeout")
		e.log.Info("pre-auth timeout", "client", c.client, "listener", c.ls.ID)
		c.close()
	case lsHeld:
		if !now.Before(s.hold.end) || e.delayedUntil(s.acct, now).IsZero() {
			s.hold = nil
			s.route() // the delay ended or was lifted
			return
		}
		if !now.Before(s.hold.max) {
			s.hold = nil
			e.refusal("hold_timeout")
			e.log.Info("held login refused for now: the account is still delayed", "account", s.acct)
			s.failed(admission{account: s.acct}.refuse(protocols.FailTempRouting, outcomeTempFail, "account delayed"), nil)
			return
		}
		c.deadline = minTime(s.hold.end, s.hold.max, now.Add(sweepInterval))
	case lsRouting, lsReplaying:
		dest := ""
		if s.replay != nil {
			dest = s.replay.adm.dest.ID
			e.healthFailure(s.replay.adm.dest, c.ls.Protocol, c.client)
		}
		e.refusal("backend_timeout")
		e.log.Warn("backend timeout", "account", s.acct, "destination", dest)
		s.failed(admission{account: s.acct}.refuse(protocols.FailUnavailable, outcomeBackendFailure, "backend timeout"), nil)
	default:
		c.close()
	}
}

// stop says goodbye: a login in flight gets the protocol's temporary
// failure first, as at shutdown.
func (s *loginSession) stop(kick bool) {
	c := s.c
	switch s.st {
	case lsPreauth:
		c.write(s.front.ShuttingDown(c.loop.out[:0]))
	case lsRouting, lsHeld, lsReplaying:
		if s.replay != nil {
			s.replay.abandon()
			s.replay = nil
		}
		out, _ := s.front.LoginFailed(protocols.FailUnavailable, nil, c.loop.out[:0])
		out = s.front.ShuttingDown(out)
		c.write(out)
	}
	s.st = lsDone
	c.close()
}

func (s *loginSession) gone() {
	if s.replay != nil {
		s.replay.abandon()
		s.replay = nil
	}
	if s.blocking {
		s.blocking = false
		s.c.loop.dropPaused(s)
	}
	s.st = lsDone
	s.login = nil
}
