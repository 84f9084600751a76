package relay

import (
	"errors"
	"net/netip"
	"time"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/session"
	"github.com/switchyard-mail/switchyard/engine/sessions"
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/router"
)

// Session is a connection the proxy stays in (SMTP on port 25 and
// LMTP routed per recipient, HTTP/1.1 routed per request): the machine
// (protocols.Relay) owns both dialogues, and this file moves bytes between
// it, the client and at most one backend leg at a time, all on the
// client's loop. Every failure of a leg reaches the machine once, as
// BackendDown, from a loop task, so it never runs inside another step.
type Session struct {
	c session.Conn
	m protocols.Relay

	leg         session.Leg
	routing     bool // a recipient lookup is in flight
	downPending bool // a BackendDown without a leg (dial refused) is posted
	awaiting    bool // the machine awaited the backend at the last arming
	blocking    bool // paused: the client's or the leg's output is behind
	done        bool // tunnelled or closed
	counted     bool // in Stats.Relaying
	acct        string
	started     int64 // unix nanoseconds (a time.Time would make the session 96 bytes, not 80)
}

// New starts a relayed session on c driven by the machine m.
func New(c session.Conn, m protocols.Relay) *Session {
	return &Session{c: c, m: m}
}

func (s *Session) Begin() {
	c := s.c
	s.started = time.Now().UnixNano()
	s.counted = true
	c.Relaying(1)
	c.SetTimeout(c.Listener().CommandTimeout)
	c.Write(s.m.Greeting(c.Out()))
}

func (s *Session) TLSUp() {
	c := s.c
	c.SetTimeout(c.Listener().CommandTimeout)
	c.Write(s.m.TLSStarted(c.Out()))
	if s.leg != nil && s.leg.Dead() {
		return // its legDown is on its way and resumes the session
	}
	if s.downPending {
		s.deliverDown()
		return
	}
	s.pump()
}

func (s *Session) Input() { s.pump() }

func (s *Session) Describe() (state, account, destination string) {
	if s.leg != nil {
		return sessions.StateRelaying, s.acct, s.leg.Dest().ID
	}
	return sessions.StateRelaying, s.acct, ""
}

// waiting reports whether the machine must not be fed client bytes now.
func (s *Session) waiting() bool {
	return s.routing || s.downPending || (s.leg != nil && s.leg.Dead())
}

// blocked reports whether a destination is behind: nothing is fed until it
// drains, so memory stays bounded whatever the peers do.
func (s *Session) blocked() bool {
	return s.c.Behind() || (s.leg != nil && s.leg.Behind())
}

// pump feeds buffered client bytes to the machine until it waits.
func (s *Session) pump() {
	c := s.c
	progress, stop := s.feed(nil)
	if stop || !c.Live() || s.done {
		return
	}
	if c.Draining() && !s.waiting() {
		// The transaction that held a shutdown back may be over: the
		// goodbye goes out now rather than at the client's next command.
		o := c.RelayOut()
		closeNow := s.m.ShuttingDown(o)
		if s.step(protocols.RelayNone, o) || closeNow {
			s.finish()
			return
		}
	}
	s.arm(progress, false)
}

// feed gives the machine the client's bytes (l nil) or leg l's until it
// waits, a destination is behind, or a step ends the turn (stop).
func (s *Session) feed(l session.Leg) (progress, stop bool) {
	c := s.c
	for {
		var in []byte
		if l == nil {
			if !c.Live() || s.done || s.waiting() {
				break
			}
			in = c.Input()
		} else {
			if s.leg != l || !l.Open() || !c.Live() {
				break
			}
			in = l.Input()
		}
		if len(in) == 0 {
			break
		}
		if s.blocked() {
			s.block()
			break
		}
		o := c.RelayOut()
		var n int
		var ev protocols.RelayEvent
		if l == nil {
			n, ev = s.m.FeedClient(in, o)
			c.Consume(n)
		} else {
			n, ev = s.m.FeedBackend(in, o)
			l.Consume(n)
		}
		progress = progress || n > 0
		if s.step(ev, o) {
			return progress, true
		}
		if n == 0 && ev == protocols.RelayNone {
			break
		}
	}
	return progress, false
}

// arm sets the connection's deadline. While the machine awaits the
// backend: the reply timeout, restarted by backend progress. Otherwise the
// client's command timeout, restarted only when a command (or a request
// head) was consumed or the backend has just answered, never by the bytes
// of an unfinished command: a client sending one byte a second is cut at
// the timeout (slowloris).
func (s *Session) arm(clientProgress, backendProgress bool) {
	c := s.c
	awaiting := s.m.AwaitingBackend()
	switch {
	case awaiting && (backendProgress || !s.awaiting):
		c.SetTimeout(c.Listener().ReplyTimeout)
	case !awaiting && (clientProgress || s.awaiting):
		c.SetTimeout(c.Listener().CommandTimeout)
	}
	s.awaiting = awaiting
}

// step writes what a machine call produced and carries out its event. It
// reports whether the session is over for this loop (closed or tunnelled).
func (s *Session) step(ev protocols.RelayEvent, o *protocols.RelayOut) bool {
	c := s.c
	if ev == protocols.RelayTunnel {
		s.tunnel(o)
		return true
	}
	c.Write(o.Client)
	if !c.Live() {
		return true
	}
	if len(o.Backend) > 0 && s.leg != nil {
		s.leg.Write(o.Backend)
	}
	switch ev {
	case protocols.RelayStartTLS:
		c.StartTLS() // the session goes on in tlsUp
		return true
	case protocols.RelayRoute:
		s.route()
	case protocols.RelayConnect:
		s.dropLeg()
		s.connect()
	case protocols.RelayBackendStartTLS:
		if l := s.leg; l != nil && l.Open() {
			l.StartTLS()
		}
	case protocols.RelayDisconnect:
		s.dropLeg()
	case protocols.RelayClose:
		s.finish()
		return true
	}
	return !c.Live() || s.done
}

// finish ends the session: the leg is given up (kept for reuse when it
// may be) and the client closed.
func (s *Session) finish() {
	s.dropLeg()
	s.c.Close()
}

// route resolves the machine's recipient through the admission gate.
func (s *Session) route() {
	c := s.c
	rcpt := s.m.Recipient()
	s.acct = c.Options().Router.Normalize(rcpt)
	if !c.DelayedUntil(s.acct, time.Now()).IsZero() {
		c.Log().Info("recipient deferred: the account is delayed", "recipient", rcpt)
		s.routed(rcpt, router.Result{}, errHeld)
		return
	}
	s.routing = true
	acct := s.acct
	c.Resolve(acct, func(res router.Result, err error, inline bool) {
		if !s.routing || !c.Live() || s.done {
			return
		}
		s.routing = false
		s.routed(rcpt, res, err)
		if !inline && c.Live() && !s.done {
			s.pump()
		}
	})
}

var errHeld = errors.New("account delayed")

func (s *Session) routed(rcpt string, res router.Result, err error) {
	c := s.c
	var outcome protocols.RouteOutcome
	if errors.Is(err, errHeld) {
		outcome = protocols.RouteTempFail
	} else {
		adm := c.Admit(session.AdmitRequest{Proto: c.Listener().Protocol, Account: s.acct}, res, err)
		switch {
		case adm.OK:
			outcome = protocols.RouteOK
		case adm.Kind == protocols.FailRejected:
			outcome = protocols.RouteUnknown
		default:
			c.Log().Info("recipient deferred", "recipient", rcpt, "reason", adm.Reason)
			outcome = protocols.RouteTempFail
		}
	}
	o := c.RelayOut()
	s.step(s.m.Routed(res.Destination, outcome, o), o)
}

// connect opens (or takes from the pool) a leg to the machine's
// destination. A failure reaches the machine as BackendDown.
func (s *Session) connect() {
	c := s.c
	id := s.m.Destination()
	dest := c.Destination(id)
	dp, ok := options.DestProtocol{}, false
	if dest != nil {
		dp, ok = dest.Protocols[c.Listener().Protocol]
	}
	if !ok {
		c.Log().Error("relay: cannot connect to destination", "destination", id, "protocol", c.Listener().Protocol)
		s.downPending = true
		c.Post(s.deliverDown)
		return
	}
	if l := c.TakeLeg(s, dest); l != nil {
		s.leg = l
		o := c.RelayOut()
		s.step(s.m.BackendConnected(protocols.BackendLeg{Client: c.Forward(), Reused: true}, o), o)
		return
	}
	s.leg = c.Dial(s, dest, dp)
}

func (s *Session) LegUp(l session.Leg) {
	if l != s.leg || s.done {
		return
	}
	c := s.c
	c.HealthSuccess(l.Dest())
	leg := protocols.BackendLeg{StartTLS: l.Protocol().TLS == options.TLSStartTLS, Client: c.Forward()}
	if l.Protocol().Forwarding == options.ForwardXClient {
		f := c.Forward()
		leg.Forward = &f
	}
	o := c.RelayOut()
	if s.step(s.m.BackendConnected(leg, o), o) {
		return
	}
	s.pump()
}

func (s *Session) LegTLSUp(l session.Leg) {
	if l != s.leg || s.done {
		return
	}
	o := s.c.RelayOut()
	if s.step(s.m.BackendTLSStarted(o), o) {
		return
	}
	s.LegData(l)
	s.pump()
}

// legData feeds the backend's bytes to the machine.
func (s *Session) LegData(l session.Leg) {
	c := s.c
	if l != s.leg || s.done || !c.Live() {
		return
	}
	progress, stop := s.feed(l)
	if !stop && c.Live() && !s.done {
		s.pump()
		if c.Live() && !s.done {
			s.arm(false, progress)
		}
	}
}

// legDown tells the machine its leg failed.
func (s *Session) LegDown(l session.Leg, err error) {
	if l != s.leg || s.done {
		return
	}
	c := s.c
	s.leg = nil
	c.Log().Warn("relay: backend leg lost", "destination", l.Dest().ID, "client", c.Client(), "err", err)
	client := c.Client()
	var de session.DialError
	if errors.As(err, &de) {
		client = netip.AddrPort{} // the host's doing, whoever the client
	}
	c.HealthFailure(l.Dest(), client)
	s.downPending = true
	s.deliverDown()
}

// deliverDown gives the machine its BackendDown (from a loop task); during
// a client STARTTLS it waits for tlsUp.
func (s *Session) deliverDown() {
	c := s.c
	if !s.downPending || s.done || !c.Live() {
		return // closing, or the client's STARTTLS is running: TLSUp delivers it
	}
	s.downPending = false
	o := c.RelayOut()
	if s.step(s.m.BackendDown(o), o) {
		return
	}
	s.pump()
}

// tunnel hands the client and the leg to the bridge (an HTTP upgrade): the
// machine's last output to the client (the 101) is the client's prelude,
// what it had for the backend goes ahead of the client's own bytes.
func (s *Session) tunnel(o *protocols.RelayOut) {
	c := s.c
	l := s.leg
	s.done = true
	s.leg = nil
	s.uncount()
	s.unblock()
	c.Tunnel(l, o.Client, o.Backend, s.acct)
}

// block pauses reading both sides until the destinations drain.
func (s *Session) block() {
	if s.blocking {
		return
	}
	s.blocking = true
	s.c.Pause()
	if s.leg != nil {
		s.leg.Pause()
	}
	s.c.AddPaused(s)
}

func (s *Session) unblock() {
	if !s.blocking {
		return
	}
	s.blocking = false
	s.c.DropPaused(s)
	s.c.Unpause()
	if s.leg != nil {
		s.leg.Unpause()
	}
}

// resume runs from the loop's tick while blocked.
func (s *Session) Resume() {
	c := s.c
	if !c.Live() || s.done {
		s.unblock()
		return
	}
	if !c.Drained() || (s.leg != nil && !s.leg.Drained()) {
		return
	}
	s.unblock()
	if s.leg != nil && len(s.leg.Input()) > 0 {
		s.LegData(s.leg)
		return
	}
	s.pump()
}

func (s *Session) Expired(time.Time) {
	c := s.c
	if s.routing || s.waiting() {
		c.SetTimeout(limits.SweepInterval) // the lookup or the task is on its way
		return
	}
	if s.m.AwaitingBackend() {
		if l := s.leg; l != nil {
			c.Refusal("reply_timeout")
			c.Log().Warn("relay: backend reply timeout", "destination", l.Dest().ID, "client", c.Client())
			c.HealthFailure(l.Dest(), c.Client())
			s.leg = nil
			l.Drop()
		}
		s.downPending = true
		s.deliverDown()
		return
	}
	c.Write(s.m.Timeout(c.Out()))
	c.Refusal("command_timeout")
	c.Log().Info("relay: client timeout", "client", c.Client(), "listener", c.Listener().ID)
	s.finish()
}

// stop: a kick cuts the session (a transaction in flight never got its
// verdict, so the sender keeps the message); a shutdown lets a transaction
// in flight finish first (Stop waits up to its grace).
func (s *Session) Stop(kick bool) {
	c := s.c
	if kick {
		c.Write(s.m.Timeout(c.Out()))
		s.finish()
		return
	}
	o := c.RelayOut()
	closeNow := s.m.ShuttingDown(o)
	if s.step(protocols.RelayNone, o) || closeNow {
		s.finish()
	}
}

func (s *Session) Gone() {
	s.unblock()
	if !s.done {
		s.dropLeg() // an idle HTTP leg may serve the next client
	}
	s.done = true
	s.uncount()
}

func (s *Session) uncount() {
	c := s.c
	if !s.counted {
		return
	}
	s.counted = false
	c.Relaying(-1)
	// The audit line of a session that stayed in the reactor.
	c.Log().Info("relayed session ended", "session", c.SessionName(), "protocol", c.Listener().Protocol, "listener", c.Listener().ID,
		"client", c.Client(), "last_account", s.acct, "duration_s", time.Since(time.Unix(0, s.started)).Round(time.Microsecond).Seconds())
}

// dropLeg gives up the current leg: kept idle for reuse when the machine
// says it may be, else closed.
func (s *Session) dropLeg() {
	l := s.leg
	if l == nil {
		return
	}
	s.leg = nil
	if !s.c.ParkLeg(s.m, l) {
		l.Drop()
	}
}
