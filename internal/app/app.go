// Package app assembles switchyard from a validated configuration: the
// router and its store, the bridge, the protocol drivers and the engine. It
// owns reloads and shutdown; cmd/switchyard only parses flags and signals.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-mail/switchyard/admin/events"
	"github.com/switchyard-mail/switchyard/admin/metrics"
	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/engine"
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/health"
	"github.com/switchyard-mail/switchyard/identity/verify"
	"github.com/switchyard-mail/switchyard/internal/app/console"
	"github.com/switchyard-mail/switchyard/internal/app/dnscache"
	"github.com/switchyard-mail/switchyard/internal/app/drivers"
	"github.com/switchyard-mail/switchyard/internal/app/observe"
	"github.com/switchyard-mail/switchyard/internal/fdbudget"
	"github.com/switchyard-mail/switchyard/internal/sdnotify"
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/router"
	"github.com/switchyard-mail/switchyard/router/filestore"
	"github.com/switchyard-mail/switchyard/router/invalidate"
	"github.com/switchyard-mail/switchyard/router/redisstore"
	"github.com/switchyard-mail/switchyard/router/ring"
	"github.com/switchyard-mail/switchyard/router/sqlstore"
	"github.com/switchyard-mail/switchyard/splice"
)

// App is a running switchyard.
type App struct {
	// cfg is the configuration the process started with: it holds what a
	// reload does not change. What a reload changes is in rt.
	cfg      *config.Config
	rt       atomic.Pointer[runtimeState]
	log      *slog.Logger
	router   *router.Router
	files    *filestore.Store // nil unless [mapping] source = "file"
	store    router.Store
	bus      invalidate.Bus // cross-instance invalidation (Redis pub/sub, PostgreSQL NOTIFY), or nil
	ring     *ring.Ring     // nil without [cluster]
	level    *slog.LevelVar // the process log level, changed by the admin API
	health   *health.Registry
	checker  *health.Checker  // active checks; nil when health_check_interval is 0
	dns      *dnscache.Cache  // destination host names (dns_cache_ttl)
	verifier *verify.Verifier // [oauth] verify = true; else nil
	// reg and metrics exist when [admin] is configured (GET /metrics).
	reg     *prometheus.Registry
	metrics *metrics.Metrics
	bridge  splice.Bridge
	fds     *fdbudget.Budget
	eng     *engine.Engine
	certs   atomic.Pointer[certSet]
	tickets *tickets // set with the certificates

	// Reloads (reload.go) are serialized.
	reloadMu sync.Mutex
	source   func() (*config.Config, error)
	cancel   context.CancelFunc

	pprof     bool         // serve /debug/pprof/ on the admin API
	adminLn   net.Listener // tests: serve the admin API here instead of binding admin.bind
	adminAddr atomic.Pointer[string]
	ready     chan struct{} // closed when the listeners and the admin API listen

	// The operator console (admin API /api/v1, console.go): the activity
	// log and the per-minute history (nil without [admin]), and what the
	// console keeps about this instance: its name on the bus, its peers,
	// the holds it set, counters for the history, cut-overs.
	events      *events.EventLog
	history     *events.History
	carrier     invalidate.Carrier // a.bus when it carries commands (cut-overs), else nil
	busKind     string             // "redis", "postgresql" or "none"
	metricsAddr atomic.Pointer[string]
	metricsLn   net.Listener     // tests: serve [metrics] here instead of binding metrics.bind
	console     *console.Backend // the admin API's backend, the activity log and history, cut-overs
	statsOnce   sync.Once

	// What an operator sees (ops.go).
	notifier   *sdnotify.Notifier
	configFile string
	stopping   atomic.Bool
}

// New builds everything; nothing listens until Run. level, when not nil,
// is the logger's level, which the admin API may change.
func New(cfg *config.Config, log *slog.Logger, level ...*slog.LevelVar) (*App, error) {
	a := &App{cfg: cfg, log: log, ready: make(chan struct{}), busKind: "none"}
	a.console = console.New()
	rt, err := newRuntime(cfg)
	if err != nil {
		return nil, err
	}
	a.rt.Store(rt)
	if len(level) > 0 {
		a.level = level[0]
	}
	if a.verifier, err = a.newVerifier(cfg.OAuth); err != nil {
		return nil, err
	}
	built := map[string]options.Driver{}
	for id, l := range cfg.Listener {
		build := drivers.Builder(l.Protocol)
		if build == nil {
			return nil, fmt.Errorf("listener.%s.protocol: %q is not supported by this build yet", id, l.Protocol)
		}
		if built[string(l.Protocol)] == nil {
			d := build(cfg)
			if f, ok := d.(interface{ Err() error }); ok && f.Err() != nil {
				return nil, f.Err()
			}
			built[string(l.Protocol)] = d
		}
	}
	if len(cfg.TLS.Certificate) > 0 {
		a.tickets = newTickets()
		if err := a.tickets.apply(&cfg.TLS.Tickets); err != nil {
			return nil, err
		}
		cs, err := loadCertSet(&cfg.TLS, a.tickets)
		if err != nil {
			return nil, err
		}
		a.certs.Store(cs)
	}
	if err := a.buildRouter(); err != nil {
		return nil, err
	}
	// Passive breaker: consecutive dial or login-dialogue failures mark a
	// destination down for its protocol; a ring node that is down gives its
	// accounts to their next node until it heals.
	a.health = health.New(health.Options{
		FailureThreshold: cfg.Server.HostDownThreshold,
		MinClients:       cfg.Server.HostDownMinClients,
		Cooldown:         cfg.Server.HostDownCooldown.D(),
		OnChange: func(dest, proto string, up bool) {
			log.Warn("destination health changed", "destination", dest, "protocol", proto, "up", up)
			a.console.Event(events.Event{Kind: events.EventBreaker, Destination: dest, Protocol: proto, Outcome: map[bool]string{true: "closed", false: "open"}[up]})
			if a.ring == nil {
				return
			}
			a.console.SetRingDown(dest, !up)
			if !up {
				// After the cooldown, give the node its accounts back so
				// their logins probe it: a success closes the circuit, a
				// failure opens it (and this) again.
				time.AfterFunc(cfg.Server.HostDownCooldown.D(), func() { a.console.SetRingDown(dest, false) })
			}
		},
	})
	// One descriptor budget for the reactor, the bridge's pipes, the
	// HTTP/2 server's backend connections, the admin API's connections and
	// the active checks.
	a.fds = fdbudget.New(options.DefaultLimits.FDReserve)
	a.dns = dnscache.New(cfg.Server.BackendTimeout.D(), log)
	a.dns.SetHosts(dnscache.HostTTLs(cfg))
	if iv := cfg.Server.HealthCheckInterval.D(); iv > 0 {
		// Built here, run by Run: a reload before Run still reaches it.
		a.checker = health.NewChecker(a.health, rt.targets, health.CheckerOptions{Interval: iv, Timeout: cfg.Server.BackendTimeout.D(),
			Dial: a.dns.Dial(a.fds.Dialer(fdbudget.Health, &net.Dialer{}))})
	}
	bridge, err := splice.New(splice.Config{IdleTimeout: cfg.Server.BridgeIdle.D(), Portable: os.Getenv("SWITCHYARD_BRIDGE") == "portable", FDs: a.fds})
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	a.bridge = bridge
	opt := options.Options{
		Drivers:          built,
		Router:           a.router,
		Health:           a.health,
		Bridge:           bridge,
		Logger:           log,
		IdentifierClaim:  cfg.OAuth.JWTUsernameClaim,
		MasterSeparators: strings.Join(cfg.Routing.MasterUserSeparators, ""),
		BackendTimeout:   cfg.Server.BackendTimeout.D(),
		ConnectRetries:   cfg.Server.BackendConnectRetries,
		LookupHost:       a.dns.LookupHost,
		Loops:            cfg.Server.Threads,
		FDs:              a.fds,
	}
	if a.verifier != nil {
		opt.VerifyToken = verifyLogin(a.verifier)
		if hd, ok := built[string(config.HTTP)].(*drivers.HTTP); ok {
			hd.SetVerifyBearer(verifyBearer(a.verifier))
		}
	}
	if cfg.Admin != nil || cfg.Metrics != nil {
		if a.reg, a.metrics, err = observe.NewMetrics(); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		obs, err := observe.New(a.reg, a.metrics, a.fds)
		if err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		obs.Bytes = a.console.AddBytes
		opt.Observer = obs
	}
	if cfg.Admin != nil {
		a.events, a.history = events.NewEventLog(0), events.NewHistory()
		opt.Events = a.console.OnEngineEvent
	}
	if a.certs.Load() != nil {
		opt.ServerTLS = func() *tls.Config { return a.certs.Load().serverConfig() }
	}
	for id, l := range cfg.Listener {
		el := &options.Listener{
			ID: id, Protocol: string(l.Protocol), Addrs: l.Bind,
			TLS:             tlsMode(l.TLS),
			MaxConnections:  l.MaxConnections,
			MaxConnsPerAddr: l.MaxConnectionsPerIP,
			PreauthTimeout:  l.PreauthTimeout.D(),
			MaxAuthAttempts: l.MaxAuthAttempts,
		}
		if l.Protocol == config.HTTP {
			// Every request is routed on its own: the proxy stays in the
			// middle until an upgrade hands the streams to the bridge.
			el.Relay = true
			el.H2 = l.TLS == config.TLSImplicit && (l.HTTP2 == nil || *l.HTTP2)
			el.CommandTimeout, el.ReplyTimeout = cfg.HTTP.KeepaliveTimeout.D(), cfg.HTTP.RelayIdle.D()
		}
		if l.Protocol.Passthrough() {
			if cfg.RoutesRecipients(l) {
				el.Relay = true
				el.CommandTimeout, el.ReplyTimeout = l.CommandTimeout.D(), l.BackendReplyTimeout.D()
			} else {
				el.Passthrough = cfg.Routing.SMTPPassthroughDestination
			}
		}
		switch l.ProxyProtocol {
		case config.ProxyOptional:
			el.ProxyProtocol = options.ProxyOptional
		case config.ProxyRequired:
			el.ProxyProtocol = options.ProxyRequired
		}
		for _, s := range l.ProxyTrusted {
			p, err := parsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("listener.%s.proxy_trusted: %w", id, err)
			}
			el.ProxyTrusted = append(el.ProxyTrusted, p)
		}
		opt.Listeners = append(opt.Listeners, el)
	}
	slices.SortFunc(opt.Listeners, func(x, y *options.Listener) int { return strings.Compare(x.ID, y.ID) })
	opt.Destinations = rt.dests
	eng, err := engine.New(opt)
	if err != nil {
		return nil, err
	}
	a.eng = eng
	if hd, ok := built[string(config.HTTP)].(*drivers.HTTP); ok {
		hd.SetH2(a.newH2Server(hd))
	}
	a.console.Attach(console.Deps{Cfg: cfg, Log: log, Router: a.router, Files: a.files, Store: a.store, Bus: a.bus, Carrier: a.carrier,
		BusKind: a.busKind, Ring: a.ring, Level: a.level, Health: a.health, Checker: a.checker, Engine: a.eng, Events: a.events,
		History: a.history, Metrics: a.metrics,
		Current: func() console.Runtime {
			rt := a.current()
			return console.Runtime{Cfg: rt.cfg, HasDestination: rt.hasDestination}
		},
		ReloadConfig: a.reloadConfig, ReloadNotes: a.ReloadConfig, Drain: a.Drain, Undrain: a.Undrain, ParseLevel: ParseLevel})
	return a, nil
}

// buildDestinations turns [destination.*] into the engine's destinations.
func buildDestinations(cfg *config.Config) (map[string]*options.Destination, error) {
	out := make(map[string]*options.Destination, len(cfg.Destination))
	for id, d := range cfg.Destination {
		ed := &options.Destination{
			ID: id, Host: d.Host, Protocols: map[string]options.DestProtocol{},
			AllowPlaintextAuth: d.AllowPlaintextAuth, HideAuthErrors: d.HideAuthErrors,
		}
		for i, s := range d.SourceIPs {
			ip, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("destination.%s.source_ips[%d]: %w", id, i, err)
			}
			ed.SourceAddrs = append(ed.SourceAddrs, ip)
		}
		for p, ep := range d.Protocol {
			dp := options.DestProtocol{Port: ep.Port, TLS: tlsMode(ep.TLS)}
			switch d.ForwardingFor(p) {
			case config.ForwardProxy:
				dp.Forwarding = options.ForwardProxy
			case config.ForwardXCLIENT:
				dp.Forwarding = options.ForwardXClient
			}
			ed.Protocols[string(p)] = dp
			if dp.TLS != options.TLSPlain && ed.TLSConfig == nil {
				tc, err := clientTLS(id, &d)
				if err != nil {
					return nil, err
				}
				ed.TLSConfig = tc
			}
		}
		out[id] = ed
	}
	return out, nil
}

func tlsMode(m config.TLSMode) options.TLSMode {
	switch m {
	case config.TLSImplicit:
		return options.TLSImplicit
	case config.TLSStartTLS:
		return options.TLSStartTLS
	}
	return options.TLSPlain
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// The stores and the cluster ring buildRouter wires, for config validation.
func init() {
	for _, s := range []config.MappingSource{config.SourceRedis, config.SourceSQL, config.SourcePostgreSQL, config.SourceMySQL, config.SourceSQLite} {
		config.Implemented.MappingSources[s] = true
	}
	config.Implemented.Cluster = true
}

func (a *App) buildRouter() error {
	m := &a.cfg.Mapping
	ropt := router.Options{
		Normalize:          string(m.Normalize),
		PositiveTTL:        m.PositiveTTL.D(),
		NegativeTTL:        m.NegativeTTL.D(),
		DefaultDestination: a.cfg.Routing.DefaultDestination,
		LookupTimeout:      m.LookupTimeout.D(),
		StripDetail:        m.StripDetail,
		DomainAliases:      m.DomainAliases,
		OnStoreError:       m.OnStoreError,
	}
	if m.CacheMaxEntries == 0 {
		ropt.PositiveTTL, ropt.NegativeTTL = router.NoCache, router.NoCache
	} else {
		// freecache is sized in bytes (limits.CacheEntryBytes per entry).
		ropt.CacheBytes = int(min(max(m.CacheMaxEntries*limits.CacheEntryBytes, router.MinCacheBytes), limits.MaxCacheBytes))
	}
	if c := a.cfg.Cluster; c != nil && len(c.Nodes) > 0 {
		nodes := make([]ring.Node, 0, len(c.Nodes))
		for _, n := range c.Nodes {
			nodes = append(nodes, ring.Node{Name: n, Weight: float64(c.Weights[n])})
		}
		rg, err := ring.New(nodes)
		if err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		ropt.Ring = rg
		a.ring = rg
	}
	var store router.Store = console.EmptyStore{}
	switch m.Source {
	case config.SourceFile:
		norm, err := router.NewNormalizer(ropt)
		if err != nil {
			return err
		}
		fs, err := filestore.New(m.File.Path, filestore.Options{
			Normalize: norm,
			Validate:  func(dest string) bool { return a.current().hasDestination(dest) },
		})
		if err != nil {
			return fmt.Errorf("mapping.file.path: %w", err)
		}
		a.files, store = fs, fs
	case config.SourceRedis:
		rs, err := redisstore.New(redisstore.Options{URL: m.Redis.URL, Prefix: m.Redis.KeyPrefix, PoolSize: m.Redis.PoolSize})
		if err != nil {
			return fmt.Errorf("mapping.redis: %w", err)
		}
		store, a.bus, a.busKind = rs, rs.Bus(), "redis"
	case config.SourceSQL, config.SourcePostgreSQL, config.SourceMySQL, config.SourceSQLite:
		ss, err := sqlstore.New(sqlstore.Options{
			URL: m.SQL.URL, Query: m.SQL.Query, Upsert: m.SQL.UpsertQuery, Delete: m.SQL.DeleteQuery,
			List: m.SQL.ListQuery, Count: m.SQL.CountQuery,
			MaxOpenConns: m.SQL.PoolSize,
		})
		if err != nil {
			return fmt.Errorf("mapping.sql: %w", err)
		}
		store = ss
		if ss.Dialect() == sqlstore.Postgres {
			if bus, err := ss.PGBus(""); err == nil {
				a.bus, a.busKind = bus, "postgresql"
			} else {
				a.log.Warn("PostgreSQL invalidation channel unavailable; caches expire by TTL only", "err", err)
			}
		}
	case config.SourceNone:
	default:
		return fmt.Errorf("mapping.source: %q is not supported by this build yet", m.Source)
	}
	a.store = store
	a.carrier, _ = a.bus.(invalidate.Carrier)
	r, err := router.New(ropt, store)
	if err != nil {
		return err
	}
	a.router = r
	return nil
}

// Run serves until ctx ends, then drains for up to shutdown_grace.
func (a *App) Run(ctx context.Context) error {
	ctx, a.cancel = context.WithCancel(ctx)
	defer a.cancel()
	defer a.dns.Close()
	if p, ok := a.store.(interface{ Ping(context.Context) error }); ok {
		// The proxy starts without its store; logins tempfail (or use the
		// default destination, per mapping.on_store_error) until it answers.
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := p.Ping(pctx); err != nil {
			a.log.Error("mapping store unreachable at start; lookups fail until it answers", "source", a.cfg.Mapping.Source, "err", err)
		}
		cancel()
	}
	if a.checker != nil {
		go a.checker.Run(ctx)
	}
	if a.bus != nil {
		go func() {
			if err := invalidate.Attach(ctx, a.bus, a.router); err != nil && ctx.Err() == nil {
				a.log.Error("cache invalidation channel stopped", "err", err)
			}
		}()
	}
	if a.carrier != nil {
		a.console.StartCommands(ctx)
	}
	if a.files != nil {
		go a.files.Watch(ctx, limits.MappingWatchInterval, func(changed []string, err error) {
			if err != nil {
				a.log.Error("mapping file not reloaded; the previous mappings stay in force", "err", err)
				return
			}
			a.router.Invalidate(changed...)
			a.log.Info("mapping file reloaded", "changed", len(changed))
			a.console.FileChanged(changed, "file")
		})
	}
	if a.history != nil {
		go a.console.RunHistory(ctx)
	}
	if splice.KernelTLSAvailable() {
		a.log.Info("kernel TLS (TCP_ULP tls) is available; TLS legs still use user-space crypto")
	} else {
		a.log.Info("kernel TLS (TCP_ULP tls) is not available; TLS legs use user-space crypto")
	}
	errc := make(chan error, 1)
	go func() { errc <- a.eng.Run() }()
	select {
	case err := <-errc:
		return err
	case <-a.eng.Started():
	}
	// With port 0 in bind only this says where a listener is.
	for _, id := range slices.Sorted(maps.Keys(a.cfg.Listener)) {
		a.log.Info("listener bound", "listener", id, "addrs", a.Addrs(id))
	}
	stopAdmin, err := a.startAdmin(ctx)
	stopMetrics := func() {}
	if err == nil {
		if stopMetrics, err = a.startMetrics(ctx); err != nil {
			stopAdmin()
		}
	}
	if err == nil {
		go a.console.ExportBreakers(ctx)
		a.startVerifier(ctx)
	}
	if err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = a.eng.Stop(sctx)
		<-errc
		return err
	}
	defer stopAdmin()
	defer stopMetrics()
	close(a.ready)
	a.logStarted()
	if a.notifier != nil {
		a.notify(a.notifier.Ready(a.statusLine()))
		go a.reportStatus(ctx)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.stopping.Store(true)
	grace := a.cfg.Server.ShutdownGrace.D()
	stopStart := time.Now()
	sessions := len(a.eng.Sessions(nil))
	a.log.Info("switchyard stopping: listeners closed, sessions get the grace to finish", "sessions", sessions, "grace", grace)
	if a.notifier != nil {
		a.notify(a.notifier.Stopping(fmt.Sprintf("stopping, %d session(s) finishing", sessions)))
	}
	defer func() {
		a.log.Info("switchyard stopped", "duration", time.Since(stopStart), "sessions_cut", len(a.eng.Sessions(nil)))
	}()
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err = a.eng.Stop(sctx)
	if berr := a.bridge.Shutdown(sctx); berr != nil && !errors.Is(berr, context.DeadlineExceeded) {
		err = errors.Join(err, berr)
	}
	<-errc
	if cerr := a.store.Close(); cerr != nil {
		a.log.Warn("closing the mapping store", "err", cerr)
	}
	return err
}

// Started is closed when every listener is bound.
func (a *App) Started() <-chan struct{} { return a.eng.Started() }

// Ready is closed once every listener is bound and the admin API, when
// configured, listens: Bound and AdminAddr then say where.
func (a *App) Ready() <-chan struct{} { return a.ready }

// Bound returns every listener's bound addresses by listener id (after
// Started).
func (a *App) Bound() map[string][]string {
	out := make(map[string][]string, len(a.cfg.Listener))
	for id := range a.cfg.Listener {
		out[id] = a.Addrs(id)
	}
	return out
}

// Router exposes the router (admin API, tests).
func (a *App) Router() *router.Router { return a.router }

// Engine exposes the engine's counters.
func (a *App) Engine() *engine.Engine { return a.eng }

// Addrs returns the addresses listener id is bound to once Started: with
// port 0 in bind, the ports the kernel chose (tests bind ":0" and read the
// real address here).
func (a *App) Addrs(id string) []string {
	var out []string
	for _, ap := range a.eng.Addrs(id) {
		out = append(out, ap.String())
	}
	return out
}

func sortedIDs[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
