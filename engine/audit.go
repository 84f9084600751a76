package engine

import (
	"context"
	"log/slog"
	"time"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/session"
)

// The admission gate itself is engine/gate; the engine keeps what needs
// a connection: the audit line and the event sink.

// audit writes the one line per login outcome: who, from where, to which
// destination, how it ended and how long it took (never a secret), and
// gives the same facts to the event sink.
func (e *Engine) audit(c *conn, account, dest, outcome, reason string, since time.Time) {
	if outcome == "" {
		outcome = session.OutcomeSuccess
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
		slog.String("client", c.client.String()), slog.Bool("tls", c.tls.Active),
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
