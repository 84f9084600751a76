package engine

import (
	"crypto/rand"
	"encoding/base32"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// randomPrefix returns 8 random lowercase base-32 characters.
func randomPrefix() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// refusal counts a refusal or a limit that bit, by reason (metrics and the
// admin API); every refusal is also answered in the protocol's words where
// the client can still read it, and logged.
func (e *Engine) refusal(reason string) {
	v, ok := e.refusals.Load(reason)
	if !ok {
		v, _ = e.refusals.LoadOrStore(reason, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
	e.opt.Observer.Refusal(reason)
}

// Refusals returns how often each limit refused something since start.
func (e *Engine) Refusals() map[string]int64 {
	out := map[string]int64{}
	e.refusals.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// logLimited logs at warning level at most once a second per key, with the
// number of lines it held back: a flood of refusals must not become a
// flood of log lines.
func (e *Engine) logLimited(key, msg string, args ...any) {
	now := time.Now().UnixNano()
	v, _ := e.logGate.LoadOrStore(key, new(logGate))
	g := v.(*logGate)
	last := g.last.Load()
	if now-last < int64(time.Second) || !g.last.CompareAndSwap(last, now) {
		g.held.Add(1)
		return
	}
	if n := g.held.Swap(0); n > 0 {
		args = append(args, "suppressed", n)
	}
	e.log.Warn(msg, args...)
}

type logGate struct {
	last atomic.Int64
	held atomic.Int64
}

// seconds is a duration for the logs: seconds as a number, to the
// microsecond (a JSON log would otherwise show nanoseconds).
func seconds(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond)) / float64(time.Second)
}

// sessionName is the id announced to backends (XCLIENT SESSION, PROXY v2)
// and written in the logs for session id.
func (e *Engine) sessionName(id uint64) string { return e.sessionPrefix + strconv.FormatUint(id, 36) }
