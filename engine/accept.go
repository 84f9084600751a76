package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/quota"
	"github.com/switchyard-mail/switchyard/engine/sock"
	"github.com/switchyard-mail/switchyard/internal/fdbudget"
)

// The engine accepts connections itself and enrolls each into a gnet event
// loop, rather than letting gnet accept: gnet v2.9.4 stops the whole engine
// when accept(2) fails with EMFILE, and accepting here is also where a
// connection is counted (listener, client address, descriptors) before it
// costs anything. Each bound address has one acceptor goroutine, blocked in
// Go's netpoller; gnet's least-connections balancer picks the loop.

// accepted is the gnet context of a client socket being enrolled.
type accepted struct {
	ls     *listenerState
	remote netip.AddrPort
	local  netip.AddrPort
	slot   clientSlot
	at     time.Time
}

// clientSlot is what an accepted client holds of the listener's limits: a
// place under max_connections and, once its address is known, under the
// per-address cap. It is released once, when the client is gone: closed in
// the reactor, or at the end of its bridged or HTTP/2 session.
//
// One owner at a time releases it: the connection's loop, then, after a
// hand-off, whoever holds the session (the bridge's end callback, the
// HTTP/2 connection's Close).
type clientSlot struct {
	ls      *listenerState
	key     netip.Addr
	keyHeld bool
	done    bool
}

func (s *clientSlot) release() {
	if s == nil || s.done {
		return
	}
	s.done = true
	s.ls.conns.Add(-1)
	if s.keyHeld {
		s.ls.perAddr.Release(s.key)
	}
}

// handOff gives the slot to a session that leaves the reactor.
func (s *clientSlot) handOff() *clientSlot {
	out := new(clientSlot)
	*out = *s
	s.done = true
	return out
}

// takeAddr counts the client's address under the listener's per-address
// cap; false means the address holds its share already.
func (s *clientSlot) takeAddr(a netip.Addr) bool {
	if s.keyHeld {
		return true
	}
	k := quota.Key(a)
	if !s.ls.perAddr.Acquire(k, s.ls.MaxConnsPerAddr) {
		return false
	}
	s.key, s.keyHeld = k, true
	return true
}

// acceptor accepts on one bound address of a listener.
type acceptor struct {
	e     *Engine
	ls    *listenerState
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
	slot   clientSlot
	result <-chan gnet.RegisteredResult
}

// maxEnrolling bounds the enrollments in flight per acceptor.
const maxEnrolling = 128

// bind opens every listener's sockets. A failure names the listener.
func (e *Engine) bind() error {
	// Keep-alive is set once on the listening socket, which accepted
	// sockets inherit on Linux, rather than with four setsockopt(2) calls
	// per accepted connection.
	lc := net.ListenConfig{KeepAlive: -1, Control: sock.ListenerKeepAlive}
	for _, ls := range e.listeners {
		for _, a := range ls.Addrs {
			ln, err := lc.Listen(context.Background(), "tcp", a)
			if err != nil {
				e.closeAcceptors()
				return fmt.Errorf("listener %s: %w", ls.ID, err)
			}
			tl := ln.(*net.TCPListener)
			e.fds.Acquire(fdbudget.Base, 1)
			acc := &acceptor{e: e, ls: ls, ln: tl, bound: addrPortOf(tl.Addr())}
			ls.bound = append(ls.bound, acc.bound)
			e.acceptors = append(e.acceptors, acc)
		}
	}
	return nil
}

func (e *Engine) closeAcceptors() {
	e.acceptMu.Lock()
	defer e.acceptMu.Unlock()
	for _, a := range e.acceptors {
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
				a.e.logLimited("accept", "accept failed", "listener", a.ls.ID, "err", err)
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
	e := a.e
	e.reserveMu.Lock()
	defer e.reserveMu.Unlock()
	if e.reserveFD >= 0 {
		_ = unix.Close(e.reserveFD)
		e.reserveFD = -1
	}
	tc, err := a.ln.AcceptTCP()
	answered := false
	if err == nil {
		a.refuse(tc, "fd_exhausted")
		answered = true
	}
	e.reserveFD = sock.OpenReserve()
	e.logLimited("emfile", "out of file descriptors at accept: refusing new connections", "listener", a.ls.ID,
		"in_use", e.fds.Used(), "limit", e.fds.Limit())
	return answered
}

// admit counts a new client against every limit and enrolls it into a
// loop, or refuses it in the protocol's words.
func (a *acceptor) admit(tc *net.TCPConn) {
	e, ls := a.e, a.ls
	e.Stats.Accepted.Add(1)
	remote := addrPortOf(tc.RemoteAddr())
	if e.draining.Load() {
		a.refuse(tc, "draining")
		return
	}
	// The socket, and gnet's copy of it while it is enrolled.
	if !e.fds.TryAcquire(fdbudget.Client, 2) {
		a.refuse(tc, "fd_budget")
		return
	}
	slot := clientSlot{ls: ls}
	if n := ls.conns.Add(1); ls.MaxConnections > 0 && n > int64(ls.MaxConnections) {
		ls.conns.Add(-1)
		e.fds.Release(fdbudget.Client, 2)
		a.refuse(tc, "limit")
		return
	}
	// Behind a trusted load balancer the address that counts comes with
	// the PROXY header; it is counted then (conn.proxyHeader).
	proxied := ls.ProxyProtocol != options.ProxyOff && sock.Trusted(ls.ProxyTrusted, remote.Addr())
	if !proxied && !slot.takeAddr(remote.Addr()) {
		slot.release()
		e.fds.Release(fdbudget.Client, 2)
		a.refuse(tc, "per_address")
		return
	}
	acc := &accepted{ls: ls, remote: remote, local: addrPortOf(tc.LocalAddr()), slot: slot, at: time.Now()}
	ctx := gnet.NewNetConnContext(gnet.NewContext(context.Background(), acc), tc)
	ch, err := e.gnet.Register(ctx)
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
		case <-a.e.loopsDown:
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
func (a *acceptor) enrolled(tc *net.TCPConn, slot clientSlot, err error) {
	e := a.e
	e.fds.Release(fdbudget.Client, 1)
	if err == nil {
		return
	}
	slot.release()
	e.fds.Release(fdbudget.Client, 1)
	_ = tc.Close()
	if !e.draining.Load() {
		e.logLimited("enroll", "could not hand an accepted connection to an event loop", "listener", a.ls.ID, "err", err)
	}
}

// refuse answers a client that is not admitted: the protocol's "too busy"
// on a plaintext listener (a TLS client could not read it), then close.
func (a *acceptor) refuse(tc *net.TCPConn, reason string) {
	e, ls := a.e, a.ls
	e.Stats.RefusedBusy.Add(1)
	e.refusal(reason)
	e.opt.Observer.ConnRefused(ls.ID, ls.Protocol, reason)
	e.logLimited("refuse-"+reason, "connection refused", "listener", ls.ID, "client", tc.RemoteAddr().String(), "reason", reason)
	if ls.TLS != options.TLSImplicit && len(ls.busy) > 0 {
		_ = tc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = tc.Write(ls.busy)
	}
	_ = tc.Close()
}
