package engine

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/switchyard-mail/switchyard/engine/backend"
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/router"
)

// The admission gate. Every path that sends an account to a backend (a
// login, a relayed recipient, an HTTP/2 stream) goes through the same
// steps in the same order: normalize once, holds (login delays), resolve
// (the router's loop-safe Cached on a loop, a bounded worker only on a
// miss), the destination exists and serves the protocol, the plaintext
// policy, the breaker; then metrics and the audit line at the outcome.

// admission is the gate's answer.
type admission struct {
	account string
	res     router.Result
	dest    *options.Destination
	dp      options.DestProtocol
	// Refusals: ok is false, kind is the failure to report to the client,
	// outcome the metrics label, reason the log's words.
	ok      bool
	kind    protocols.FailKind
	outcome string
	reason  string
}

// admitRequest is what the gate needs to know.
type admitRequest struct {
	proto   string
	account string // normalized
	// creds: credentials will be replayed (the plaintext policy applies).
	creds bool
	// fixed names the destination without routing (pass-through).
	fixed string
}

// resolve answers on the loop: inline when the router can (cache hit,
// in-memory store), else from a bounded worker, posted back to the loop.
// done always runs on lp, never nested in resolve's caller unless inline
// is true.
func (e *Engine) resolve(lp *loop, account string, done func(res router.Result, err error, inline bool)) {
	res, err := e.opt.Router.Cached(account)
	if !errors.Is(err, router.ErrNotCached) {
		done(res, err, true)
		return
	}
	ok := e.goBounded(func() {
		ctx, cancel := context.WithTimeout(context.Background(), e.opt.BackendTimeout)
		res, err := e.opt.Router.Resolve(ctx, account)
		cancel()
		if !lp.post(func() { done(res, err, false) }) {
			e.log.Debug("routing answer dropped: the loop is stopping", "account", account)
		}
	})
	if !ok {
		e.refusal("dial_budget")
		done(router.Result{}, errDialBudget, true)
	}
}

// gate applies the checks that follow resolution.
func (e *Engine) gate(req admitRequest, res router.Result, err error) admission {
	a := admission{account: req.account, res: res}
	if req.fixed == "" {
		e.opt.Observer.Route(res, err)
	}
	switch {
	case errors.Is(err, router.ErrNoRoute), errors.Is(err, router.ErrInvalidIdentifier):
		return a.refuse(protocols.FailRejected, outcomeNoRoute, "no route")
	case err != nil:
		e.log.Warn("routing failed", "account", req.account, "err", err)
		return a.refuse(protocols.FailTempRouting, outcomeTempFail, "routing failed: "+err.Error())
	}
	dest := e.destination(res.Destination)
	if dest == nil {
		e.log.Error("route names an unknown destination", "account", req.account, "destination", res.Destination)
		return a.refuse(protocols.FailTempRouting, outcomeTempFail, "unknown destination "+res.Destination)
	}
	dp, ok := dest.Protocols[req.proto]
	if !ok {
		e.log.Error("destination does not serve the protocol", "destination", dest.ID, "protocol", req.proto)
		return a.refuse(protocols.FailUnavailable, outcomeBackendFailure, "destination does not serve "+req.proto)
	}
	if e.InMaintenance(dest.ID) {
		e.logLimited("maintenance-"+dest.ID, "destination in maintenance; refused for now", "destination", dest.ID, "protocol", req.proto)
		return a.refuse(protocols.FailUnavailable, outcomeBackendFailure, "destination in maintenance")
	}
	if req.creds && dp.TLS == options.TLSPlain && !dest.AllowPlaintextAuth {
		e.log.Error("destination refuses credentials over plaintext (allow_plaintext_auth = false)", "destination", dest.ID)
		return a.refuse(protocols.FailUnavailable, outcomeBackendFailure, "plaintext credentials refused")
	}
	if h := e.opt.Health; h != nil && !h.Allow(dest.ID, req.proto) {
		e.logLimited("breaker-"+dest.ID, "destination marked down; refused for now", "destination", dest.ID, "protocol", req.proto)
		return a.refuse(protocols.FailUnavailable, outcomeBackendFailure, "destination marked down")
	}
	a.dest, a.dp, a.ok = dest, dp, true
	return a
}

func (a admission) refuse(kind protocols.FailKind, outcome, reason string) admission {
	a.ok, a.kind, a.outcome, a.reason = false, kind, outcome, reason
	return a
}

func (e *Engine) healthSuccess(d *options.Destination, proto string) {
	backend.ReportSuccess(e.opt.Health, d, proto)
}

// healthFailure reports a failure of d for proto, seen while serving
// client (backend.ReportFailure).
func (e *Engine) healthFailure(d *options.Destination, proto string, client netip.AddrPort) {
	backend.ReportFailure(e.opt.Health, d, proto, client)
}

// audit writes the one line per login outcome: who, from where, to which
// destination, how it ended and how long it took (never a secret), and
// gives the same facts to the event sink.
func (e *Engine) audit(c *conn, account, dest, outcome, reason string, since time.Time) {
	if outcome == "" {
		outcome = outcomeSuccess
	}
	e.event(options.Event{Kind: options.EventLogin, Session: c.id, Account: account, Protocol: c.ls.Protocol, Listener: c.ls.ID,
		Client: c.client.String(), Destination: dest, Outcome: outcome, Reason: reason})
	if !e.log.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	// Typed attributes: the line costs no boxing of each value on a login.
	attrs := make([]slog.Attr, 0, 11)
	attrs = append(attrs, slog.String("session", e.sessionName(c.id)), slog.String("account", account),
		slog.String("protocol", c.ls.Protocol), slog.String("listener", c.ls.ID),
		slog.String("client", c.client.String()), slog.Bool("tls", c.tls.active),
		slog.String("destination", dest), slog.String("outcome", outcome), slog.String("reason", reason))
	if !since.IsZero() {
		attrs = append(attrs, slog.Float64("duration_s", seconds(time.Since(since))))
	}
	e.log.LogAttrs(context.Background(), slog.LevelInfo, "login", attrs...)
}

// event hands ev to the sink; building an Event allocates nothing.
func (e *Engine) event(ev options.Event) {
	if e.opt.Events != nil {
		if ev.Time.IsZero() {
			ev.Time = time.Now()
		}
		e.opt.Events(ev)
	}
}

// SetMaintenance takes a destination out of service for new logins,
// relayed recipients and HTTP/2 streams (the admin API's maintenance
// switch), or puts it back; sessions already there carry on.
func (e *Engine) SetMaintenance(dest string, on bool) {
	e.maintMu.Lock()
	defer e.maintMu.Unlock()
	next := map[string]bool{}
	if p := e.maint.Load(); p != nil {
		for k, v := range *p {
			next[k] = v
		}
	}
	if on {
		next[dest] = true
	} else {
		delete(next, dest)
	}
	e.maint.Store(&next)
}

// InMaintenance reports whether dest is switched out of service.
func (e *Engine) InMaintenance(dest string) bool {
	p := e.maint.Load()
	return p != nil && (*p)[dest]
}
