package engine

import (
	"context"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/switchyard-mail/switchyard/protocols"
)

// loopState is owned by one event loop goroutine: only code running on that
// loop touches it.
type loopState struct {
	el      gnet.EventLoop
	clients map[*clientConn]struct{} // connections not yet bridged, for the sweep
	out     []byte                   // output scratch for one turn of the loop
	tlsBuf  []byte                   // decrypted-bytes scratch
	rout    protocols.RelayOut       // relay machines' output scratch
	// idleLegs holds relay legs kept for reuse, by destination (legpool.go).
	idleLegs map[string][]*backendConn
}

const sweepInterval = 250 * time.Millisecond

func (e *Engine) loopFor(el gnet.EventLoop) *loopState {
	e.loopsMu.Lock()
	defer e.loopsMu.Unlock()
	ls := e.loops[el]
	if ls == nil {
		ls = &loopState{el: el, clients: map[*clientConn]struct{}{}, tlsBuf: make([]byte, 16<<10)}
		e.loops[el] = ls
	}
	return ls
}

// sweepAll asks every loop to run its sweep on its own goroutine. gnet has
// no per-connection timers, and a sweep a few times a second costs far less
// than a timer per connection.
func (e *Engine) sweepAll() {
	e.loopsMu.Lock()
	loops := make([]*loopState, 0, len(e.loops))
	for _, l := range e.loops {
		loops = append(loops, l)
	}
	e.loopsMu.Unlock()
	now := time.Now()
	for _, l := range loops {
		l := l
		_ = l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			l.sweep(now)
			return nil
		}))
	}
}

func (l *loopState) sweep(now time.Time) {
	l.sweepLegs(now)
	for cc := range l.clients {
		cc.tick(now)
	}
}
