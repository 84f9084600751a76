// Package engine is switchyard's reactor: one gnet engine over every
// listener runs each connection's pre-authentication dialogue, dials the
// backend, replays the login and hands both sockets to the bridge. Nothing
// here blocks an event loop: TLS handshakes run on goroutines that live only
// for the handshake, backend dials and remote lookups on a bounded set of
// short-lived goroutines that post their result back to the loop.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Engine runs the listeners.
type Engine struct {
	opt  Options
	log  *slog.Logger
	gnet gnet.Engine

	byAddr map[netip.AddrPort]*listenerState // as bound, IPv4 unmapped
	byPort map[int][]*listenerState          // for wildcard binds

	handshakes atomic.Int64 // client TLS handshakes in flight
	dials      atomic.Int64 // backend dials and blocking lookups in flight
	fdsInUse   atomic.Int64 // sockets held by the reactor
	fdLimit    int64

	loopsMu sync.Mutex
	loops   map[gnet.EventLoop]*loopState

	nextID atomic.Uint64
	// sessionPrefix makes the session ids announced to backends (XCLIENT
	// SESSION, PROXY v2 unique id) unique across restarts and instances.
	sessionPrefix string
	started       chan struct{}
	stopOnce      sync.Once
	draining      atomic.Bool
	delays        delays
	dests         atomic.Pointer[map[string]*Destination] // swapped by SetDestinations
	h2Conns       sync.Map                                // *h2Conn: connections served by ServeH2

	Stats Stats
}

// Stats are the engine's counters (Prometheus export comes with the admin
// API).
type Stats struct {
	Accepted, RefusedBusy, Logins, LoginFailures, BackendFailures, Bridged atomic.Int64
	// Relayed sessions (SMTP/LMTP routed per recipient) open right now.
	Relaying atomic.Int64
}

type listenerState struct {
	*Listener
	driver Driver
	relay  RelayDriver // set on Relay listeners
	h2drv  H2Driver    // set on H2 listeners
	alpn   alpnConfigs
	conns  atomic.Int64
}

// New validates the options and prepares an engine.
func New(opt Options) (*Engine, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.BackendTimeout <= 0 {
		opt.BackendTimeout = 10 * time.Second
	}
	if opt.HandshakeTimeout <= 0 {
		opt.HandshakeTimeout = 10 * time.Second
	}
	if opt.MaxHandshakes <= 0 {
		opt.MaxHandshakes = 1024
	}
	if opt.MaxDials <= 0 {
		opt.MaxDials = 4096
	}
	if opt.Loops <= 0 {
		opt.Loops = runtime.GOMAXPROCS(0)
	}
	if opt.FDHeadroom <= 0 {
		opt.FDHeadroom = 512
	}
	if opt.Observer == nil {
		opt.Observer = noObserver{}
	}
	if opt.Router == nil || opt.Bridge == nil {
		return nil, errors.New("engine: router and bridge are required")
	}
	e := &Engine{
		sessionPrefix: randomPrefix(),
		opt:           opt,
		log:           opt.Logger,
		byAddr:        map[netip.AddrPort]*listenerState{},
		byPort:        map[int][]*listenerState{},
		loops:         map[gnet.EventLoop]*loopState{},
		started:       make(chan struct{}),
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err == nil {
		e.fdLimit = int64(rl.Cur)
	} else {
		e.fdLimit = 1024
	}
	for _, l := range opt.Listeners {
		d := opt.Drivers[l.Protocol]
		if d == nil {
			return nil, fmt.Errorf("listener %s: no driver for protocol %q", l.ID, l.Protocol)
		}
		if l.TLS != TLSPlain && opt.ServerTLS == nil {
			return nil, fmt.Errorf("listener %s: tls %s needs a certificate", l.ID, l.TLS)
		}
		ls := &listenerState{Listener: l, driver: d}
		if l.Relay {
			rd, ok := d.(RelayDriver)
			if !ok {
				return nil, fmt.Errorf("listener %s: protocol %q cannot relay sessions", l.ID, l.Protocol)
			}
			ls.relay = rd
			if l.CommandTimeout <= 0 {
				l.CommandTimeout = 5 * time.Minute
			}
			if l.ReplyTimeout <= 0 {
				l.ReplyTimeout = 10 * time.Minute
			}
		}
		if l.H2 {
			if hd, ok := d.(H2Driver); ok && l.TLS == TLSImplicit {
				ls.h2drv = hd
			}
		}
		if l.Passthrough != "" && opt.Destinations[l.Passthrough] == nil {
			return nil, fmt.Errorf("listener %s: unknown pass-through destination %q", l.ID, l.Passthrough)
		}
		for _, a := range l.Addrs {
			tcp, err := net.ResolveTCPAddr("tcp", a)
			if err != nil {
				return nil, fmt.Errorf("listener %s: bind %q: %w", l.ID, a, err)
			}
			if tcp.IP == nil || tcp.IP.IsUnspecified() {
				e.byPort[tcp.Port] = append(e.byPort[tcp.Port], ls)
			} else {
				e.byAddr[unmapped(tcp.AddrPort())] = ls
			}
		}
	}
	e.dests.Store(&opt.Destinations)
	return e, nil
}

// SetDestinations replaces the destinations (a configuration reload).
// Logins and legs already dialed keep the destination they started with.
func (e *Engine) SetDestinations(m map[string]*Destination) error {
	for _, l := range e.opt.Listeners {
		if l.Passthrough != "" && m[l.Passthrough] == nil {
			return fmt.Errorf("listener %s: the pass-through destination %q is gone", l.ID, l.Passthrough)
		}
	}
	e.dests.Store(&m)
	return nil
}

// destination returns the destination named id, or nil.
func (e *Engine) destination(id string) *Destination { return (*e.dests.Load())[id] }

// Destination returns the destination named id as currently configured
// (reloads swap them), or nil.
func (e *Engine) Destination(id string) *Destination { return e.destination(id) }

// Run serves until Stop. It returns an error when a listener cannot be
// bound, and also when gnet's engine stops by itself (it does so on fd
// exhaustion at accept): the caller must treat that as fatal.
func (e *Engine) Run() error {
	var addrs []string
	for _, l := range e.opt.Listeners {
		for _, a := range l.Addrs {
			// gnet reports a refused bind as "setsockopt: bad file
			// descriptor"; binding once here names the listener and the
			// real reason (address in use, permission denied).
			ln, err := net.Listen("tcp", a)
			if err != nil {
				return fmt.Errorf("listener %s: %w", l.ID, err)
			}
			_ = ln.Close()
			addrs = append(addrs, "tcp://"+a)
		}
	}
	h := &handler{e: e}
	err := gnet.Rotate(h, addrs,
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(e.opt.Loops),
		gnet.WithReuseAddr(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithTCPKeepAlive(5*time.Minute),
		gnet.WithTicker(true),
		gnet.WithLogger(gnetLogger{e.log}),
	)
	if err != nil {
		return err
	}
	if !e.draining.Load() {
		return errors.New("engine: event loops stopped unexpectedly (descriptor exhaustion?)")
	}
	return nil
}

// Drain stops taking new connections: new clients get the protocol's "too
// busy" reply and close, readiness goes false; connections already here
// carry on.
func (e *Engine) Drain() { e.draining.Store(true) }

// Draining reports whether Drain (or Stop) was called.
func (e *Engine) Draining() bool { return e.draining.Load() }

// Started is closed once every listener is bound.
func (e *Engine) Started() <-chan struct{} { return e.started }

// Stop closes the listeners and every pre-auth connection. Bridged sessions
// live in the bridge and are stopped by its own Shutdown.
func (e *Engine) Stop(ctx context.Context) error {
	var err error
	e.stopOnce.Do(func() {
		e.draining.Store(true)
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
	e.loopsMu.Lock()
	loops := make([]*loopState, 0, len(e.loops))
	for _, l := range e.loops {
		loops = append(loops, l)
	}
	e.loopsMu.Unlock()
	done := make(chan struct{}, len(loops))
	for _, l := range loops {
		l := l
		err := l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			defer func() { done <- struct{}{} }()
			for cc := range l.clients {
				cc.goodbye()
			}
			return nil
		}))
		if err != nil {
			done <- struct{}{}
		}
	}
	timeout := time.After(time.Second)
	for range loops {
		select {
		case <-done:
		case <-timeout:
			return
		}
	}
}

// listenerFor finds the listener a connection was accepted on.
func (e *Engine) listenerFor(local net.Addr) *listenerState {
	tcp, ok := local.(*net.TCPAddr)
	if !ok {
		return nil
	}
	ap := tcp.AddrPort()
	if ls := e.byAddr[unmapped(ap)]; ls != nil { // no allocation per accept
		return ls
	}
	if l := e.byPort[int(ap.Port())]; len(l) > 0 {
		return l[0]
	}
	return nil
}

// fdBudgetOK reports whether one more socket fits below the descriptor
// limit with headroom (gnet's engine dies when accept hits EMFILE).
func (e *Engine) fdBudgetOK(extra int64) bool {
	return e.fdsInUse.Load()+extra+int64(e.opt.FDHeadroom) < e.fdLimit
}
