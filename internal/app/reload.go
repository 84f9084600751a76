package app

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/switchyard-mail/switchyard/admin/events"
	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/internal/app/dnscache"
)

// SetConfigSource lets Reload read the configuration again: load returns
// the file with the same flags and environment applied, validated. Without
// a source (the demo, tests) Reload rereads mappings and certificates only.
func (a *App) SetConfigSource(load func() (*config.Config, error)) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	a.source = load
}

// Reload is ReloadConfig for SIGHUP: notes are logged.
func (a *App) Reload() error {
	_, notes, err := a.reloadConfig("signal")
	for _, n := range notes {
		a.log.Warn("reload: not applied", "change", n)
	}
	return err
}

// ReloadConfig applies what changed in the configuration without touching
// a session: destinations (host, ports, TLS, forwarding; added ones usable
// at once by logins, the admin API and the mapping file, removed ones
// refused, the active checks following), certificates, the log level, and
// the mapping file's contents. Anything else that differs from the
// configuration the process started with is returned as a note: it needs
// a restart. An error means nothing of the new configuration was applied
// (the mapping file and certificates are still reread from their current
// settings).
func (a *App) ReloadConfig() (notes []string, err error) {
	_, notes, err = a.reloadConfig("api")
	return notes, err
}

// reloadConfig is ReloadConfig that also says what it applied (for the
// admin API's report and the activity log).
func (a *App) reloadConfig(actor string) (applied, notes []string, err error) {
	if actor == "api" {
		if err := a.console.AllowConfigWrite("a reload"); err != nil {
			a.log.Warn("reload refused", "actor", actor, "err", err)
			return nil, nil, err
		}
	}
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.notifier != nil {
		a.notify(a.notifier.Reloading())
		defer func() { a.notify(a.notifier.Ready(a.statusLine())) }()
	}
	var errs []error
	if a.source != nil {
		before := a.current()
		next, err := a.source()
		if err == nil && actor == "api" {
			if err = a.console.AllowReload(next); err != nil {
				a.log.Warn("reload refused", "actor", actor, "err", err)
				return nil, nil, err
			}
		}
		if err == nil {
			err = a.applyConfig(next)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("configuration: %w", err))
		} else {
			notes = restartNotes(a.cfg, next)
			applied = append(applied, appliedChanges(before.cfg, next)...)
			a.log.Info("configuration reloaded", "not_applied", len(notes))
		}
	}
	if a.files != nil {
		changed, err := a.files.Reload()
		if err != nil {
			errs = append(errs, fmt.Errorf("mapping file: %w", err))
		} else {
			a.router.Invalidate(changed...)
			a.log.Info("mapping file reloaded", "changed", len(changed))
			applied = append(applied, fmt.Sprintf("mapping file reread: %d mapping(s) changed", len(changed)))
			a.console.FileChanged(changed, actor)
		}
	}
	if cur := a.current().cfg; len(cur.TLS.Certificate) > 0 {
		if a.tickets == nil {
			a.tickets = newTickets()
		}
		if err := a.tickets.apply(&cur.TLS.Tickets); err != nil {
			errs = append(errs, err)
		} else if cs, err := loadCertSet(&cur.TLS, a.tickets); err != nil {
			errs = append(errs, err)
		} else {
			a.certs.Store(cs)
			a.log.Info("certificates reloaded")
			applied = append(applied, "certificates reloaded")
		}
	}
	err = errors.Join(errs...)
	ev := events.Event{Kind: events.EventReload, Outcome: "ok", Actor: actor, Count: len(notes)}
	if err != nil {
		ev.Outcome, ev.Reason = "failed", err.Error()
	}
	a.console.Event(ev)
	if err != nil {
		a.log.Error("reload failed; what could not be read stays as it was", "actor", actor, "applied", applied, "err", err)
	} else {
		a.log.Info("reload", "actor", actor, "applied", applied, "restart_required", notes)
	}
	return applied, notes, err
}

// appliedChanges lists what a reload from old to next applied at once:
// destinations added, changed and removed, and the log level.
func appliedChanges(old, next *config.Config) []string {
	var out []string
	var added, changed, removed []string
	for id, d := range next.Destination {
		if o, ok := old.Destination[id]; !ok {
			added = append(added, id)
		} else if !reflect.DeepEqual(o, d) {
			changed = append(changed, id)
		}
	}
	for id := range old.Destination {
		if _, ok := next.Destination[id]; !ok {
			removed = append(removed, id)
		}
	}
	for _, l := range []struct {
		what string
		ids  []string
	}{{"added", added}, {"changed", changed}, {"removed", removed}} {
		if len(l.ids) > 0 {
			sort.Strings(l.ids)
			out = append(out, "destinations "+l.what+": "+strings.Join(l.ids, ", "))
		}
	}
	if old.Server.LogLevel != next.Server.LogLevel {
		out = append(out, fmt.Sprintf("log level %s -> %s", old.Server.LogLevel, next.Server.LogLevel))
	}
	return out
}

// applyConfig applies the reloadable parts of next, all or nothing: it
// builds next's runtime state, hands its destinations to the engine, then
// swaps the state in whole and gives the active checks their new targets.
// The engine goes first so that a destination the admin API accepts is
// one the engine can route to.
func (a *App) applyConfig(next *config.Config) error {
	if len(next.TLS.Certificate) > 0 {
		if _, err := loadCertSet(&next.TLS, nil); err != nil {
			return err
		}
	}
	if err := checkInForce(a.cfg, next); err != nil {
		return err
	}
	rt, err := newRuntime(next)
	if err != nil {
		return err
	}
	if err := a.eng.SetDestinations(rt.dests); err != nil {
		return err
	}
	a.rt.Store(rt)
	a.dns.SetHosts(dnscache.HostTTLs(next))
	if a.checker != nil {
		a.checker.SetTargets(rt.targets)
	}
	if a.level != nil {
		a.level.Set(ParseLevel(next.Server.LogLevel))
	}
	return nil
}

// restartNotes lists the changes from old (the configuration the process
// started with) to next that a reload does not apply. Destinations,
// certificates and the log level are applied.
func restartNotes(old, next *config.Config) []string {
	var notes []string
	note := func(what string) { notes = append(notes, what+" changed: restart switchyard to apply") }
	ids := map[string]bool{}
	for id := range old.Listener {
		ids[id] = true
	}
	for id := range next.Listener {
		ids[id] = true
	}
	for id := range ids {
		o, inOld := old.Listener[id]
		n, inNext := next.Listener[id]
		switch {
		case !inOld:
			notes = append(notes, "listener."+id+" added: restart switchyard to bind it")
		case !inNext:
			notes = append(notes, "listener."+id+" removed: restart switchyard to unbind it")
		case !reflect.DeepEqual(o, n):
			note("listener." + id)
		}
	}
	os, ns := old.Server, next.Server
	os.LogLevel, ns.LogLevel = "", ""
	if os != ns {
		note("[server]")
	}
	for _, s := range []struct {
		name      string
		old, next any
	}{
		{"[routing]", old.Routing, next.Routing},
		{"[mapping]", old.Mapping, next.Mapping},
		{"[capabilities]", old.Capabilities, next.Capabilities},
		{"[oauth]", old.OAuth, next.OAuth},
		{"[http]", old.HTTP, next.HTTP},
		{"[admin]", old.Admin, next.Admin},
		{"[metrics]", old.Metrics, next.Metrics},
		{"[cluster]", old.Cluster, next.Cluster},
		{"[tls.protocols]", old.TLS.Protocols, next.TLS.Protocols},
	} {
		if !reflect.DeepEqual(s.old, s.next) {
			note(s.name)
		}
	}
	sort.Strings(notes)
	return notes
}
