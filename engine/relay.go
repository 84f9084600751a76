package engine

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/sessions"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/router"
)

// relaySession is a connection the proxy stays in (SMTP on port 25 and
// LMTP routed per recipient, HTTP/1.1 routed per request): the machine
// (protocols.Relay) owns both dialogues, and this file moves bytes between
// it, the client and at most one backend leg at a time, all on the
// client's loop. Every failure of a leg reaches the machine once, as
// BackendDown, from a loop task, so it never runs inside another step.
type relaySession struct {
	c *conn
	m protocols.Relay

	leg         *leg
	routing     bool // a recipient lookup is in flight
	downPending bool // a BackendDown without a leg (dial refused) is posted
	awaiting    bool // the machine awaited the backend at the last arming
	blocking    bool // paused: the client's or the leg's output is behind
	done        bool // tunnelled or closed
	counted     bool // in Stats.Relaying
	acct        string
	started     time.Time
}

func newRelaySession(c *conn) *relaySession {
	return &relaySession{c: c, m: c.ls.relay.NewRelay(c.ls.Listener, c.ls.TLS == options.TLSImplicit)}
}

func (s *relaySession) begin() {
	c := s.c
	s.started = time.Now()
	s.counted = true
	c.e.Stats.Relaying.Add(1)
	c.setDeadline(c.ls.CommandTimeout)
	c.write(s.m.Greeting(c.loop.out[:0]))
}

func (s *relaySession) tlsUp() {
	c := s.c
	c.setDeadline(c.ls.CommandTimeout)
	c.write(s.m.TLSStarted(c.loop.out[:0]))
	if s.leg != nil && s.leg.st == legDead {
		return // its legDown is on its way and resumes the session
	}
	if s.downPending {
		s.deliverDown()
		return
	}
	s.pump()
}

func (s *relaySession) input() { s.pump() }

func (s *relaySession) describe() (state, account, destination string) {
	if s.leg != nil {
		return sessions.StateRelaying, s.acct, s.leg.dest.ID
	}
	return sessions.StateRelaying, s.acct, ""
}

// waiting reports whether the machine must not be fed client bytes now.
func (s *relaySession) waiting() bool {
	return s.routing || s.downPending || (s.leg != nil && s.leg.st == legDead)
}

// blocked reports whether a destination is behind: nothing is fed until it
// drains, so memory stays bounded whatever the peers do.
func (s *relaySession) blocked() bool {
	return s.c.behind() || (s.leg != nil && s.leg.behind())
}

// pump feeds buffered client bytes to the machine until it waits.
func (s *relaySession) pump() {
	c := s.c
	progress := false
	for c.live() && !s.done && len(c.in) > 0 && !s.waiting() {
		if s.blocked() {
			s.block()
			break
		}
		o := c.loop.relayOut()
		n, ev := s.m.FeedClient(c.in, o)
		c.in = c.in[n:]
		progress = progress || n > 0
		if s.step(ev, o) {
			return
		}
		if n == 0 && ev == protocols.RelayNone {
			break
		}
	}
	if !c.live() || s.done {
		return
	}
	if len(c.in) == 0 {
		c.in = nil
	}
	if c.e.draining.Load() && !s.waiting() {
		// The transaction that held a shutdown back may be over: the
		// goodbye goes out now rather than at the client's next command.
		o := c.loop.relayOut()
		closeNow := s.m.ShuttingDown(o)
		if s.step(protocols.RelayNone, o) || closeNow {
			s.finish()
			return
		}
	}
	s.arm(progress, false)
}

// arm sets the connection's deadline. While the machine awaits the
// backend: the reply timeout, restarted by backend progress. Otherwise the
// client's command timeout, restarted only when a command (or a request
// head) was consumed or the backend has just answered, never by the bytes
// of an unfinished command: a client sending one byte a second is cut at
// the timeout (slowloris).
func (s *relaySession) arm(clientProgress, backendProgress bool) {
	c := s.c
	awaiting := s.m.AwaitingBackend()
	switch {
	case awaiting && (backendProgress || !s.awaiting):
		c.setDeadline(c.ls.ReplyTimeout)
	case !awaiting && (clientProgress || s.awaiting):
		c.setDeadline(c.ls.CommandTimeout)
	}
	s.awaiting = awaiting
}

// step writes what a machine call produced and carries out its event. It
// reports whether the session is over for this loop (closed or tunnelled).
func (s *relaySession) step(ev protocols.RelayEvent, o *protocols.RelayOut) bool {
	c := s.c
	if ev == protocols.RelayTunnel {
		s.tunnel(o)
		return true
	}
	c.write(o.Client)
	if !c.live() {
		return true
	}
	if len(o.Backend) > 0 && s.leg != nil {
		s.leg.write(o.Backend)
	}
	switch ev {
	case protocols.RelayStartTLS:
		c.startTLS() // the session goes on in tlsUp
		return true
	case protocols.RelayRoute:
		s.route()
	case protocols.RelayConnect:
		s.dropLeg()
		s.connect()
	case protocols.RelayBackendStartTLS:
		if l := s.leg; l != nil && l.st == legOpen {
			l.startTLS()
		}
	case protocols.RelayDisconnect:
		s.dropLeg()
	case protocols.RelayClose:
		s.finish()
		return true
	}
	return !c.live() || s.done
}

// finish ends the session: the leg is given up (kept for reuse when it
// may be) and the client closed.
func (s *relaySession) finish() {
	s.dropLeg()
	s.c.close()
}

// route resolves the machine's recipient through the admission gate.
func (s *relaySession) route() {
	c, e := s.c, s.c.e
	rcpt := s.m.Recipient()
	s.acct = e.opt.Router.Normalize(rcpt)
	if !e.delayedUntil(s.acct, time.Now()).IsZero() {
		e.log.Info("recipient deferred: the account is delayed", "recipient", rcpt)
		s.routed(rcpt, router.Result{}, errHeld)
		return
	}
	s.routing = true
	acct := s.acct
	e.resolve(c.loop, acct, func(res router.Result, err error, inline bool) {
		if !s.routing || !c.live() || s.done {
			return
		}
		s.routing = false
		s.routed(rcpt, res, err)
		if !inline && c.live() && !s.done {
			s.pump()
		}
	})
}

var errHeld = errors.New("account delayed")

func (s *relaySession) routed(rcpt string, res router.Result, err error) {
	c, e := s.c, s.c.e
	var outcome protocols.RouteOutcome
	if errors.Is(err, errHeld) {
		outcome = protocols.RouteTempFail
	} else {
		adm := e.gate(admitRequest{proto: c.ls.Protocol, account: s.acct}, res, err)
		switch {
		case adm.ok:
			outcome = protocols.RouteOK
		case adm.kind == protocols.FailRejected:
			outcome = protocols.RouteUnknown
		default:
			e.log.Info("recipient deferred", "recipient", rcpt, "reason", adm.reason)
			outcome = protocols.RouteTempFail
		}
	}
	o := c.loop.relayOut()
	s.step(s.m.Routed(res.Destination, outcome, o), o)
}

// connect opens (or takes from the pool) a leg to the machine's
// destination. A failure reaches the machine as BackendDown.
func (s *relaySession) connect() {
	c, e := s.c, s.c.e
	id := s.m.Destination()
	dest := e.destination(id)
	dp, ok := options.DestProtocol{}, false
	if dest != nil {
		dp, ok = dest.Protocols[c.ls.Protocol]
	}
	if !ok {
		e.log.Error("relay: cannot connect to destination", "destination", id, "protocol", c.ls.Protocol)
		s.downPending = true
		c.loop.post(s.deliverDown)
		return
	}
	if l := c.loop.takeLeg(dest, c.ls.Protocol); l != nil {
		l.owner = s
		s.leg = l
		o := c.loop.relayOut()
		s.step(s.m.BackendConnected(protocols.BackendLeg{Client: c.forward(), Reused: true}, o), o)
		return
	}
	s.leg = e.dial(c.loop, s, dest, dp, c.forward())
}

func (s *relaySession) legUp(l *leg) {
	if l != s.leg || s.done {
		return
	}
	c := s.c
	c.e.healthSuccess(l.dest, c.ls.Protocol)
	leg := protocols.BackendLeg{StartTLS: l.dp.TLS == options.TLSStartTLS, Client: c.forward()}
	if l.dp.Forwarding == options.ForwardXClient {
		f := c.forward()
		leg.Forward = &f
	}
	o := c.loop.relayOut()
	if s.step(s.m.BackendConnected(leg, o), o) {
		return
	}
	s.pump()
}

func (s *relaySession) legTLSUp(l *leg) {
	if l != s.leg || s.done {
		return
	}
	o := s.c.loop.relayOut()
	if s.step(s.m.BackendTLSStarted(o), o) {
		return
	}
	s.legData(l)
	s.pump()
}

// legData feeds the backend's bytes to the machine.
func (s *relaySession) legData(l *leg) {
	c := s.c
	if l != s.leg || s.done || !c.live() {
		return
	}
	progress := false
	for len(l.in) > 0 && s.leg == l && l.st == legOpen && c.live() {
		if s.blocked() {
			s.block()
			break
		}
		o := c.loop.relayOut()
		n, ev := s.m.FeedBackend(l.in, o)
		l.in = l.in[n:]
		progress = progress || n > 0
		if s.step(ev, o) {
			return
		}
		if n == 0 && ev == protocols.RelayNone {
			break
		}
	}
	if len(l.in) == 0 {
		l.in = nil
	}
	if c.live() && !s.done {
		s.pump()
		if c.live() && !s.done {
			s.arm(false, progress)
		}
	}
}

// legDown tells the machine its leg failed.
func (s *relaySession) legDown(l *leg, err error) {
	if l != s.leg || s.done {
		return
	}
	c := s.c
	s.leg = nil
	c.e.log.Warn("relay: backend leg lost", "destination", l.dest.ID, "client", c.client, "err", err)
	client := c.client
	var de dialError
	if errors.As(err, &de) {
		client = netip.AddrPort{} // the host's doing, whoever the client
	}
	c.e.healthFailure(l.dest, c.ls.Protocol, client)
	s.downPending = true
	s.deliverDown()
}

// deliverDown gives the machine its BackendDown (from a loop task); during
// a client STARTTLS it waits for tlsUp.
func (s *relaySession) deliverDown() {
	c := s.c
	if !s.downPending || s.done || c.phase == phGone || c.closing {
		return
	}
	if c.phase != phOpen {
		return // the client's STARTTLS is running: tlsUp delivers it
	}
	s.downPending = false
	o := c.loop.relayOut()
	if s.step(s.m.BackendDown(o), o) {
		return
	}
	s.pump()
}

// tunnel hands the client and the leg to the bridge (an HTTP upgrade): the
// machine's last output to the client (the 101) is the client's prelude,
// what it had for the backend goes ahead of the client's own bytes.
func (s *relaySession) tunnel(o *protocols.RelayOut) {
	c := s.c
	l := s.leg
	s.done = true
	s.leg = nil
	s.uncount()
	s.unblock()
	if l == nil || l.st != legOpen {
		c.close()
		return
	}
	prelude := append([]byte(nil), o.Client...)
	prelude = append(prelude, l.in...)
	l.in = nil
	if len(o.Backend) > 0 {
		c.in = append(append([]byte(nil), o.Backend...), c.in...)
	}
	tc, tr := l.tls.tc, l.tls.tr
	fd, err := l.detach()
	if err != nil {
		c.e.refusal("handoff_backend")
		c.e.log.Warn("hand-off to the bridge failed", "session", c.id, "client", c.client, "err", err)
		l.drop()
		c.close()
		return
	}
	back := backendSide{fd: fd, dest: l.dest.ID}
	if l.tls.active {
		back.tc, back.tr = tc, tr
	}
	c.e.bridge(c, back, prelude, s.acct)
}

// block pauses reading both sides until the destinations drain.
func (s *relaySession) block() {
	if s.blocking {
		return
	}
	s.blocking = true
	s.c.pause()
	if s.leg != nil {
		s.leg.pause()
	}
	s.c.loop.addPaused(s)
}

func (s *relaySession) unblock() {
	if !s.blocking {
		return
	}
	s.blocking = false
	s.c.loop.dropPaused(s)
	s.c.unpause()
	if s.leg != nil {
		s.leg.unpause()
	}
}

// resume runs from the loop's tick while blocked.
func (s *relaySession) resume() {
	c := s.c
	if !c.live() || s.done {
		s.unblock()
		return
	}
	if !c.drained() || (s.leg != nil && !s.leg.drained()) {
		return
	}
	s.unblock()
	if s.leg != nil && len(s.leg.in) > 0 {
		s.legData(s.leg)
		return
	}
	s.pump()
}

func (s *relaySession) expired(time.Time) {
	c := s.c
	if s.routing || s.waiting() {
		c.setDeadline(sweepInterval) // the lookup or the task is on its way
		return
	}
	if s.m.AwaitingBackend() {
		if l := s.leg; l != nil {
			c.e.refusal("reply_timeout")
			c.e.log.Warn("relay: backend reply timeout", "destination", l.dest.ID, "client", c.client)
			c.e.healthFailure(l.dest, c.ls.Protocol, c.client)
			s.leg = nil
			l.drop()
		}
		s.downPending = true
		s.deliverDown()
		return
	}
	c.write(s.m.Timeout(c.loop.out[:0]))
	c.e.refusal("command_timeout")
	c.e.log.Info("relay: client timeout", "client", c.client, "listener", c.ls.ID)
	s.finish()
}

// stop: a kick cuts the session (a transaction in flight never got its
// verdict, so the sender keeps the message); a shutdown lets a transaction
// in flight finish first (Stop waits up to its grace).
func (s *relaySession) stop(kick bool) {
	c := s.c
	if kick {
		c.write(s.m.Timeout(c.loop.out[:0]))
		s.finish()
		return
	}
	o := c.loop.relayOut()
	closeNow := s.m.ShuttingDown(o)
	if s.step(protocols.RelayNone, o) || closeNow {
		s.finish()
	}
}

func (s *relaySession) gone() {
	s.unblock()
	if !s.done {
		s.dropLeg() // an idle HTTP leg may serve the next client
	}
	s.done = true
	s.uncount()
}

func (s *relaySession) uncount() {
	c := s.c
	if !s.counted {
		return
	}
	s.counted = false
	c.e.Stats.Relaying.Add(-1)
	// The audit line of a session that stayed in the reactor.
	c.e.log.Info("relayed session ended", "session", c.e.sessionName(c.id), "protocol", c.ls.Protocol, "listener", c.ls.ID,
		"client", c.client, "last_account", s.acct, "duration_s", seconds(time.Since(s.started)))
}

// dropLeg gives up the current leg: kept idle for reuse when the machine
// says it may be, else closed.
func (s *relaySession) dropLeg() {
	l := s.leg
	if l == nil {
		return
	}
	s.leg = nil
	if !s.c.loop.parkLeg(s.m, l) {
		l.drop()
	}
}

// waitRelays lets relayed transactions finish during a shutdown.
func (e *Engine) waitRelays(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for e.Stats.Relaying.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
