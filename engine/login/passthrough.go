package login

import (
	"time"

	"github.com/switchyard-mail/switchyard/engine/session"
	"github.com/switchyard-mail/switchyard/engine/sessions"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/router"
)

// Pass bridges a connection to its listener's fixed destination with
// no dialogue at the proxy (SMTP/LMTP pass-through): the leg is dialed at
// once, the back end machine announces the client (XCLIENT) and takes the
// backend's greeting, which reaches the client as the bridge's first bytes.
// The front end only supplies the replies for failures.
type Pass struct {
	c       session.Conn
	front   protocols.FrontEnd
	replay  session.Replay
	started time.Time
	done    bool
}

// NewPass starts a pass-through session on c; front supplies the replies
// for failures.
func NewPass(c session.Conn, front protocols.FrontEnd) *Pass {
	return &Pass{c: c, front: front}
}

func (s *Pass) Account() string { return "" }

func (s *Pass) Describe() (state, account, destination string) {
	return sessions.StateLogin, "", s.c.Listener().Passthrough
}

func (s *Pass) Begin() {
	c := s.c
	s.started = time.Now()
	c.SetTimeout(c.Options().BackendTimeout)
	adm := c.Admit(session.AdmitRequest{Proto: c.Listener().Protocol, Fixed: c.Listener().Passthrough}, router.Result{Destination: c.Listener().Passthrough}, nil)
	if !adm.OK {
		s.fail(adm.Reason)
		return
	}
	s.replay = c.StartReplay(s, s.front.Login(), adm)
}

// Client bytes before the hand-off wait for the backend (bounded by the
// input cap); they reach it first once bridged.
func (s *Pass) Input()  {}
func (s *Pass) TLSUp()  {}
func (s *Pass) Resume() {}

func (s *Pass) ReplayFailed(_ protocols.FailKind, _ []byte, reason string) {
	s.replay = nil
	s.fail(reason)
}

func (s *Pass) fail(reason string) {
	c := s.c
	c.Log().Warn("pass-through destination unavailable", "destination", c.Listener().Passthrough, "client", c.Client(), "reason", reason)
	out, _ := s.front.LoginFailed(protocols.FailUnavailable, nil, c.Out())
	c.Write(out)
	s.done = true
	c.Close()
}

func (s *Pass) Bridged() {
	s.done = true
	s.replay = nil
}

func (s *Pass) Expired(time.Time) {
	if s.replay != nil {
		s.c.HealthFailure(s.replay.Dest(), s.c.Client())
		s.replay.Abandon()
		s.replay = nil
	}
	s.c.Refusal("backend_timeout")
	s.fail("backend timeout")
}

func (s *Pass) Stop(bool) {
	if s.replay != nil {
		s.replay.Abandon()
		s.replay = nil
	}
	c := s.c
	out, _ := s.front.LoginFailed(protocols.FailUnavailable, nil, c.Out())
	c.Write(s.front.ShuttingDown(out))
	c.Close()
}

func (s *Pass) Gone() {
	if s.replay != nil {
		s.replay.Abandon()
		s.replay = nil
	}
}
