package accept

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/quota"
	"github.com/switchyard-mail/switchyard/engine/sock"
	"github.com/switchyard-mail/switchyard/internal/fdbudget"
)

// Package accept takes the engine's clients: it binds the listeners,
// accepts on each bound address with one goroutine blocked in Go's
// netpoller, counts every client against the limits (descriptors, the
// listener's max_connections, the per-address cap) before it costs
// anything, refuses in the protocol's words, and enrolls the rest into a
// gnet event loop (gnet's least-connections balancer picks the loop). The
// engine accepts itself rather than letting gnet accept: gnet v2.9.4 stops
// the whole engine when accept(2) fails with EMFILE; here a reserve
// descriptor answers the client instead (shed).
//
// A client's Slot is its place under the limits, released once when the
// client is gone, by whoever holds the session then.

// Listener is one listener's admission state.
type Listener struct {
	*options.Listener
	// Busy is the protocol's "too busy" reply (plaintext listeners).
	Busy []byte
	// Bound are the addresses bound (after Bind): with port 0 configured,
	// the ports the kernel chose.
	Bound []netip.AddrPort
	// Conns counts clients until gone (bridged and HTTP/2 included);
	// Handshakes the TLS handshakes in flight.
	Conns      atomic.Int64
	Handshakes atomic.Int64
	PerAddr    quota.Counter
	// Owner is the engine's own state for the listener, handed back with
	// each accepted client.
	Owner any
}

// Accepted is the gnet context of a client socket being enrolled.
type Accepted struct {
	Listener *Listener
	Remote   netip.AddrPort
	Local    netip.AddrPort
	Slot     Slot
	At       time.Time
}

// Env is what the acceptors need of the engine.
type Env struct {
	FDs *fdbudget.Budget
	// Draining: new clients get the protocol's "too busy" reply.
	Draining func() bool
	// Register hands a client to gnet's balancer.
	Register func(ctx context.Context) (<-chan gnet.RegisteredResult, error)
	// LoopsDown is closed once gnet's loops stopped.
	LoopsDown         <-chan struct{}
	Accepted, Refused *atomic.Int64
	Refusal           func(reason string)
	Observer          options.Observer
	LogLimited        func(key, msg string, args ...any)
}

// Set is every acceptor of an engine.
type Set struct {
	env       *Env
	mu        sync.Mutex
	acceptors []*acceptor
	wg        sync.WaitGroup
	shut      bool

	reserveMu sync.Mutex
	reserveFD int // kept open to be given up when accept hits EMFILE
}

// NewSet prepares the acceptors of env's engine.
func NewSet(env *Env) *Set { return &Set{env: env, reserveFD: -1} }

// Slot is what an accepted client holds of the listener's limits: a
// place under max_connections and, once its address is known, under the
// per-address cap. It is released once, when the client is gone: closed in
// the reactor, or at the end of its bridged or HTTP/2 session.
//
// One owner at a time releases it: the connection's loop, then, after a
// hand-off, whoever holds the session (the bridge's end callback, the
// HTTP/2 connection's Close).
type Slot struct {
	ls      *Listener
	key     netip.Addr
	keyHeld bool
	done    bool
}

// Release gives the place back (once).
func (s *Slot) Release() {
	if s == nil || s.done {
		return
	}
	s.done = true
	s.ls.Conns.Add(-1)
	if s.keyHeld {
		s.ls.PerAddr.Release(s.key)
	}
}

// HandOff gives the slot to a session that leaves the reactor.
func (s *Slot) HandOff() *Slot {
	out := new(Slot)
	*out = *s
	s.done = true
	return out
}

// TakeAddr counts the client's address under the listener's per-address
// cap; false means the address holds its share already.
func (s *Slot) TakeAddr(a netip.Addr) bool {
	if s.keyHeld {
		return true
	}
	k := quota.Key(a)
	if !s.ls.PerAddr.Acquire(k, s.ls.MaxConnsPerAddr) {
		return false
	}
	s.key, s.keyHeld = k, true
	return true
}

// acceptor accepts on one bound address of a listener.
type acceptor struct {
	set   *Set
	env   *Env
	ls    *Listener
	ln    *net.TCPListener
	bound netip.AddrPort
	// enrolling carries enrollments in flight to the goroutine that waits
	// for their outcome, so that accepting the next client does not wait
	// for a loop's round trip. Its capacity bounds them.
	enrolling chan enrollment
}

// enrollment is a client handed to gnet whose outcome is awaited.
type enrollment struct {
	tc     *net.TCPConn
	slot   Slot
	result <-chan gnet.RegisteredResult
}

// maxEnrolling bounds the enrollments in flight per acceptor.
const maxEnrolling = 128

// Bind opens the sockets of listener ls. A failure names the listener.
func (s *Set) Bind(ls *Listener) error {
	// Keep-alive is set once on the listening socket, which accepted
	// sockets inherit on Linux, rather than with four setsockopt(2) calls
	// per accepted connection.
	lc := net.ListenConfig{KeepAlive: -1, Control: sock.ListenerKeepAlive}
	for _, a := range ls.Addrs {
		ln, err := lc.Listen(context.Background(), "tcp", a)
		if err != nil {
			s.Close()
			return fmt.Errorf("listener %s: %w", ls.ID, err)
		}
		tl := ln.(*net.TCPListener)
		s.env.FDs.Acquire(fdbudget.Base, 1)
		acc := &acceptor{set: s, env: s.env, ls: ls, ln: tl, bound: sock.AddrPort(tl.Addr())}
		ls.Bound = append(ls.Bound, acc.bound)
		s.mu.Lock()
		s.acceptors = append(s.acceptors, acc)
		s.mu.Unlock()
	}
	return nil
}

// Start starts accepting, with a reserve descriptor for EMFILE; false
// when Shut came first.
func (s *Set) Start() bool {
	s.reserveMu.Lock()
	s.reserveFD = sock.OpenReserve()
	s.reserveMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return false
	}
	for _, a := range s.acceptors {
		s.wg.Add(1)
		go a.run(&s.wg)
	}
	return true
}

// Shut closes the listeners for good (the loops stopped) and waits for
// the acceptors.
func (s *Set) Shut() {
	s.mu.Lock()
	s.shut = true
	s.mu.Unlock()
	s.Close()
	s.wg.Wait()
}

// Close closes the listeners: acceptors stop, clients being enrolled
// carry on.
func (s *Set) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.acceptors {
		_ = a.ln.Close()
	}
}

// run accepts until the listener is closed.
func (a *acceptor) run(wg *sync.WaitGroup) {
	defer wg.Done()
	a.enrolling = make(chan enrollment, maxEnrolling)
	collected := make(chan struct{})
	go a.collect(collected)
	defer func() {
		close(a.enrolling)
		<-collected
	}()
	var backoff time.Duration
	for {
		tc, err := a.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if sock.IsFDExhaustion(err) {
				if a.shed() {
					backoff = 0
					continue
				}
			} else {
				a.env.LogLimited("accept", "accept failed", "listener", a.ls.ID, "err", err)
			}
			// Nothing could be done about it now: do not spin.
			backoff = min(max(2*backoff, time.Millisecond), 100*time.Millisecond)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		a.admit(tc)
	}
}

// shed handles accept(2) failing for want of a descriptor: it gives up the
// reserve descriptor, accepts the waiting client with it, tells it the
// server is too busy, closes it and takes the reserve back. It reports
// whether a client was answered.
func (a *acceptor) shed() bool {
	s, e := a.set, a.env
	s.reserveMu.Lock()
	defer s.reserveMu.Unlock()
	if s.reserveFD >= 0 {
		_ = unix.Close(s.reserveFD)
		s.reserveFD = -1
	}
	tc, err := a.ln.AcceptTCP()
	answered := false
	if err == nil {
		a.refuse(tc, "fd_exhausted")
		answered = true
	}
	s.reserveFD = sock.OpenReserve()
	e.LogLimited("emfile", "out of file descriptors at accept: refusing new connections", "listener", a.ls.ID,
		"in_use", e.FDs.Used(), "limit", e.FDs.Limit())
	return answered
}

// admit counts a new client against every limit and enrolls it into a
// loop, or refuses it in the protocol's words.
func (a *acceptor) admit(tc *net.TCPConn) {
	e, ls := a.env, a.ls
	e.Accepted.Add(1)
	remote := sock.AddrPort(tc.RemoteAddr())
	if e.Draining() {
		a.refuse(tc, "draining")
		return
	}
	// The socket, and gnet's copy of it while it is enrolled.
	if !e.FDs.TryAcquire(fdbudget.Client, 2) {
		a.refuse(tc, "fd_budget")
		return
	}
	slot := Slot{ls: ls}
	if n := ls.Conns.Add(1); ls.MaxConnections > 0 && n > int64(ls.MaxConnections) {
		ls.Conns.Add(-1)
		e.FDs.Release(fdbudget.Client, 2)
		a.refuse(tc, "limit")
		return
	}
	// Behind a trusted load balancer the address that counts comes with
	// the PROXY header; it is counted then (conn.proxyHeader).
	proxied := ls.ProxyProtocol != options.ProxyOff && sock.Trusted(ls.ProxyTrusted, remote.Addr())
	if !proxied && !slot.TakeAddr(remote.Addr()) {
		slot.Release()
		e.FDs.Release(fdbudget.Client, 2)
		a.refuse(tc, "per_address")
		return
	}
	acc := &Accepted{Listener: ls, Remote: remote, Local: sock.AddrPort(tc.LocalAddr()), Slot: slot, At: time.Now()}
	ctx := gnet.NewNetConnContext(gnet.NewContext(context.Background(), acc), tc)
	ch, err := e.Register(ctx)
	if err != nil {
		a.enrolled(tc, slot, err)
		return
	}
	a.enrolling <- enrollment{tc: tc, slot: slot, result: ch}
}

// collect waits for the outcome of each enrollment in turn, until the
// acceptor stops.
func (a *acceptor) collect(done chan<- struct{}) {
	defer close(done)
	for en := range a.enrolling {
		select {
		case res := <-en.result:
			a.enrolled(en.tc, en.slot, res.Err)
		case <-a.env.LoopsDown:
			select {
			case res := <-en.result:
				a.enrolled(en.tc, en.slot, res.Err)
			default:
				// A loop that stopped first never answers.
				a.enrolled(en.tc, en.slot, errors.New("event loops stopped"))
			}
		}
	}
}

// enrolled settles an enrollment: gnet duplicated the socket and closes
// tc; if the loop never took the connection, nothing else holds its slot.
func (a *acceptor) enrolled(tc *net.TCPConn, slot Slot, err error) {
	e := a.env
	e.FDs.Release(fdbudget.Client, 1)
	if err == nil {
		return
	}
	slot.Release()
	e.FDs.Release(fdbudget.Client, 1)
	_ = tc.Close()
	if !e.Draining() {
		e.LogLimited("enroll", "could not hand an accepted connection to an event loop", "listener", a.ls.ID, "err", err)
	}
}

// refuse answers a client that is not admitted: the protocol's "too busy"
// on a plaintext listener (a TLS client could not read it), then close.
func (a *acceptor) refuse(tc *net.TCPConn, reason string) {
	e, ls := a.env, a.ls
	e.Refused.Add(1)
	e.Refusal(reason)
	e.Observer.ConnRefused(ls.ID, ls.Protocol, reason)
	e.LogLimited("refuse-"+reason, "connection refused", "listener", ls.ID, "client", tc.RemoteAddr().String(), "reason", reason)
	if ls.TLS != options.TLSImplicit && len(ls.Busy) > 0 {
		_ = tc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = tc.Write(ls.Busy)
	}
	_ = tc.Close()
}
