package engine

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/switchyard-mail/switchyard/engine/leg"
	"github.com/switchyard-mail/switchyard/engine/session"
	"github.com/switchyard-mail/switchyard/engine/sock"
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols"
)

// loop is the engine's state for one gnet event loop. Only code running on
// that loop touches it (the mutex-free rule of the whole reactor).
type loop struct {
	e   *Engine
	el  gnet.EventLoop
	idx int
	// epfd is the loop's epoll descriptor, for pausing reads (pause.go);
	// -1 when it could not be found.
	epfd int

	conns  map[*conn]struct{} // client connections on this loop
	nconns atomic.Int64       // len(conns), for other goroutines
	paused map[session.Resumer]struct{}
	// pausedHint mirrors len(paused) > 0 for the ticker's goroutine.
	pausedHint atomic.Bool

	// cur is the connection whose gnet callback is running; closeCur asks
	// the handler to close it when the callback returns (gnet touches a
	// connection after its callback: it must not be closed from inside).
	cur      gnet.Conn
	closeCur bool

	// out is the output scratch of one step: a machine appends its reply
	// to out[:0], which write copies to gnet (or TLS) at once. Made with
	// room for a greeting and the usual replies, so they allocate nothing.
	out    []byte
	tlsBuf []byte             // decrypted-bytes scratch
	rout   protocols.RelayOut // relay machines' output scratch

	legs leg.Pool // relay legs kept for reuse
}

const (
	sweepInterval = limits.SweepInterval
	// pausedInterval is the tick while some connection is paused: gnet
	// says nothing when a connection's output drains, so a paused source
	// is looked at again this often.
	pausedInterval = 5 * time.Millisecond
	// tickInterval is the tick otherwise, so a new pause waits little for
	// its first look.
	tickInterval = 25 * time.Millisecond
)

func (e *Engine) loopFor(el gnet.EventLoop) *loop {
	e.loopsMu.Lock()
	defer e.loopsMu.Unlock()
	l := e.loops[el]
	if l == nil {
		l = &loop{
			e: e, el: el, idx: len(e.loops),
			conns:  map[*conn]struct{}{},
			paused: map[session.Resumer]struct{}{},
			tlsBuf: make([]byte, 16<<10),
			out:    make([]byte, 0, 4<<10),
		}
		fd, err := sock.PollerFD(el)
		if err != nil {
			e.log.Error("backpressure unavailable: the event loop's epoll descriptor was not found; slow readers are bounded by closing them instead", "err", err)
			fd = -1
		}
		l.epfd = fd
		e.loops[el] = l
		e.loopList.Store(ptrTo(e.listLoopsLocked()))
	}
	return l
}

func ptrTo[T any](v T) *T { return &v }

func (e *Engine) listLoopsLocked() []*loop {
	out := make([]*loop, 0, len(e.loops))
	for _, l := range e.loops {
		out = append(out, l)
	}
	return out
}

// allLoops returns the loops seen so far.
func (e *Engine) allLoops() []*loop {
	if p := e.loopList.Load(); p != nil {
		return *p
	}
	return nil
}

// CloseConn closes gc from loop code: at the end of the running callback
// when gc is the connection it belongs to, at once (OnClose runs nested)
// otherwise.
func (l *loop) CloseConn(gc gnet.Conn) {
	if gc == nil {
		return
	}
	if gc == l.cur {
		l.closeCur = true
		return
	}
	_ = l.el.Close(gc)
}

// Post runs fn on the loop as a task (never nested in a callback).
func (l *loop) Post(fn func()) bool {
	err := l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		fn()
		return nil
	}))
	return err == nil
}

func (l *loop) sweep(now time.Time) {
	l.legs.Sweep(now)
	for c := range l.conns {
		if !c.deadline.IsZero() && !now.Before(c.deadline) {
			c.expired(now)
		}
	}
}

// resumePaused gives every paused session (session.Resumer) a chance to
// resume: gnet says nothing when a connection's output drains.
func (l *loop) resumePaused() {
	for p := range l.paused {
		p.Resume()
	}
	l.pausedHint.Store(len(l.paused) > 0)
}

// addPaused and dropPaused keep the set of paused sessions (and the hint
// the ticker reads from its own goroutine).
func (l *loop) addPaused(p session.Resumer) {
	l.paused[p] = struct{}{}
	l.pausedHint.Store(true)
}

func (l *loop) dropPaused(p session.Resumer) {
	delete(l.paused, p)
	l.pausedHint.Store(len(l.paused) > 0)
}

// tick runs on gnet's ticker goroutine: it asks the loops to sweep their
// deadlines (every sweepInterval) and to look at paused sessions (every
// tick while there are some), and returns the delay to the next tick.
func (e *Engine) tick() time.Duration {
	now := time.Now()
	sweep := now.Sub(e.lastSweep) >= sweepInterval
	if sweep {
		e.lastSweep = now
	}
	anyPaused := false
	for _, l := range e.allLoops() {
		l := l
		paused := l.pausedHint.Load()
		anyPaused = anyPaused || paused
		if !paused && !sweep {
			continue
		}
		l.Post(func() {
			if paused {
				l.resumePaused()
			}
			if sweep {
				l.sweep(now)
			}
		})
	}
	if anyPaused {
		return pausedInterval
	}
	return tickInterval
}

func (l *loop) relayOut() *protocols.RelayOut {
	l.rout.Client = l.rout.Client[:0]
	l.rout.Backend = l.rout.Backend[:0]
	return &l.rout
}

// The loop as its legs see it (leg.Loop).

func (l *loop) Out() []byte     { return l.out[:0] }
func (l *loop) TLSBuf() []byte  { return l.tlsBuf }
func (l *loop) Pool() *leg.Pool { return &l.legs }

func (l *loop) Enroll(ctx context.Context, c net.Conn) (<-chan gnet.RegisteredResult, error) {
	return l.el.Enroll(ctx, c)
}
