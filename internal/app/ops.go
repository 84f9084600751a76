package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/switchyard-mail/switchyard/admin/backend"
	"github.com/switchyard-mail/switchyard/admin/events"
	"github.com/switchyard-mail/switchyard/internal/sdnotify"
	"github.com/switchyard-mail/switchyard/internal/version"
	"github.com/switchyard-mail/switchyard/limits"
)

// What an operator sees of the process: the start, reload, drain and stop
// lines of the log, and systemd's view (sd_notify) of the same moments.

// SetNotifier has the process report to systemd (Type=notify): READY=1
// once every listener and the admin API listen, RELOADING=1 then READY=1
// around a reload, STOPPING=1 at shutdown, and a STATUS= line with the
// session count. nil reports nothing. Call it before Run.
func (a *App) SetNotifier(n *sdnotify.Notifier) { a.notifier = n }

// SetConfigFile names the configuration file for the log (start line).
func (a *App) SetConfigFile(path string) { a.configFile = path }

func (a *App) notify(err error) {
	if err != nil {
		a.log.Warn("cannot tell systemd (NOTIFY_SOCKET)", "err", err)
	}
}

// statusLine is what systemctl status shows.
func (a *App) statusLine() string {
	n := len(a.eng.Sessions(nil))
	s := fmt.Sprintf("%d session(s)", n)
	if a.eng.Draining() {
		s += ", draining"
	}
	return s
}

// logStarted writes the start line: which switchyard, from which file,
// listening where.
func (a *App) logStarted() {
	v := version.Get()
	args := []any{"version", v.Version, "revision", v.Short(), "go", v.GoVersion, "config", a.configFile}
	for _, id := range sortedIDs(a.cfg.Listener) {
		args = append(args, "listener."+id, strings.Join(a.Addrs(id), ","))
	}
	if addr := a.AdminAddr(); addr != "" {
		args = append(args, "admin", addr)
	}
	if addr := a.MetricsAddr(); addr != "" {
		args = append(args, "metrics", addr)
	}
	a.log.Info("switchyard started", args...)
}

// reportStatus updates systemd's status line until ctx ends.
func (a *App) reportStatus(ctx context.Context) {
	if a.notifier == nil {
		return
	}
	t := time.NewTicker(limits.NotifyStatusInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.notify(a.notifier.Status(a.statusLine()))
		}
	}
}

// Drain stops taking new connections (clients get the protocol's "too
// busy" and readiness goes false); sessions carry on. actor says who
// asked ("api", "signal").
func (a *App) Drain(actor string) {
	already := a.eng.Draining()
	a.eng.Drain()
	if !already {
		a.log.Info("draining: new connections are refused, sessions carry on", "actor", actor, "sessions", len(a.eng.Sessions(nil)))
		a.console.Event(events.Event{Kind: events.EventDrain, Actor: actor})
		if a.notifier != nil {
			a.notify(a.notifier.Status(a.statusLine()))
		}
	}
}

// undrainer is the engine's way back from a drain (Engine.Undrain).
type undrainer interface{ Undrain() }

// Undrain takes new connections again after Drain. It is
// admin.ErrUnavailable when the engine cannot (it is stopping, or has no
// way back).
func (a *App) Undrain(actor string) error {
	u, ok := any(a.eng).(undrainer)
	if !ok {
		return fmt.Errorf("%w: this engine cannot end a drain (restart switchyard)", backend.ErrUnavailable)
	}
	if a.stopping.Load() {
		return fmt.Errorf("%w: switchyard is shutting down", backend.ErrUnavailable)
	}
	was := a.eng.Draining()
	u.Undrain()
	if was {
		a.log.Info("drain ended: new connections are accepted again", "actor", actor)
		a.console.Event(events.Event{Kind: events.EventDrain, Actor: actor, Outcome: "ended"})
		if a.notifier != nil {
			a.notify(a.notifier.Status(a.statusLine()))
		}
	}
	return nil
}
