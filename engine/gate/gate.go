// Package gate is the engine's admission gate. Every path that sends an
// account to a backend (a login, a relayed recipient, an HTTP/2 stream)
// goes through the same steps in the same order: normalize once, holds
// (login delays), resolve (the router's loop-safe Cached on a loop, a
// bounded worker only on a miss), the destination exists and serves the
// protocol, maintenance, the plaintext policy, the breaker. It holds the
// account delays and the destinations in maintenance the admin API sets.
// Nothing here blocks: a lookup that may runs on the caller's bounded
// pool and is posted back.
package gate

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/engine/backend"
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/session"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/router"
)

// ErrBusy: the bounded pool had no room for a lookup.
var ErrBusy = errors.New("too many dials and lookups in flight")

// Gate answers admissions. Set its fields before use.
type Gate struct {
	Router   options.Resolver
	Observer options.Observer
	Health   options.Health // optional
	Log      *slog.Logger
	// Timeout bounds a lookup off the loop.
	Timeout time.Duration
	// Destination returns the destination named id as configured now.
	Destination func(id string) *options.Destination
	// Spawn runs fn on the bounded pool; false when it is full.
	Spawn func(fn func()) bool
	// Refusal counts a refusal; LogLimited logs at most once a second per key.
	Refusal    func(reason string)
	LogLimited func(key, msg string, args ...any)

	delays  sync.Mutex
	delayed map[string]time.Time // normalized account -> end of the delay

	maintMu sync.Mutex
	maint   atomic.Pointer[map[string]bool] // destinations in maintenance
}

// Resolve answers on the caller's loop: inline when the router can (cache
// hit, in-memory store), else from the bounded pool, handed to post. done
// never runs nested in Resolve's caller unless inline is true.
func (g *Gate) Resolve(post func(func()) bool, account string, done func(res router.Result, err error, inline bool)) {
	res, err := g.Router.Cached(account)
	if !errors.Is(err, router.ErrNotCached) {
		done(res, err, true)
		return
	}
	ok := g.Spawn(func() {
		ctx, cancel := context.WithTimeout(context.Background(), g.Timeout)
		res, err := g.Router.Resolve(ctx, account)
		cancel()
		if !post(func() { done(res, err, false) }) {
			g.Log.Debug("routing answer dropped: the loop is stopping", "account", account)
		}
	})
	if !ok {
		g.Refusal("dial_budget")
		done(router.Result{}, ErrBusy, true)
	}
}

// Admit applies the checks that follow resolution.
func (g *Gate) Admit(req session.AdmitRequest, res router.Result, err error) session.Admission {
	a := session.Admission{Account: req.Account, Res: res}
	if req.Fixed == "" {
		g.Observer.Route(res, err)
	}
	switch {
	case errors.Is(err, router.ErrNoRoute), errors.Is(err, router.ErrInvalidIdentifier):
		return a.Refuse(protocols.FailRejected, session.OutcomeNoRoute, "no route")
	case err != nil:
		g.Log.Warn("routing failed", "account", req.Account, "err", err)
		return a.Refuse(protocols.FailTempRouting, session.OutcomeTempFail, "routing failed: "+err.Error())
	}
	dest := g.Destination(res.Destination)
	if dest == nil {
		g.Log.Error("route names an unknown destination", "account", req.Account, "destination", res.Destination)
		return a.Refuse(protocols.FailTempRouting, session.OutcomeTempFail, "unknown destination "+res.Destination)
	}
	dp, ok := dest.Protocols[req.Proto]
	if !ok {
		g.Log.Error("destination does not serve the protocol", "destination", dest.ID, "protocol", req.Proto)
		return a.Refuse(protocols.FailUnavailable, session.OutcomeBackendFailure, "destination does not serve "+req.Proto)
	}
	if g.InMaintenance(dest.ID) {
		g.LogLimited("maintenance-"+dest.ID, "destination in maintenance; refused for now", "destination", dest.ID, "protocol", req.Proto)
		return a.Refuse(protocols.FailUnavailable, session.OutcomeBackendFailure, "destination in maintenance")
	}
	if req.Creds && dp.TLS == options.TLSPlain && !dest.AllowPlaintextAuth {
		g.Log.Error("destination refuses credentials over plaintext (allow_plaintext_auth = false)", "destination", dest.ID)
		return a.Refuse(protocols.FailUnavailable, session.OutcomeBackendFailure, "plaintext credentials refused")
	}
	if h := g.Health; h != nil && !h.Allow(dest.ID, req.Proto) {
		g.LogLimited("breaker-"+dest.ID, "destination marked down; refused for now", "destination", dest.ID, "protocol", req.Proto)
		return a.Refuse(protocols.FailUnavailable, session.OutcomeBackendFailure, "destination marked down")
	}
	a.Dest, a.DP, a.OK = dest, dp, true
	return a
}

// HealthSuccess and HealthFailure report on d for proto to the breaker
// (backend.ReportSuccess, backend.ReportFailure).
func (g *Gate) HealthSuccess(d *options.Destination, proto string) {
	backend.ReportSuccess(g.Health, d, proto)
}

func (g *Gate) HealthFailure(d *options.Destination, proto string, client netip.AddrPort) {
	backend.ReportFailure(g.Health, d, proto, client)
}

// Delay holds new logins of account (normalized) for d; d <= 0 lifts it.
// A held login resumes when the delay ends, or gets a temporary failure
// after limits.MaxDelayHold; a relayed recipient of the account is
// deferred with a temporary failure at once (the sender's queue holds the
// message).
func (g *Gate) Delay(account string, d time.Duration) {
	g.delays.Lock()
	defer g.delays.Unlock()
	if d <= 0 {
		delete(g.delayed, account)
		return
	}
	if g.delayed == nil {
		g.delayed = map[string]time.Time{}
	}
	g.delayed[account] = time.Now().Add(d)
}

// DelayedUntil reports when a delay of account ends (zero: none).
func (g *Gate) DelayedUntil(account string, now time.Time) time.Time {
	g.delays.Lock()
	defer g.delays.Unlock()
	until, ok := g.delayed[account]
	if !ok {
		return time.Time{}
	}
	if !now.Before(until) {
		delete(g.delayed, account)
		return time.Time{}
	}
	return until
}

// SetMaintenance takes a destination out of service for new logins,
// relayed recipients and HTTP/2 streams (the admin API's maintenance
// switch), or puts it back; sessions already there carry on.
func (g *Gate) SetMaintenance(dest string, on bool) {
	g.maintMu.Lock()
	defer g.maintMu.Unlock()
	next := map[string]bool{}
	if p := g.maint.Load(); p != nil {
		for k, v := range *p {
			next[k] = v
		}
	}
	if on {
		next[dest] = true
	} else {
		delete(next, dest)
	}
	g.maint.Store(&next)
}

// InMaintenance reports whether dest is switched out of service.
func (g *Gate) InMaintenance(dest string) bool {
	p := g.maint.Load()
	return p != nil && (*p)[dest]
}
