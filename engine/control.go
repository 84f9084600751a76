package engine

import (
	"context"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// MaxDelayHold is the longest a login of a delayed account is held before
// it gets the protocol's temporary failure: clients give up on a silent
// server after a minute or so, and a temporary failure makes them retry.
const MaxDelayHold = 20 * time.Second

// delays holds accounts whose new logins wait (POST /connections/delay):
// normalized account -> end of the delay.
type delays struct {
	mu sync.Mutex
	m  map[string]time.Time
}

// Delay holds new logins of account (normalized) for d; d <= 0 lifts it.
// A held login resumes when the delay ends, or gets a temporary failure
// after MaxDelayHold; a relayed recipient of the account is deferred with
// a temporary failure at once (the sender's queue holds the message).
func (e *Engine) Delay(account string, d time.Duration) {
	e.delays.mu.Lock()
	defer e.delays.mu.Unlock()
	if d <= 0 {
		delete(e.delays.m, account)
		return
	}
	if e.delays.m == nil {
		e.delays.m = map[string]time.Time{}
	}
	e.delays.m[account] = time.Now().Add(d)
}

// delayedUntil reports when a delay of account ends (zero: none).
func (e *Engine) delayedUntil(account string, now time.Time) time.Time {
	e.delays.mu.Lock()
	defer e.delays.mu.Unlock()
	until, ok := e.delays.m[account]
	if !ok {
		return time.Time{}
	}
	if !now.Before(until) {
		delete(e.delays.m, account)
		return time.Time{}
	}
	return until
}

// Kick closes every connection still in the reactor (pre-auth, logging in,
// or relayed) for which match returns true, and returns how many. Bridged
// sessions are the bridge's (splice.Session.Close).
func (e *Engine) Kick(match func(ConnSnapshot) bool, timeout time.Duration) int {
	n := 0
	for _, l := range e.loopList() {
		ch := make(chan int, 1)
		l := l
		err := l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			k := 0
			now := time.Now()
			for cc := range l.clients {
				if cc.state == stDone || cc.state == stClosing || !match(cc.snapshot(now)) {
					continue
				}
				cc.kick()
				k++
			}
			ch <- k
			return nil
		}))
		if err != nil {
			continue
		}
		select {
		case k := <-ch:
			n += k
		case <-time.After(timeout):
		}
	}
	return n
}

// kick says goodbye (the shutdown reply, which every protocol has) and
// closes. A relayed transaction in flight is cut: the sender never got a
// verdict for it and keeps the message.
func (cc *clientConn) kick() {
	cc.e.log.Info("connection kicked", "client", cc.fwd.Client, "account", cc.account, "listener", cc.ls.ID)
	if cc.rel == nil {
		cc.goodbye() // a held or replayed login is failed first, as at shutdown
		return
	}
	if cc.state == stRelay {
		cc.write(cc.rel.Timeout(cc.loop.out[:0]))
	}
	cc.dropLeg()
	cc.closeNow()
}

func (e *Engine) loopList() []*loopState {
	e.loopsMu.Lock()
	defer e.loopsMu.Unlock()
	loops := make([]*loopState, 0, len(e.loops))
	for _, l := range e.loops {
		loops = append(loops, l)
	}
	return loops
}
