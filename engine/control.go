package engine

import (
	"sync"
	"time"

	"github.com/switchyard-mail/switchyard/limits"
)

// MaxDelayHold is the longest a login of a delayed account is held before
// it gets the protocol's temporary failure: clients give up on a silent
// server after a minute or so, and a temporary failure makes them retry.
const MaxDelayHold = limits.MaxDelayHold

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
