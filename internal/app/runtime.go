package app

import (
	"cmp"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/health"
)

// runtimeState is what one applied configuration makes: the configuration
// itself and what is derived from it. A reload builds a whole new one and
// swaps it in (App.rt); every reader that must follow reloads (the admin
// API, the mapping file's destination check, the active checks) takes the
// current one with App.current and keeps using that one value, so that it
// never sees half of one configuration and half of another.
//
// What a reload does not change (listeners, [server], [routing],
// [mapping], [admin], ...) is read from App.cfg, the boot configuration.
type runtimeState struct {
	cfg     *config.Config                  // the applied configuration
	dests   map[string]*options.Destination // what engine.SetDestinations got
	targets []health.Target                 // the active checks
}

func newRuntime(cfg *config.Config) (*runtimeState, error) {
	dests, err := buildDestinations(cfg)
	if err != nil {
		return nil, err
	}
	return &runtimeState{cfg: cfg, dests: dests, targets: healthTargets(cfg, dests)}, nil
}

// current is the runtime state in force.
func (a *App) current() *runtimeState { return a.rt.Load() }

// hasDestination reports whether id is a destination in force.
func (rt *runtimeState) hasDestination(id string) bool {
	_, ok := rt.cfg.Destination[id]
	return ok
}

// healthTargets lists every destination × protocol for the active checks,
// with the TLS settings the engine's legs use.
func healthTargets(cfg *config.Config, dests map[string]*options.Destination) []health.Target {
	var ts []health.Target
	for id, d := range cfg.Destination {
		for p := range d.Protocol {
			ts = append(ts, healthTarget(id, &d, p, dests[id].TLSConfig))
		}
	}
	slices.SortFunc(ts, func(x, y health.Target) int {
		return cmp.Or(strings.Compare(x.Dest, y.Dest), strings.Compare(x.Proto, y.Proto))
	})
	return ts
}

// healthTarget is destination id's service p as the engine's legs reach
// it: its address, whether it takes a PROXY header, and tc, the legs'
// client TLS config, when it speaks TLS from the first byte.
func healthTarget(id string, d *config.Destination, p config.Protocol, tc *tls.Config) health.Target {
	ep := d.Protocol[p]
	t := health.Target{
		Dest: id, Proto: string(p),
		Addr:        net.JoinHostPort(d.Host, strconv.Itoa(ep.Port)),
		ProxyHeader: d.ForwardingFor(p) == config.ForwardProxy,
	}
	if ep.TLS == config.TLSImplicit {
		t.TLS = tc
	}
	return t
}

// checkInForce refuses a configuration that drops a destination still
// named by a setting only a restart changes (boot): the router, the ring,
// the pass-through listeners and the HTTP routes would point at nothing.
func checkInForce(boot, next *config.Config) error {
	need := func(what, id string) error {
		if id == "" {
			return nil
		}
		if _, ok := next.Destination[id]; !ok {
			return fmt.Errorf("destination.%s is removed, but %s in force names it (restart switchyard to apply both)", id, what)
		}
		return nil
	}
	if err := need("routing.default_destination", boot.Routing.DefaultDestination); err != nil {
		return err
	}
	if err := need("routing.smtp_passthrough_destination", boot.Routing.SMTPPassthroughDestination); err != nil {
		return err
	}
	if boot.Cluster != nil {
		for _, n := range boot.Cluster.Nodes {
			if err := need("cluster.nodes", n); err != nil {
				return err
			}
		}
	}
	for i, r := range boot.HTTP.Route {
		if err := need("http.route["+strconv.Itoa(i)+"].destination", r.Destination); err != nil {
			return err
		}
	}
	return nil
}
