package engine

import (
	"context"
	"errors"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/router"
)

// Relayed sessions (SMTP on port 25 and LMTP routed per recipient) never
// reach the bridge: the machine (protocols.Relay) owns both dialogues and
// this file moves bytes between it, the client and at most one backend leg
// at a time, all on the client's event loop. Every failure of a leg reaches
// the machine as one BackendDown, posted to the loop so that it never runs
// inside another step of the same machine.

var errRelayBusy = errors.New("too many lookups and dials in flight")

// maxRelayPending bounds what a relayed client may send ahead while its
// machine waits (pipelined commands, an upload during a dial).
const maxRelayPending = 256 << 10

func (l *loopState) relayOut() *protocols.RelayOut {
	l.rout.Client = l.rout.Client[:0]
	l.rout.Backend = l.rout.Backend[:0]
	return &l.rout
}

// startRelay begins a relayed session once the client's address is known
// (and, for implicit TLS, the handshake is done).
func (cc *clientConn) startRelay(afterSTARTTLS bool) gnet.Action {
	cc.state = stRelay
	cc.deadline = time.Now().Add(cc.ls.CommandTimeout)
	var out []byte
	if afterSTARTTLS {
		out = cc.rel.TLSStarted(cc.loop.out[:0])
	} else {
		out = cc.rel.Greeting(cc.loop.out[:0])
	}
	return cc.write(out)
}

// pumpRelay feeds buffered client bytes to the machine until it waits. It
// reports whether the client must now be closed.
func (cc *clientConn) pumpRelay() bool {
	for cc.state == stRelay && len(cc.in) > 0 && !cc.routing && !cc.legDownPending {
		o := cc.loop.relayOut()
		n, ev := cc.rel.FeedClient(cc.in, o)
		cc.in = cc.in[n:]
		if cc.relayStep(ev, o) {
			return true
		}
		if n == 0 && ev == protocols.RelayNone {
			break
		}
	}
	switch cc.state {
	case stRelay:
	case stClosing, stDone:
		return true
	default: // a STARTTLS handshake took over
		return false
	}
	cc.compact()
	if len(cc.in) > maxRelayPending {
		cc.e.log.Warn("relay client sent too much while waiting for the backend", "client", cc.fwd.Client)
		return true
	}
	if cc.e.draining.Load() && !cc.routing && !cc.legDownPending {
		// The transaction that held a shutdown back may be over: the 421
		// goes out now rather than at the client's next command.
		o := cc.loop.relayOut()
		if cc.rel.ShuttingDown(o) {
			cc.relayStep(protocols.RelayNone, o)
			return true
		}
	}
	cc.relayDeadline(false)
	return false
}

// relayStep writes what a machine call produced and carries out its event.
// It reports whether the client must now be closed.
func (cc *clientConn) relayStep(ev protocols.RelayEvent, o *protocols.RelayOut) bool {
	if len(o.Client) > 0 && cc.write(o.Client) != gnet.None {
		return true
	}
	if len(o.Backend) > 0 && cc.back != nil {
		cc.back.send(o.Backend)
	}
	switch ev {
	case protocols.RelayStartTLS:
		cc.in = nil // sent before TLS was on: injection, as for EventStartTLS
		return cc.startHandshake(true) != gnet.None
	case protocols.RelayRoute:
		return cc.relayRoute()
	case protocols.RelayConnect:
		cc.dropLeg()
		return cc.relayConnect()
	case protocols.RelayBackendStartTLS:
		if bc := cc.back; bc != nil && bc.c != nil && !bc.dropped {
			if len(bc.in) > 0 {
				bc.drop()
				cc.legLost(bc, errors.New("backend sent bytes after its STARTTLS go-ahead"))
				return false
			}
			bc.startHandshake(true)
		}
	case protocols.RelayDisconnect:
		cc.dropLeg()
	case protocols.RelayClose:
		cc.dropLeg()
		cc.state = stClosing
		return true
	case protocols.RelayTunnel:
		return cc.relayTunnel()
	}
	return false
}

// relayTunnel moves the client and the current leg to the bridge (an HTTP
// upgrade). The hand-off runs as a loop task, outside both connections'
// callbacks, once gnet has written everything (the sweep retries).
func (cc *clientConn) relayTunnel() bool {
	bc := cc.back
	if bc == nil || bc.c == nil || bc.dropped || bc.handshake {
		return true
	}
	cc.state = stBridging
	cc.deadline = time.Now().Add(cc.e.opt.BackendTimeout)
	_ = cc.loop.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		if cc.state == stBridging && cc.back == bc {
			cc.tryHandoff(nil)
		}
		return nil
	}))
	return false
}

// dropLeg gives up the current backend leg: kept idle for reuse when the
// machine says it may be, else closed.
func (cc *clientConn) dropLeg() {
	if bc := cc.back; bc != nil {
		cc.back = nil
		if !cc.parkLeg(bc) {
			bc.drop()
		}
	}
}

// relayRoute resolves the machine's recipient, inline or off the loop.
func (cc *clientConn) relayRoute() bool {
	e := cc.e
	rcpt := cc.rel.Recipient()
	cc.account = e.opt.Router.Normalize(rcpt)
	if e.opt.Router.Inline() {
		res, err := e.opt.Router.Resolve(context.Background(), rcpt)
		return cc.relayRouted(rcpt, res, err)
	}
	cc.routing = true
	ok := e.goBounded(func() {
		ctx, cancel := context.WithTimeout(context.Background(), e.opt.BackendTimeout)
		res, err := e.opt.Router.Resolve(ctx, rcpt)
		cancel()
		cc.post(func() gnet.Action {
			if !cc.routing {
				return gnet.None
			}
			cc.routing = false
			if cc.relayRouted(rcpt, res, err) || cc.pumpRelay() {
				return gnet.Close
			}
			return gnet.None
		})
	})
	if !ok {
		cc.routing = false
		return cc.relayRouted(rcpt, router.Result{}, errRelayBusy)
	}
	return false
}

func (cc *clientConn) relayRouted(rcpt string, res router.Result, err error) bool {
	e := cc.e
	e.opt.Observer.Route(res, err)
	outcome := protocols.RouteOK
	switch {
	case errors.Is(err, router.ErrNoRoute):
		outcome = protocols.RouteUnknown
	case err != nil:
		e.log.Warn("recipient routing failed", "recipient", rcpt, "err", err)
		outcome = protocols.RouteTempFail
	case !e.delayedUntil(cc.account, time.Now()).IsZero(): // cc.account: rcpt normalized by relayRoute
		e.log.Info("recipient deferred: the account is delayed", "recipient", rcpt)
		outcome = protocols.RouteTempFail
	default:
		dest := e.destination(res.Destination)
		switch {
		case dest == nil:
			e.log.Error("route names an unknown destination", "recipient", rcpt, "destination", res.Destination)
			outcome = protocols.RouteTempFail
		case !serves(dest, cc.ls.Protocol):
			e.log.Error("destination does not serve the protocol", "destination", dest.ID, "protocol", cc.ls.Protocol)
			outcome = protocols.RouteTempFail
		case e.opt.Health != nil && !e.opt.Health.Allow(dest.ID, cc.ls.Protocol):
			e.log.Warn("destination marked down; recipient deferred", "destination", dest.ID, "protocol", cc.ls.Protocol)
			outcome = protocols.RouteTempFail
		}
	}
	o := cc.loop.relayOut()
	return cc.relayStep(cc.rel.Routed(res.Destination, outcome, o), o)
}

func serves(d *Destination, proto string) bool {
	_, ok := d.Protocols[proto]
	return ok
}

// relayConnect opens a leg to the machine's destination. A failure reaches
// the machine as BackendDown, like every other failure of a leg.
func (cc *clientConn) relayConnect() bool {
	e := cc.e
	id := cc.rel.Destination()
	dest := e.destination(id)
	if dest == nil || !serves(dest, cc.ls.Protocol) {
		e.log.Error("relay: cannot connect to destination", "destination", id, "protocol", cc.ls.Protocol)
		cc.legDownPending = true
		cc.post(cc.legDown)
		return false
	}
	if bc := cc.takeLeg(dest); bc != nil {
		cc.back = bc
		leg := protocols.BackendLeg{Client: cc.fwd, Reused: true}
		o := cc.loop.relayOut()
		return cc.relayStep(cc.rel.BackendConnected(leg, o), o)
	}
	return cc.dial(dest, dest.Protocols[cc.ls.Protocol]) == gnet.Close
}

// legLost tells the machine, through the loop, that bc failed. bc must
// already be marked dropped.
func (cc *clientConn) legLost(bc *backendConn, err error) {
	if cc.back != bc {
		return
	}
	cc.back = nil
	cc.e.log.Warn("relay: backend leg lost", "destination", bc.dest.ID, "client", cc.fwd.Client, "err", err)
	cc.e.healthFailure(bc.dest, cc.ls.Protocol)
	cc.legDownPending = true
	cc.post(cc.legDown)
}

// legDown delivers BackendDown; it runs as a task on the client's loop.
func (cc *clientConn) legDown() gnet.Action {
	if !cc.legDownPending {
		return gnet.None
	}
	if cc.state != stRelay {
		return gnet.None // a client STARTTLS is running; delivered after it
	}
	cc.legDownPending = false
	o := cc.loop.relayOut()
	if cc.relayStep(cc.rel.BackendDown(o), o) || cc.pumpRelay() {
		return gnet.Close
	}
	return gnet.None
}

// relayDeadline arms the sweep's timer: the backend's reply timeout while
// the machine waits for a reply (reset by backend progress only), else the
// client's command timeout.
func (cc *clientConn) relayDeadline(fromBackend bool) {
	now := time.Now()
	awaiting := cc.rel.AwaitingBackend()
	switch {
	case awaiting && (fromBackend || !cc.awaiting):
		cc.deadline = now.Add(cc.ls.ReplyTimeout)
	case !awaiting:
		cc.deadline = now.Add(cc.ls.CommandTimeout)
	}
	cc.awaiting = awaiting
}

// relayTick handles an expired deadline of a relayed session.
func (cc *clientConn) relayTick() {
	if cc.routing || cc.legDownPending {
		return // the lookup or the task is on its way
	}
	if cc.rel.AwaitingBackend() {
		if bc := cc.back; bc != nil {
			cc.e.log.Warn("relay: backend reply timeout", "destination", bc.dest.ID, "client", cc.fwd.Client)
			cc.e.healthFailure(bc.dest, cc.ls.Protocol)
			cc.back = nil
			bc.drop()
		}
		cc.legDownPending = true
		if cc.legDown() == gnet.Close {
			cc.closeNow()
		}
		return
	}
	cc.write(cc.rel.Timeout(cc.loop.out[:0]))
	cc.e.log.Info("relay: client timeout", "client", cc.fwd.Client, "listener", cc.ls.ID)
	cc.closeNow()
}

// relayGoodbye asks the machine to end the session for a shutdown; a
// transaction in flight finishes first (Stop waits up to its grace).
func (cc *clientConn) relayGoodbye() {
	if cc.state != stRelay {
		cc.closeNow()
		return
	}
	o := cc.loop.relayOut()
	now := cc.rel.ShuttingDown(o)
	if cc.relayStep(protocols.RelayNone, o) || now {
		cc.closeNow()
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

// relayOpened runs in OnOpen for a relay leg.
func (bc *backendConn) relayOpened() gnet.Action {
	cc := bc.cc
	if cc.back != bc || (cc.state != stRelay && cc.state != stHandshake) {
		bc.dropped = true
		return gnet.Close
	}
	cc.e.healthSuccess(bc.dest, cc.ls.Protocol)
	leg := protocols.BackendLeg{StartTLS: bc.dp.TLS == TLSStartTLS, Client: cc.fwd}
	if bc.dp.Forwarding == ForwardXClient {
		f := cc.fwd
		leg.Forward = &f
	}
	if bc.dp.TLS == TLSImplicit {
		bc.startHandshake(false)
	}
	if bc.dp.TLS == TLSImplicit {
		// BackendConnected waits for the handshake: the machine may write
		// at once (an HTTP request), and nothing can be sent before it.
		bc.pendingLeg = &leg
		return gnet.None
	}
	return bc.relayConnected(leg)
}

// relayConnected tells the machine its leg is up, then feeds it what the
// client sent meanwhile.
func (bc *backendConn) relayConnected(leg protocols.BackendLeg) gnet.Action {
	cc := bc.cc
	o := cc.loop.relayOut()
	if cc.relayStep(cc.rel.BackendConnected(leg, o), o) || cc.pumpRelay() {
		cc.closeNow()
	}
	return gnet.None
}

// relayProcess feeds backend bytes to the machine.
func (bc *backendConn) relayProcess() gnet.Action {
	cc := bc.cc
	for len(bc.in) > 0 && cc.back == bc && !bc.dropped && cc.state == stRelay {
		o := cc.loop.relayOut()
		n, ev := cc.rel.FeedBackend(bc.in, o)
		bc.in = bc.in[n:]
		if cc.relayStep(ev, o) {
			cc.closeNow()
			return gnet.None
		}
		if n == 0 && ev == protocols.RelayNone {
			break
		}
	}
	if len(bc.in) > 1<<20 {
		bc.drop()
		cc.legLost(bc, errors.New("backend reply too long"))
		return gnet.None
	}
	if cc.state == stRelay {
		if cc.pumpRelay() {
			cc.closeNow()
			return gnet.None
		}
		cc.relayDeadline(true)
	}
	return gnet.None
}

// send writes machine output to the leg. A failed write closes the leg;
// the machine hears of it through legLost.
func (bc *backendConn) send(b []byte) {
	if bc.c == nil || bc.dropped || bc.handshake {
		return
	}
	var err error
	if bc.tlsActive {
		_, err = bc.tc.Write(b)
	} else {
		_, err = bc.c.Write(b)
	}
	if err != nil {
		bc.drop()
		bc.cc.legLost(bc, err)
	}
}
