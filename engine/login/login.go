package login

import (
	"time"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/session"
	"github.com/switchyard-mail/switchyard/engine/sessions"
	"github.com/switchyard-mail/switchyard/identity"
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/router"
)

// Session is a connection that logs in and is then bridged (IMAP, POP3,
// ManageSieve, submission): the front end's pre-auth dialogue, the
// admission gate for the login's account, the replay at the backend, and
// the hand-off to the bridge at the verdict.
type Session struct {
	c     session.Conn
	front protocols.FrontEnd

	login    *protocols.Login
	acct     string
	hold     *loginHold // while the account is delayed
	started  int64      // unix nanoseconds: when the current login began (audit)
	replay   session.Replay
	lastDest *options.Destination // where the current login was sent
	// The small fields sit together: a session is 112 bytes, not 128.
	attempt  uint32
	st       loginState
	blocking bool // paused: the client's output is behind
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

// New starts a login session on c with its protocol's front end.
func New(c session.Conn, front protocols.FrontEnd) *Session {
	return &Session{c: c, front: front}
}

func (s *Session) Account() string { return s.acct }

// since is when the current login began (zero: none did).
func (s *Session) since() time.Time {
	if s.started == 0 {
		return time.Time{}
	}
	return time.Unix(0, s.started)
}

func (s *Session) Begin() {
	s.st = lsPreauth
	s.c.SetTimeout(s.c.Listener().PreauthTimeout)
	s.c.Write(s.front.Greeting(s.c.Out()))
}

func (s *Session) TLSUp() {
	s.st = lsPreauth
	s.c.Write(s.front.TLSStarted(s.c.Out()))
	s.Input()
}

// input feeds the front end while it holds the dialogue. During a login
// the bytes wait (pipelined commands for the backend, bounded by the input
// cap). While the client's output is behind (it does not read), nothing is
// fed: each command could add more output.
func (s *Session) Input() {
	c := s.c
	if s.st != lsPreauth || !c.Live() {
		return
	}
	if c.Behind() {
		s.block()
		return
	}
	out := c.Out()
	for s.st == lsPreauth && len(c.Input()) > 0 && c.Live() {
		// At most feedChunk bytes at a time, so one call's output stays
		// small whatever the machine answers to pipelined commands; a
		// command longer than that is fed whole.
		in := c.Input()
		feed := in
		if len(feed) > feedChunk {
			feed = feed[:feedChunk]
		}
		n, o, ev := s.front.Feed(feed, out)
		if n == 0 && ev == protocols.EventNone && len(feed) < len(in) {
			n, o, ev = s.front.Feed(in, out)
		}
		out = o
		c.Consume(n)
		switch ev {
		case protocols.EventNone:
			if n == 0 {
				c.Write(out)
				return
			}
			if len(out) > c.OutputSoftCap()/4 {
				c.Write(out)
				out = c.Out()
				if c.Behind() {
					s.block()
					return
				}
			}
		case protocols.EventStartTLS:
			c.Write(out)
			s.st = lsStartTLS
			c.StartTLS()
			return
		case protocols.EventClose:
			c.Write(out)
			s.st = lsDone
			c.Close()
			return
		case protocols.EventLogin:
			c.Write(out)
			s.startLogin()
			return
		}
	}
	c.Write(out)
}

// block pauses reading the client until its output drains.
func (s *Session) block() {
	if !s.blocking {
		s.blocking = true
		s.c.Pause()
		s.c.AddPaused(s)
	}
}

// resume runs from the loop's tick while the session is paused.
func (s *Session) Resume() {
	c := s.c
	if !c.Live() || c.Drained() {
		s.blocking = false
		c.DropPaused(s)
		c.Unpause()
		s.Input()
	}
}

// startLogin takes the front end's credentials through the admission gate.
func (s *Session) startLogin() {
	c := s.c
	login := s.front.Login()
	id, err := identity.Identify(login.Creds, identity.Options{Claim: c.Options().IdentifierClaim, MasterSeparators: c.Options().MasterSeparators})
	if err != nil {
		c.Log().Info("login refused: no usable identifier", "client", c.Client(), "mechanism", login.Creds.Mechanism)
		s.failed(session.Admission{}.Refuse(protocols.FailRejected, session.OutcomeBadInput, "no usable identifier"), nil)
		return
	}
	if v := c.Options().VerifyToken; v != nil {
		account, err := v(login.Creds)
		if err != nil {
			c.Log().Info("login refused: bearer token does not verify", "client", c.Client(), "mechanism", login.Creds.Mechanism, "err", err)
			s.failed(session.Admission{}.Refuse(protocols.FailRejected, session.OutcomeFailure, "bearer token does not verify"), nil)
			return
		}
		if account != "" {
			id = account
		}
	}
	login.Identifier = id
	s.login = login
	s.lastDest = nil
	s.acct = c.Options().Router.Normalize(id)
	s.attempt++
	s.started = time.Now().UnixNano()
	now := time.Now()
	if until := c.DelayedUntil(s.acct, now); !until.IsZero() {
		c.Log().Info("login held: the account is delayed", "account", s.acct, "until", until)
		s.st = lsHeld
		s.hold = &loginHold{end: until, max: now.Add(limits.MaxDelayHold)}
		s.c.SetDeadline(minTime(until, s.hold.max, now.Add(limits.SweepInterval)))
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
func (s *Session) route() {
	c := s.c
	s.st = lsRouting
	c.SetTimeout(c.Options().BackendTimeout)
	attempt := s.attempt
	c.Resolve(s.acct, func(res router.Result, err error, _ bool) {
		if s.attempt != attempt || s.st != lsRouting || !c.Live() {
			return
		}
		s.routed(res, err)
	})
}

func (s *Session) routed(res router.Result, err error) {
	c := s.c
	adm := c.Admit(session.AdmitRequest{Proto: c.Listener().Protocol, Account: s.acct, Creds: true}, res, err)
	if !adm.OK {
		s.failed(adm, nil)
		return
	}
	s.st = lsReplaying
	s.lastDest = adm.Dest
	c.SetTimeout(c.Options().BackendTimeout)
	s.replay = c.StartReplay(s, s.login, adm)
}

func (s *Session) Describe() (state, account, destination string) {
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
func (s *Session) ReplayFailed(kind protocols.FailKind, relay []byte, reason string) {
	s.replay = nil
	outcome := session.OutcomeFailure
	switch kind {
	case protocols.FailUnavailable:
		outcome = session.OutcomeBackendFailure
	case protocols.FailTempRouting:
		outcome = session.OutcomeTempFail
	}
	s.failed(session.Admission{Account: s.acct}.Refuse(kind, outcome, reason), relay)
}

func (s *Session) Bridged() {
	s.st = lsDone
	s.replay = nil
	dest := ""
	if s.lastDest != nil {
		dest = s.lastDest.ID
	}
	s.c.Audit(s.acct, dest, "", "bridged", s.since())
}

// failed reports a failed login to the front end and resumes the dialogue
// (pipelined commands included).
func (s *Session) failed(adm session.Admission, relay []byte) {
	c := s.c
	c.LoginFailed(adm.Kind, adm.Outcome)
	dest := ""
	if adm.Dest != nil {
		dest = adm.Dest.ID
	} else if s.lastDest != nil {
		dest = s.lastDest.ID // the backend that refused it or failed
	}
	s.lastDest = nil
	c.Audit(s.acct, dest, adm.Outcome, adm.Reason, s.since())
	if s.replay != nil {
		s.replay.Abandon()
		s.replay = nil
	}
	s.login = nil
	s.st = lsPreauth
	c.SetTimeout(c.Listener().PreauthTimeout)
	out, closeConn := s.front.LoginFailed(adm.Kind, relay, c.Out())
	c.Write(out)
	if closeConn {
		s.st = lsDone
		c.Close()
		return
	}
	s.Input()
}

func (s *Session) Expired(now time.Time) {
	c := s.c
	switch s.st {
	case lsPreauth, lsStartTLS:
		c.Write(s.front.Timeout(c.Out()))
		c.Refusal("preauth_timeout")
		c.Log().Info("pre-auth timeout", "client", c.Client(), "listener", c.Listener().ID)
		c.Close()
	case lsHeld:
		if !now.Before(s.hold.end) || c.DelayedUntil(s.acct, now).IsZero() {
			s.hold = nil
			s.route() // the delay ended or was lifted
			return
		}
		if !now.Before(s.hold.max) {
			s.hold = nil
			c.Refusal("hold_timeout")
			c.Log().Info("held login refused for now: the account is still delayed", "account", s.acct)
			s.failed(session.Admission{Account: s.acct}.Refuse(protocols.FailTempRouting, session.OutcomeTempFail, "account delayed"), nil)
			return
		}
		c.SetDeadline(minTime(s.hold.end, s.hold.max, now.Add(limits.SweepInterval)))
	case lsRouting, lsReplaying:
		dest := ""
		if s.replay != nil {
			dest = s.replay.Dest().ID
			c.HealthFailure(s.replay.Dest(), c.Client())
		}
		c.Refusal("backend_timeout")
		c.Log().Warn("backend timeout", "account", s.acct, "destination", dest)
		s.failed(session.Admission{Account: s.acct}.Refuse(protocols.FailUnavailable, session.OutcomeBackendFailure, "backend timeout"), nil)
	default:
		c.Close()
	}
}

// stop says goodbye: a login in flight gets the protocol's temporary
// failure first, as at shutdown.
func (s *Session) Stop(kick bool) {
	c := s.c
	switch s.st {
	case lsPreauth:
		c.Write(s.front.ShuttingDown(c.Out()))
	case lsRouting, lsHeld, lsReplaying:
		if s.replay != nil {
			s.replay.Abandon()
			s.replay = nil
		}
		out, _ := s.front.LoginFailed(protocols.FailUnavailable, nil, c.Out())
		out = s.front.ShuttingDown(out)
		c.Write(out)
	}
	s.st = lsDone
	c.Close()
}

func (s *Session) Gone() {
	if s.replay != nil {
		s.replay.Abandon()
		s.replay = nil
	}
	if s.blocking {
		s.blocking = false
		s.c.DropPaused(s)
	}
	s.st = lsDone
	s.login = nil
}
