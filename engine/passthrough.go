package engine

import (
	"time"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/sessions"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/router"
)

// passSession bridges a connection to its listener's fixed destination with
// no dialogue at the proxy (SMTP/LMTP pass-through): the leg is dialed at
// once, the back end machine announces the client (XCLIENT) and takes the
// backend's greeting, which reaches the client as the bridge's first bytes.
// The front end only supplies the replies for failures.
type passSession struct {
	c       *conn
	front   protocols.FrontEnd
	replay  *replay
	started time.Time
	done    bool
}

func newPassSession(c *conn) *passSession {
	return &passSession{c: c, front: c.ls.driver.NewFrontEnd(c.ls.Listener, c.ls.TLS == options.TLSImplicit)}
}

func (s *passSession) account() string { return "" }

func (s *passSession) describe() (state, account, destination string) {
	return sessions.StateLogin, "", s.c.ls.Passthrough
}

func (s *passSession) begin() {
	c, e := s.c, s.c.e
	s.started = time.Now()
	c.setDeadline(e.opt.BackendTimeout)
	adm := e.gate(admitRequest{proto: c.ls.Protocol, fixed: c.ls.Passthrough}, router.Result{Destination: c.ls.Passthrough}, nil)
	if !adm.ok {
		s.fail(adm.reason)
		return
	}
	s.replay = e.startReplay(c, s, s.front.Login(), adm)
}

// Client bytes before the hand-off wait for the backend (bounded by the
// input cap); they reach it first once bridged.
func (s *passSession) input()  {}
func (s *passSession) tlsUp()  {}
func (s *passSession) resume() {}

func (s *passSession) replayFailed(_ protocols.FailKind, _ []byte, reason string) {
	s.replay = nil
	s.fail(reason)
}

func (s *passSession) fail(reason string) {
	c := s.c
	c.e.log.Warn("pass-through destination unavailable", "destination", c.ls.Passthrough, "client", c.client, "reason", reason)
	out, _ := s.front.LoginFailed(protocols.FailUnavailable, nil, c.loop.out[:0])
	c.write(out)
	s.done = true
	c.close()
}

func (s *passSession) bridged() {
	s.done = true
	s.replay = nil
}

func (s *passSession) expired(time.Time) {
	if s.replay != nil {
		s.c.e.healthFailure(s.replay.adm.dest, s.c.ls.Protocol, s.c.client)
		s.replay.abandon()
		s.replay = nil
	}
	s.c.e.refusal("backend_timeout")
	s.fail("backend timeout")
}

func (s *passSession) stop(bool) {
	if s.replay != nil {
		s.replay.abandon()
		s.replay = nil
	}
	c := s.c
	out, _ := s.front.LoginFailed(protocols.FailUnavailable, nil, c.loop.out[:0])
	c.write(s.front.ShuttingDown(out))
	c.close()
}

func (s *passSession) gone() {
	if s.replay != nil {
		s.replay.abandon()
		s.replay = nil
	}
}
