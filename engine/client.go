package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/switchyard-mail/switchyard/engine/tlsconn"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/token"
	"github.com/switchyard-mail/switchyard/router"
)

type connState uint8

const (
	stProxyHeader connState = iota // waiting for the inbound PROXY header
	stHandshake                    // client TLS handshake running
	stPreauth                      // the front end's dialogue
	stRouting                      // waiting for a blocking lookup
	stDelayed                      // login held: the account is delayed (control.go)
	stBackend                      // dialing the backend and replaying the login
	stRelay                        // a relayed session (relay.go)
	stBridging                     // waiting for output to drain before the hand-off
	stClosing                      // closing once output is written
	stDone                         // closed or handed to the bridge
)

// maxPendingInput bounds what a client may send while its login is being
// replayed (pipelined commands) or before the front end consumes it.
const maxPendingInput = 64 << 10

// clientConn is one accepted connection until it is bridged or closed. It is
// touched only on its event loop.
type clientConn struct {
	e    *Engine
	ls   *listenerState
	loop *loopState
	c    gnet.Conn
	id   uint64

	state     connState
	front     protocols.FrontEnd
	in        []byte // client plaintext the front end has not consumed
	pending   []byte // raw bytes before a PROXY header is complete
	tlsT      *tlsconn.Conn
	tc        *tls.Conn
	tlsActive bool
	hsSlot    bool
	startTLS  bool // the running handshake is a STARTTLS upgrade

	fwd      forward.Info
	accepted time.Time
	deadline time.Time

	attempt uint32
	login   *protocols.Login
	account string    // normalized identifier of the login in progress
	holdEnd time.Time // stDelayed: when the account's delay ends
	dest    *Destination
	back    *backendConn
	prelude []byte // for the client once bridged: the backend's verdict and what followed

	// Relayed sessions (relay.go).
	rel            protocols.Relay
	routing        bool // a recipient lookup is in flight
	legDownPending bool // a BackendDown is posted and not yet delivered
	awaiting       bool // the machine awaited the backend after the last step

	counted bool // in the observer's active connections
}

func (e *Engine) openClient(c gnet.Conn) gnet.Action {
	ls := e.listenerFor(c.LocalAddr())
	if ls == nil {
		e.log.Error("connection on an unknown listener", "local", c.LocalAddr())
		return gnet.Close
	}
	e.fdsInUse.Add(1)
	e.Stats.Accepted.Add(1)
	loop := e.loopFor(c.EventLoop())
	cc := &clientConn{
		e: e, ls: ls, loop: loop, c: c,
		id:       e.nextID.Add(1),
		accepted: time.Now(),
		state:    stPreauth,
	}
	cc.fwd = forward.Info{
		Client:    addrPortOf(c.RemoteAddr()),
		Local:     addrPortOf(c.LocalAddr()),
		SessionID: e.sessionPrefix + strconv.FormatUint(cc.id, 36),
	}
	c.SetContext(cc)
	n := ls.conns.Add(1)
	if ls.relay != nil {
		cc.rel = ls.relay.NewRelay(ls.Listener, ls.TLS == TLSImplicit)
	} else {
		cc.front = ls.driver.NewFrontEnd(ls.Listener, ls.TLS == TLSImplicit)
	}
	if (ls.MaxConnections > 0 && n > int64(ls.MaxConnections)) || !e.fdBudgetOK(2) || e.draining.Load() {
		e.Stats.RefusedBusy.Add(1)
		reason := "limit"
		if e.draining.Load() {
			reason = "draining"
		} else if !e.fdBudgetOK(2) {
			reason = "fd_headroom"
		}
		e.opt.Observer.ConnRefused(ls.ID, ls.Protocol, reason)
		e.log.Warn("connection refused: too busy", "listener", ls.ID, "client", cc.fwd.Client, "connections", n)
		cc.state = stDone
		if ls.TLS != TLSImplicit { // a TLS client cannot read a plaintext reply
			if cc.rel != nil {
				_, _ = c.Write(cc.rel.TooBusy(nil))
			} else {
				_, _ = c.Write(cc.front.TooBusy(nil))
			}
		}
		return gnet.Close
	}
	e.opt.Observer.ConnAccepted(ls.ID, ls.Protocol)
	cc.counted = true
	if cc.rel != nil {
		e.Stats.Relaying.Add(1)
	}
	loop.clients[cc] = struct{}{}
	if ls.ProxyProtocol != ProxyOff {
		if trusted(ls.ProxyTrusted, cc.fwd.Client.Addr()) {
			cc.state = stProxyHeader
			wait := ls.PreauthTimeout
			if ls.ProxyProtocol == ProxyOptional {
				wait = min(wait, 3*time.Second) // a load balancer sends it at once
			}
			cc.deadline = cc.accepted.Add(wait)
			return gnet.None
		}
		if ls.ProxyProtocol == ProxyRequired {
			e.log.Warn("connection refused: PROXY header required from an untrusted address", "listener", ls.ID, "client", cc.fwd.Client)
			e.opt.Observer.ConnRefused(ls.ID, ls.Protocol, "proxy_header")
			cc.state = stClosing
			return gnet.Close
		}
	}
	return cc.start()
}

// start begins the protocol once the client's address is known.
func (cc *clientConn) start() gnet.Action {
	cc.deadline = time.Now().Add(cc.ls.PreauthTimeout)
	if cc.ls.TLS == TLSImplicit {
		return cc.startHandshake(false)
	}
	if cc.rel != nil {
		return cc.startRelay(false)
	}
	if cc.ls.Passthrough != "" {
		return cc.beginPassthrough()
	}
	cc.state = stPreauth
	out := cc.front.Greeting(cc.loop.out[:0])
	return cc.write(out)
}

func (cc *clientConn) startHandshake(starttls bool) gnet.Action {
	e := cc.e
	if e.handshakes.Add(1) > int64(e.opt.MaxHandshakes) {
		e.handshakes.Add(-1)
		e.log.Warn("TLS handshake refused: too many in flight", "client", cc.fwd.Client)
		cc.state = stDone
		return gnet.Close
	}
	cc.hsSlot = true
	cc.state = stHandshake
	cc.startTLS = starttls
	c := cc.c
	cc.tlsT = tlsconn.New(c.LocalAddr(), c.RemoteAddr(), func() { _ = c.Wake(nil) })
	cc.tc = tls.Server(cc.tlsT, cc.serverTLS())
	ctx, cancel := context.WithTimeout(context.Background(), e.opt.HandshakeTimeout)
	cc.tlsT.StartHandshake(ctx, func(ctx context.Context) error {
		defer cancel()
		return cc.tc.HandshakeContext(ctx)
	})
	return gnet.None
}

func (cc *clientConn) releaseHandshake() {
	if cc.hsSlot {
		cc.hsSlot = false
		cc.e.handshakes.Add(-1)
	}
}

// traffic handles readable bytes and wake-ups for the client connection.
func (cc *clientConn) traffic(data []byte) gnet.Action {
	switch cc.state {
	case stDone:
		return gnet.None
	case stProxyHeader:
		return cc.proxyHeader(data)
	case stHandshake:
		cc.tlsT.Feed(data)
		return cc.pumpHandshake()
	}
	if cc.tlsActive {
		cc.tlsT.Feed(data)
		if a := cc.readTLS(); a != gnet.None {
			return a
		}
	} else if len(data) > 0 {
		if len(cc.in) == 0 && (cc.state == stPreauth || cc.state == stRelay) {
			// The usual case, whole commands in one read: feed gnet's
			// buffer as it is and copy only what the front end leaves
			// (the buffer is gnet's again once this callback returns).
			cc.in = data
			a := cc.process()
			if len(cc.in) > 0 {
				cc.in = append([]byte(nil), cc.in...)
			}
			return a
		}
		cc.in = append(cc.in, data...)
	}
	switch cc.state {
	case stPreauth, stRelay:
		return cc.process()
	case stRouting, stDelayed, stBackend, stBridging:
		if len(cc.in) > maxPendingInput {
			cc.e.log.Warn("client sent too much during login", "client", cc.fwd.Client)
			return cc.abort()
		}
	}
	return gnet.None
}

func (cc *clientConn) proxyHeader(data []byte) gnet.Action {
	cc.pending = append(cc.pending, data...)
	n, err := proxyHeaderLen(cc.pending)
	if errors.Is(err, errNoProxyHeader) && cc.ls.ProxyProtocol == ProxyOptional {
		n = 0 // not a header: these are protocol bytes
	} else if err != nil {
		cc.e.log.Warn("bad PROXY header", "client", cc.fwd.Client, "err", err)
		return cc.abort()
	} else if n == 0 {
		return gnet.None
	} else {
		src, dst, ok, err := parseProxyHeader(cc.pending[:n])
		if err != nil {
			cc.e.log.Warn("bad PROXY header", "client", cc.fwd.Client, "err", err)
			return cc.abort()
		}
		if ok {
			cc.fwd.Client, cc.fwd.Local = src, dst
		}
	}
	rest := cc.pending[n:]
	cc.pending = nil
	if a := cc.start(); a != gnet.None {
		return a
	}
	if len(rest) == 0 {
		return gnet.None
	}
	return cc.traffic(rest)
}

// pumpHandshake writes the handshake goroutine's output and, once it is
// done, moves the connection to loop mode.
func (cc *clientConn) pumpHandshake() gnet.Action {
	if out := cc.tlsT.TakeOutput(cc.loop.out[:0]); len(out) > 0 {
		if _, err := cc.c.Write(out); err != nil {
			return cc.abort()
		}
	}
	done, err := cc.tlsT.HandshakeResult()
	if !done {
		return gnet.None
	}
	cc.releaseHandshake()
	if err != nil {
		cc.e.log.Debug("client TLS handshake failed", "client", cc.fwd.Client, "err", err)
		return cc.abort()
	}
	if err := cc.tlsT.SetLoopMode(cc.c.Write); err != nil {
		return cc.abort()
	}
	cc.tlsActive = true
	cc.fwd.TLS = true
	cc.fwd.TLSVersion = forward.TLSVersionName(cc.tc.ConnectionState().Version)
	if cc.negotiatedH2() {
		if cc.c.OutboundBuffered() > 0 {
			// The handshake's last flight is still in gnet's buffer, and
			// gnet drops it on close: write it out first.
			_ = cc.c.Flush()
			if cc.c.OutboundBuffered() > 0 {
				cc.e.log.Warn("h2: handshake output could not be flushed; connection closed", "client", cc.fwd.Client)
				return cc.abort()
			}
		}
		cc.handOffH2()
		return gnet.Close
	}
	if cc.rel != nil {
		if a := cc.startRelay(cc.startTLS); a != gnet.None {
			return a
		}
		if a := cc.readTLS(); a != gnet.None {
			return a
		}
		if cc.legDownPending && cc.legDown() == gnet.Close {
			return cc.abort()
		}
		return cc.process()
	}
	if cc.ls.Passthrough != "" {
		return cc.beginPassthrough()
	}
	cc.state = stPreauth
	var out []byte
	if cc.startTLS {
		out = cc.front.TLSStarted(cc.loop.out[:0])
	} else {
		out = cc.front.Greeting(cc.loop.out[:0])
	}
	if a := cc.write(out); a != gnet.None {
		return a
	}
	if a := cc.readTLS(); a != gnet.None {
		return a
	}
	return cc.process()
}

// readTLS decrypts whatever is buffered into cc.in.
func (cc *clientConn) readTLS() gnet.Action {
	for {
		n, err := cc.tc.Read(cc.loop.tlsBuf)
		if n > 0 {
			cc.in = append(cc.in, cc.loop.tlsBuf[:n]...)
			if limit := maxPendingInput + cc.loop.maxLine(); len(cc.in) > limit && (cc.rel == nil || len(cc.in) > maxRelayPending+limit) {
				cc.e.log.Warn("client input overflow", "client", cc.fwd.Client)
				return cc.abort()
			}
		}
		if err != nil {
			if isWouldBlock(err) {
				return gnet.None
			}
			return cc.abort()
		}
	}
}

func (l *loopState) maxLine() int { return 64 << 10 }

// process feeds buffered client bytes to the front end.
func (cc *clientConn) process() gnet.Action {
	if cc.rel != nil {
		if cc.pumpRelay() {
			return cc.abort()
		}
		return gnet.None
	}
	out := cc.loop.out[:0]
	for cc.state == stPreauth && len(cc.in) > 0 {
		n, o, ev := cc.front.Feed(cc.in, out)
		out = o
		cc.in = cc.in[n:]
		switch ev {
		case protocols.EventNone:
			if n == 0 {
				if len(cc.in) > maxPendingInput {
					// The front end bounds its lines itself; this is a backstop.
					cc.e.log.Warn("client line overflow", "client", cc.fwd.Client)
					cc.write(out)
					return cc.abort()
				}
				cc.compact()
				return cc.write(out)
			}
		case protocols.EventStartTLS:
			if a := cc.write(out); a != gnet.None {
				return a
			}
			// Whatever followed STARTTLS was sent before the client could
			// know TLS was on: it is injection (CVE-2021-33515 class).
			cc.in = nil
			return cc.startHandshake(true)
		case protocols.EventClose:
			cc.write(out)
			cc.state = stClosing
			return gnet.Close
		case protocols.EventLogin:
			if a := cc.write(out); a != gnet.None {
				return a
			}
			cc.compact()
			return cc.beginLogin()
		}
	}
	cc.compact()
	return cc.write(out)
}

// compact keeps an idle connection from holding a grown buffer.
func (cc *clientConn) compact() {
	if len(cc.in) == 0 {
		cc.in = nil
	} else if cap(cc.in) > 4*len(cc.in) && cap(cc.in) > 4096 {
		cc.in = append([]byte(nil), cc.in...)
	}
}

// write sends output to the client, through TLS when active.
func (cc *clientConn) write(out []byte) gnet.Action {
	if len(out) == 0 {
		return gnet.None
	}
	var err error
	if cc.tlsActive {
		_, err = cc.tc.Write(out)
	} else {
		_, err = cc.c.Write(out)
	}
	if err != nil {
		return cc.abort()
	}
	return gnet.None
}

// abort ends the connection from inside its own callback.
func (cc *clientConn) abort() gnet.Action {
	cc.state = stClosing
	return gnet.Close
}

// beginPassthrough bridges the connection to the listener's fixed
// destination without a dialogue at the proxy.
func (cc *clientConn) beginPassthrough() gnet.Action {
	cc.login = cc.front.Login()
	cc.attempt++
	cc.state = stRouting
	cc.deadline = time.Now().Add(cc.e.opt.BackendTimeout)
	return cc.routed(router.Result{Destination: cc.ls.Passthrough}, nil)
}

func (cc *clientConn) beginLogin() gnet.Action {
	e := cc.e
	login := cc.front.Login()
	id, err := token.Identify(login.Creds, token.Options{Claim: e.opt.IdentifierClaim, MasterSeparators: e.opt.MasterSeparators})
	if err != nil {
		e.log.Info("login refused: no usable identifier", "client", cc.fwd.Client, "mechanism", login.Creds.Mechanism)
		return cc.loginFailedAs(outcomeBadInput, protocols.FailRejected, nil)
	}
	if v := e.opt.VerifyToken; v != nil {
		account, err := v(login.Creds)
		if err != nil {
			e.log.Info("login refused: bearer token does not verify", "client", cc.fwd.Client, "mechanism", login.Creds.Mechanism, "err", err)
			return cc.loginFailedAs(outcomeFailure, protocols.FailRejected, nil)
		}
		if account != "" {
			id = account
		}
	}
	login.Identifier = id
	cc.login = login
	cc.account = e.opt.Router.Normalize(id)
	cc.attempt++
	now := time.Now()
	if until := e.delayedUntil(cc.account, now); !until.IsZero() {
		e.log.Info("login held: the account is delayed", "account", cc.account, "until", until)
		cc.state = stDelayed
		cc.holdEnd = until
		cc.deadline = now.Add(MaxDelayHold)
		if until.Before(cc.deadline) {
			cc.deadline = until
		}
		return gnet.None
	}
	return cc.route()
}

// route resolves the login's account, inline or off the loop.
func (cc *clientConn) route() gnet.Action {
	e := cc.e
	id := cc.login.Identifier
	cc.state = stRouting
	cc.deadline = time.Now().Add(e.opt.BackendTimeout)
	if e.opt.Router.Inline() {
		res, err := e.opt.Router.Resolve(context.Background(), id)
		return cc.routed(res, err)
	}
	attempt := cc.attempt
	ok := e.goBounded(func() {
		ctx, cancel := context.WithTimeout(context.Background(), e.opt.BackendTimeout)
		res, err := e.opt.Router.Resolve(ctx, id)
		cancel()
		cc.post(func() gnet.Action {
			if cc.attempt != attempt || cc.state != stRouting {
				return gnet.None
			}
			return cc.routed(res, err)
		})
	})
	if !ok {
		return cc.loginFailed(protocols.FailTempRouting, nil)
	}
	return gnet.None
}

func (cc *clientConn) routed(res router.Result, err error) gnet.Action {
	e := cc.e
	if cc.ls.Passthrough == "" {
		e.opt.Observer.Route(res, err)
	}
	if err != nil {
		if errors.Is(err, router.ErrNoRoute) {
			e.log.Info("login refused: no route", "account", cc.account, "client", cc.fwd.Client)
			return cc.loginFailedAs(outcomeNoRoute, protocols.FailRejected, nil)
		}
		e.log.Warn("routing failed", "account", cc.account, "err", err)
		return cc.loginFailed(protocols.FailTempRouting, nil)
	}
	dest := e.destination(res.Destination)
	if dest == nil {
		e.log.Error("route names an unknown destination", "account", cc.account, "destination", res.Destination)
		return cc.loginFailed(protocols.FailTempRouting, nil)
	}
	dp, ok := dest.Protocols[cc.ls.Protocol]
	if !ok {
		e.log.Error("destination does not serve the protocol", "destination", dest.ID, "protocol", cc.ls.Protocol)
		return cc.loginFailed(protocols.FailUnavailable, nil)
	}
	if dp.TLS == TLSPlain && !dest.AllowPlaintextAuth && cc.ls.Passthrough == "" {
		e.log.Error("destination refuses credentials over plaintext (allow_plaintext_auth = false)", "destination", dest.ID)
		return cc.loginFailed(protocols.FailUnavailable, nil)
	}
	if h := e.opt.Health; h != nil && !h.Allow(dest.ID, cc.ls.Protocol) {
		e.log.Warn("destination marked down; login refused for now", "destination", dest.ID, "protocol", cc.ls.Protocol, "account", cc.account)
		return cc.loginFailed(protocols.FailUnavailable, nil)
	}
	cc.dest = dest
	cc.state = stBackend
	return cc.dial(dest, dp)
}

// post runs fn on the connection's loop; fn may write and may close.
func (cc *clientConn) post(fn func() gnet.Action) {
	err := cc.loop.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		if cc.state == stDone || cc.state == stClosing {
			return nil
		}
		if fn() == gnet.Close {
			cc.closeNow()
		}
		return nil
	}))
	if err != nil {
		_ = cc.c.Close()
	}
}

// closeNow closes the client from loop code that is not its own callback.
func (cc *clientConn) closeNow() {
	if cc.state == stDone {
		return
	}
	cc.state = stClosing
	_ = cc.loop.el.Close(cc.c)
}

// loginFailed reports a failed login to the front end and resumes the
// dialogue (pipelined commands included).
func (cc *clientConn) loginFailed(kind protocols.FailKind, relay []byte) gnet.Action {
	outcome := outcomeFailure
	switch kind {
	case protocols.FailUnavailable:
		outcome = outcomeBackendFailure
	case protocols.FailTempRouting:
		outcome = outcomeTempFail
	}
	return cc.loginFailedAs(outcome, kind, relay)
}

// loginFailedAs is loginFailed with the outcome the metrics record.
func (cc *clientConn) loginFailedAs(outcome string, kind protocols.FailKind, relay []byte) gnet.Action {
	e := cc.e
	if cc.ls.Passthrough == "" {
		e.opt.Observer.Auth(cc.ls.Protocol, outcome)
	}
	e.Stats.LoginFailures.Add(1)
	if kind != protocols.FailRejected {
		e.Stats.BackendFailures.Add(1)
	}
	if cc.back != nil {
		cc.back.drop()
		cc.back = nil
	}
	cc.login, cc.dest = nil, nil
	cc.state = stPreauth
	cc.deadline = time.Now().Add(cc.ls.PreauthTimeout)
	out, closeConn := cc.front.LoginFailed(kind, relay, cc.loop.out[:0])
	if a := cc.write(out); a != gnet.None {
		return a
	}
	if closeConn {
		return cc.abort()
	}
	if len(cc.in) > 0 {
		return cc.process()
	}
	return gnet.None
}

// tick enforces deadlines; it runs on the loop from the sweep.
func (cc *clientConn) tick(now time.Time) {
	if cc.state == stBridging {
		if cc.back != nil && cc.tryHandoff(nil) {
			return
		}
	}
	if cc.state == stDelayed && (!now.Before(cc.holdEnd) || cc.e.delayedUntil(cc.account, now).IsZero()) {
		if cc.route() == gnet.Close { // the delay ended or was lifted
			cc.closeNow()
		}
		return
	}
	if cc.deadline.IsZero() || now.Before(cc.deadline) {
		return
	}
	switch cc.state {
	case stRelay:
		cc.relayTick()
	case stProxyHeader:
		if cc.ls.ProxyProtocol == ProxyOptional {
			if cc.start() == gnet.Close {
				cc.closeNow()
			}
			return
		}
		cc.closeNow()
	case stPreauth:
		cc.write(cc.front.Timeout(cc.loop.out[:0]))
		cc.e.log.Info("pre-auth timeout", "client", cc.fwd.Client, "listener", cc.ls.ID)
		cc.closeNow()
	case stDelayed:
		cc.e.log.Info("held login refused for now: the account is still delayed", "account", cc.account)
		if cc.loginFailed(protocols.FailTempRouting, nil) == gnet.Close {
			cc.closeNow()
		}
	case stRouting, stBackend:
		cc.e.log.Warn("backend timeout", "account", cc.account, "destination", destID(cc.dest))
		if cc.state == stBackend {
			cc.e.healthFailure(cc.dest, cc.ls.Protocol)
		}
		if cc.loginFailed(protocols.FailUnavailable, nil) == gnet.Close {
			cc.closeNow()
		}
	default:
		cc.closeNow()
	}
}

// goodbye runs on the loop when the proxy shuts down.
func (cc *clientConn) goodbye() {
	if cc.rel != nil {
		cc.relayGoodbye()
		return
	}
	switch cc.state {
	case stPreauth:
		cc.write(cc.front.ShuttingDown(cc.loop.out[:0]))
	case stRouting, stDelayed, stBackend:
		if cc.back != nil {
			cc.back.drop()
			cc.back = nil
		}
		out, _ := cc.front.LoginFailed(protocols.FailUnavailable, nil, cc.loop.out[:0])
		out = cc.front.ShuttingDown(out)
		cc.write(out)
	}
	cc.closeNow()
}

func destID(d *Destination) string {
	if d == nil {
		return ""
	}
	return d.ID
}

// closed runs from OnClose.
func (cc *clientConn) closed(err error) {
	e := cc.e
	e.fdsInUse.Add(-1)
	cc.ls.conns.Add(-1)
	delete(cc.loop.clients, cc)
	if cc.counted {
		cc.counted = false
		e.opt.Observer.ConnLeft(cc.ls.ID, cc.ls.Protocol)
	}
	if cc.rel != nil && cc.state != stDone {
		e.Stats.Relaying.Add(-1)
		// The audit line of a session that stayed in the reactor.
		e.log.Info("relayed session ended", "session", cc.id, "protocol", cc.ls.Protocol, "listener", cc.ls.ID,
			"client", cc.fwd.Client, "last_account", cc.account, "duration", time.Since(cc.accepted).Round(time.Millisecond))
	}
	if cc.state == stDone {
		return // handed over to the bridge, or refused at accept
	}
	cc.state = stDone
	cc.releaseHandshake()
	if cc.tlsT != nil {
		_ = cc.tlsT.Close() // wakes a handshake goroutine blocked in Read
	}
	if cc.rel != nil {
		cc.dropLeg() // an idle HTTP leg may serve the next client
	} else if cc.back != nil {
		cc.back.drop()
		cc.back = nil
	}
	cc.login = nil
	if err != nil && !errors.Is(err, net.ErrClosed) {
		e.log.Debug("client connection closed", "client", cc.fwd.Client, "err", err)
	}
}
