// Package engine is switchyard's reactor: it accepts every listener's
// connections, runs each one's pre-authentication dialogue on a gnet event
// loop, dials the backend, replays the login and hands both sockets to the
// bridge; relayed sessions (SMTP/LMTP, HTTP/1.1) stay on the loop. Nothing
// here blocks an event loop: TLS handshakes run on goroutines that live
// only for the handshake, backend dials and remote lookups on a bounded
// set of short-lived goroutines that post their result back to the loop.
// See docs/ARCHITECTURE.md for the ownership rules and docs/LIMITS.md for
// every limit.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/switchyard-mail/switchyard/engine/accept"
	"github.com/switchyard-mail/switchyard/engine/backend"
	"github.com/switchyard-mail/switchyard/engine/gate"
	"github.com/switchyard-mail/switchyard/engine/h2"
	"github.com/switchyard-mail/switchyard/engine/leg"
	"github.com/switchyard-mail/switchyard/engine/login"
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/quota"
	"github.com/switchyard-mail/switchyard/engine/relay"
	"github.com/switchyard-mail/switchyard/engine/session"
	"github.com/switchyard-mail/switchyard/engine/sessions"
	"github.com/switchyard-mail/switchyard/internal/fdbudget"
	"github.com/switchyard-mail/switchyard/limits"
)

// Engine runs the listeners.
type Engine struct {
	opt  options.Options
	lim  options.Limits
	log  *slog.Logger
	gnet gnet.Engine
	fds  *fdbudget.Budget

	listeners []*listenerState
	accept    *accept.Set

	hs    quota.Handshakes
	dials atomic.Int64 // backend dials and blocking lookups in flight

	loopsMu   sync.Mutex
	loops     map[gnet.EventLoop]*loop
	loopList  atomic.Pointer[[]*loop]
	lastSweep time.Time // the ticker goroutine's

	reg      sessions.Table // HTTP/2 connections and streams
	refusals sync.Map       // reason -> *atomic.Int64
	logGate  sync.Map       // key -> *logGate
	dialer   backend.Dialer
	backend  backend.Runner // the logins' backend side
	gate     *gate.Gate
	legs     *leg.Env // what relay legs share
	streams  *h2.Streams

	nextID atomic.Uint64
	// sessionPrefix makes the session ids announced to backends (XCLIENT
	// SESSION, PROXY v2 unique id) unique across restarts and instances.
	sessionPrefix string
	loopsUp       chan struct{} // the first tick: gnet's loops exist
	startOnce     sync.Once
	loopsDown     chan struct{} // closed when it has
	started       chan struct{} // every listener accepts
	stopOnce      sync.Once
	draining      atomic.Bool
	stopping      atomic.Bool                                     // Stop was called: a drain cannot be undone
	dests         atomic.Pointer[map[string]*options.Destination] // swapped by SetDestinations

	Stats Stats
}

// Stats are the engine's counters (Prometheus export comes with the admin
// API).
type Stats struct {
	Accepted, RefusedBusy, Logins, LoginFailures, BackendFailures, Bridged atomic.Int64
	// Relayed sessions (SMTP/LMTP routed per recipient, HTTP/1.1) open now.
	Relaying atomic.Int64
}

type listenerState struct {
	*options.Listener
	driver options.LoginDriver // set on other listeners
	relay  options.RelayDriver // set on Relay listeners
	h2drv  options.H2Driver    // set on H2 listeners
	alpn   h2.ALPN
	acc    *accept.Listener // counters, bound addresses, "too busy" reply
}

// newSession picks the session kind of a new connection.
func (ls *listenerState) newSession(c *conn) session.Kind {
	implicit := ls.TLS == options.TLSImplicit
	switch {
	case ls.relay != nil:
		return relay.New(c, ls.relay.NewRelay(ls.Listener, implicit))
	case ls.Passthrough != "":
		return login.NewPass(c, ls.driver.NewFrontEnd(ls.Listener, implicit))
	}
	return login.New(c, ls.driver.NewFrontEnd(ls.Listener, implicit))
}

// New validates the options and prepares an engine.
func New(opt options.Options) (*Engine, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.BackendTimeout <= 0 {
		opt.BackendTimeout = limits.BackendTimeout
	}
	if opt.MaxDials <= 0 {
		opt.MaxDials = limits.MaxDials
	}
	if opt.Loops <= 0 {
		opt.Loops = runtime.GOMAXPROCS(0)
	}
	if opt.Observer == nil {
		opt.Observer = options.NoObserver{}
	}
	if opt.Router == nil || opt.Bridge == nil {
		return nil, errors.New("engine: router and bridge are required")
	}
	lim := opt.Limits.WithDefaults()
	if opt.FDs == nil {
		opt.FDs = fdbudget.New(lim.FDReserve)
	}
	e := &Engine{
		sessionPrefix: randomPrefix(),
		opt:           opt,
		lim:           lim,
		log:           opt.Logger,
		fds:           opt.FDs,
		loops:         map[gnet.EventLoop]*loop{},
		loopsUp:       make(chan struct{}),
		loopsDown:     make(chan struct{}),
		started:       make(chan struct{}),
		// Keep-alive on backend legs with the system's timers: one
		// setsockopt(2) per dial instead of four.
		dialer: backend.Dialer{
			Net:        net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: -1, Interval: -1, Count: -1}},
			Retries:    opt.ConnectRetries,
			LookupHost: opt.LookupHost,
		},
	}
	e.backend = backend.Runner{Dialer: &e.dialer, Observer: opt.Observer, FDs: opt.FDs, Health: opt.Health,
		InputCap: lim.BackendInputCap}
	e.gate = &gate.Gate{Router: opt.Router, Observer: opt.Observer, Health: opt.Health, Log: opt.Logger,
		Timeout: opt.BackendTimeout, Destination: e.destination, Spawn: e.goBounded,
		Refusal: e.refusal, LogLimited: e.logLimited}
	e.legs = &leg.Env{FDs: opt.FDs, Limits: &e.lim, Timeout: opt.BackendTimeout, Observer: opt.Observer,
		Dialer: &e.dialer, Spawn: e.goBounded, Refusal: e.refusal, Log: opt.Logger}
	e.accept = accept.NewSet(&accept.Env{FDs: opt.FDs, Draining: e.draining.Load,
		Register:  func(ctx context.Context) (<-chan gnet.RegisteredResult, error) { return e.gnet.Register(ctx) },
		LoopsDown: e.loopsDown, Accepted: &e.Stats.Accepted, Refused: &e.Stats.RefusedBusy,
		Refusal: e.refusal, Observer: opt.Observer, LogLimited: e.logLimited})
	e.streams = &h2.Streams{Gate: e.gate, Router: opt.Router, Observer: opt.Observer, Table: &e.reg,
		NextID: func() uint64 { return e.nextID.Add(1) }, Refusal: e.refusal, Log: opt.Logger}
	e.hs.Max, e.hs.PerListener, e.hs.PerAddr = lim.MaxHandshakes, lim.MaxHandshakesPerListener, lim.MaxHandshakesPerAddr
	for _, l := range opt.Listeners {
		d := opt.Drivers[l.Protocol]
		if d == nil {
			return nil, fmt.Errorf("listener %s: no driver for protocol %q", l.ID, l.Protocol)
		}
		if l.TLS != options.TLSPlain && opt.ServerTLS == nil {
			return nil, fmt.Errorf("listener %s: tls %s needs a certificate", l.ID, l.TLS)
		}
		ls := &listenerState{Listener: l}
		ls.acc = &accept.Listener{Listener: l, Owner: ls}
		if l.Relay {
			rd, ok := d.(options.RelayDriver)
			if !ok {
				return nil, fmt.Errorf("listener %s: protocol %q cannot relay sessions", l.ID, l.Protocol)
			}
			ls.relay = rd
			if l.CommandTimeout <= 0 {
				l.CommandTimeout = limits.CommandTimeout
			}
			if l.ReplyTimeout <= 0 {
				l.ReplyTimeout = limits.BackendReplyTimeout
			}
			ls.acc.Busy = rd.NewRelay(l, false).TooBusy(nil)
		} else {
			ld, ok := d.(options.LoginDriver)
			if !ok {
				return nil, fmt.Errorf("listener %s: protocol %q has no login dialogue (its listeners relay)", l.ID, l.Protocol)
			}
			ls.driver = ld
			ls.acc.Busy = ld.NewFrontEnd(l, false).TooBusy(nil)
		}
		if l.H2 {
			if hd, ok := d.(options.H2Driver); ok && l.TLS == options.TLSImplicit {
				ls.h2drv = hd
			}
		}
		if l.Passthrough != "" && opt.Destinations[l.Passthrough] == nil {
			return nil, fmt.Errorf("listener %s: unknown pass-through destination %q", l.ID, l.Passthrough)
		}
		if l.PreauthTimeout <= 0 {
			l.PreauthTimeout = limits.PreauthTimeout
		}
		e.listeners = append(e.listeners, ls)
	}
	e.dests.Store(&opt.Destinations)
	return e, nil
}

// SetDestinations replaces the destinations (a configuration reload).
// Logins and legs already dialed keep the destination they started with.
func (e *Engine) SetDestinations(m map[string]*options.Destination) error {
	for _, l := range e.opt.Listeners {
		if l.Passthrough != "" && m[l.Passthrough] == nil {
			return fmt.Errorf("listener %s: the pass-through destination %q is gone", l.ID, l.Passthrough)
		}
	}
	e.dests.Store(&m)
	return nil
}

// destination returns the destination named id, or nil.
func (e *Engine) destination(id string) *options.Destination { return (*e.dests.Load())[id] }

// Destination returns the destination named id as currently configured
// (reloads swap them), or nil.
func (e *Engine) Destination(id string) *options.Destination { return e.destination(id) }

// FDs is the descriptor budget the engine counts against (shared with the
// bridge and the HTTP/2 server).
func (e *Engine) FDs() *fdbudget.Budget { return e.fds }

// Run binds every listener and serves until Stop. It returns an error
// when a listener cannot be bound, and when gnet's engine stops by itself:
// the caller must treat that as fatal.
func (e *Engine) Run() error {
	for _, ls := range e.listeners {
		if err := e.accept.Bind(ls.acc); err != nil {
			return err
		}
	}
	e.fds.Acquire(fdbudget.Base, 1) // the reserve descriptor for EMFILE
	go func() {
		<-e.loopsUp
		if e.accept.Start() {
			close(e.started)
		}
	}()
	// gnet refuses to enroll connections into an engine without a listener
	// of its own; it gets one nobody can reach: a unix socket whose path is
	// removed as soon as it is bound (OnBoot).
	dummy, cleanup := unreachableAddr()
	h := &handler{e: e, cleanup: cleanup}
	err := gnet.Rotate(h, []string{dummy},
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(e.opt.Loops),
		gnet.WithLoadBalancing(gnet.LeastConnections),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithTicker(true),
		gnet.WithLogger(gnetLogger{e.log}),
	)
	close(e.loopsDown)
	e.startOnce.Do(func() { close(e.loopsUp) })
	e.accept.Shut()
	if err != nil {
		return err
	}
	if !e.draining.Load() {
		return errors.New("engine: event loops stopped unexpectedly")
	}
	return nil
}

// unreachableAddr returns a unix socket address in a fresh private
// directory, and a function removing both once the socket is bound;
// without a writable temporary directory, a random abstract address.
func unreachableAddr() (string, func()) {
	dir, err := os.MkdirTemp("", "switchyard-")
	if err != nil {
		return "unix://@switchyard-" + randomPrefix() + randomPrefix(), func() {}
	}
	path := filepath.Join(dir, "r.sock")
	return "unix://" + path, func() {
		_ = os.Remove(path)
		_ = os.Remove(dir)
	}
}

// Drain stops taking new connections: new clients get the protocol's "too
// busy" reply and close, readiness goes false; connections already here
// carry on.
func (e *Engine) Drain() { e.draining.Store(true) }

// Undrain takes new connections again after Drain (not after Stop).
func (e *Engine) Undrain() {
	if !e.stopping.Load() {
		e.draining.Store(false)
	}
}

// Draining reports whether Drain (or Stop) was called.
func (e *Engine) Draining() bool { return e.draining.Load() }

// Started is closed once every listener accepts.
func (e *Engine) Started() <-chan struct{} { return e.started }

// Addrs returns the addresses listener id is bound to (after Started):
// with port 0 in the configuration, the ports the kernel chose.
func (e *Engine) Addrs(id string) []netip.AddrPort {
	for _, ls := range e.listeners {
		if ls.ID == id {
			return append([]netip.AddrPort(nil), ls.acc.Bound...)
		}
	}
	return nil
}

// Stop closes the listeners and every connection in the reactor. Bridged
// sessions live in the bridge and are stopped by its own Shutdown.
func (e *Engine) Stop(ctx context.Context) error {
	var err error
	e.stopOnce.Do(func() {
		e.stopping.Store(true)
		e.draining.Store(true)
		e.accept.Close()
		select {
		case <-e.started:
			e.sayGoodbye()
			e.waitRelays(ctx)
			e.closeH2()
			err = e.gnet.Stop(ctx)
		default:
		}
	})
	return err
}

// sayGoodbye tells every connection still in the reactor that the proxy is
// going away (IMAP "* BYE", POP3 "-ERR", SMTP "421") and closes it; logins
// being replayed get the protocol's temporary failure first. Each loop does
// its own connections; this waits up to a second for them.
func (e *Engine) sayGoodbye() {
	e.onLoops(func(l *loop) {
		for c := range l.conns {
			c.goodbye()
		}
	})
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
