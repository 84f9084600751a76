package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-mail/switchyard/admin"
	"github.com/switchyard-mail/switchyard/admin/backend"
	"github.com/switchyard-mail/switchyard/admin/events"
	"github.com/switchyard-mail/switchyard/admin/metrics"
	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/engine"
	"github.com/switchyard-mail/switchyard/internal/fdbudget"
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/router"
	"github.com/switchyard-mail/switchyard/router/filestore"
	"github.com/switchyard-mail/switchyard/router/health"
	"github.com/switchyard-mail/switchyard/router/invalidate"
	"github.com/switchyard-mail/switchyard/router/sqlstore"
)

func init() { config.Implemented.Admin = true }

// adminBackend is the admin API's view of a running App.
type adminBackend struct {
	a       *App
	started time.Time
}

var _ backend.Backend = (*adminBackend)(nil)

// fileWriter adapts the file store to invalidate.Writer and BatchWriter.
// An edit also installs hand edits of the file not loaded yet: those
// identifiers are dropped from the router's cache too.
type fileWriter struct {
	fs *filestore.Store
	r  *router.Router
}

func (w fileWriter) Set(_ context.Context, id, dest string) error {
	changed, err := w.fs.Set(id, dest)
	w.r.Invalidate(changed...)
	return err
}

func (w fileWriter) Delete(_ context.Context, id string) error {
	changed, err := w.fs.Delete(id)
	if errors.Is(err, filestore.ErrNotFound) {
		return backend.ErrNotFound
	}
	w.r.Invalidate(changed...)
	return err
}

func (w fileWriter) SetMany(_ context.Context, pairs []router.Mapping) error {
	fp := make([]filestore.Pair, len(pairs))
	for i, p := range pairs {
		fp[i] = filestore.Pair(p)
	}
	changed, err := w.fs.SetMany(fp)
	var be *filestore.BatchError
	if errors.As(err, &be) {
		return &invalidate.BatchError{Index: be.Index, Err: be.Err}
	}
	w.r.Invalidate(changed...)
	return err
}

func (b *adminBackend) writer() (invalidate.Writer, error) {
	switch s := b.a.store.(type) {
	case *filestore.Store:
		return fileWriter{s, b.a.router}, nil
	case invalidate.Writer:
		return s, nil
	}
	return nil, backend.ErrReadOnly
}

func (b *adminBackend) Stats() backend.Stats {
	st := &b.a.eng.Stats
	refusals := map[string]uint64{}
	for reason, n := range b.a.eng.Refusals() {
		refusals[reason] = uint64(n)
	}
	var all, reactor, bridged int64
	for _, s := range b.a.eng.Sessions(nil) {
		all++
		switch s.State {
		case engine.StateBridged:
			bridged++
		case engine.StateStream:
		default:
			reactor++
		}
	}
	cs := b.a.router.CacheStats()
	return backend.Stats{
		CacheHits:          uint64(cs.Hits),
		CacheMisses:        uint64(cs.Misses),
		CacheEntries:       cs.Entries,
		Accepted:           uint64(st.Accepted.Load()),
		Refused:            uint64(st.RefusedBusy.Load()),
		Logins:             uint64(st.Logins.Load()),
		LoginFailures:      uint64(st.LoginFailures.Load()),
		BackendFailures:    uint64(st.BackendFailures.Load()),
		Bridged:            uint64(st.Bridged.Load()),
		ActiveConnections:  all,
		ReactorConnections: reactor,
		ActiveSessions:     bridged,
		Refusals:           refusals,
		Started:            b.started,
	}
}

func (b *adminBackend) Ready() bool { return !b.a.eng.Draining() }

// Destinations, ResetDestination, SetMapping and ImportMappings read the
// runtime state in force (one value per call), so that a reload's
// destinations are there at once and a removed one is refused.

func (b *adminBackend) Destinations() []backend.DestinationStatus {
	var out []backend.DestinationStatus
	for id, d := range b.a.current().cfg.Destination {
		ds := backend.DestinationStatus{ID: id, Host: d.Host}
		for p, ep := range d.Protocol {
			ps := backend.ProtocolStatus{Protocol: string(p), Port: ep.Port}
			if st := b.a.health.State(id, string(p)); st != health.Closed {
				down := true
				ps.Down = &down
				ds.Down = true
			}
			ds.Protocols = append(ds.Protocols, ps)
		}
		slices.SortFunc(ds.Protocols, func(x, y backend.ProtocolStatus) int { return strings.Compare(x.Protocol, y.Protocol) })
		out = append(out, ds)
	}
	slices.SortFunc(out, func(x, y backend.DestinationStatus) int { return strings.Compare(x.ID, y.ID) })
	return out
}

func (b *adminBackend) ResetDestination(id string) error {
	d, ok := b.a.current().cfg.Destination[id]
	if !ok {
		return backend.ErrNotFound
	}
	for p := range d.Protocol {
		b.a.health.Success(id, string(p)) // closes the circuit
	}
	b.a.setRingDown(id, false)
	b.a.event(events.Event{Kind: events.EventReset, Destination: id, Actor: "api"})
	return nil
}

func (b *adminBackend) Mapping(id string) (backend.MappingInfo, error) {
	n := b.a.router.Normalize(id)
	if n == "" {
		return backend.MappingInfo{}, backend.ErrInvalid
	}
	ctx, cancel := context.WithTimeout(context.Background(), limits.AdminStoreTimeout)
	defer cancel()
	res, err := b.a.router.Resolve(ctx, id)
	switch {
	case errors.Is(err, router.ErrNoRoute):
		return backend.MappingInfo{Normalized: n, Source: backend.SourceNone}, nil
	case errors.Is(err, router.ErrInvalidIdentifier):
		return backend.MappingInfo{}, backend.ErrInvalid
	case err != nil:
		return backend.MappingInfo{}, fmt.Errorf("%w: %v", backend.ErrUnavailable, err)
	}
	return backend.MappingInfo{Normalized: n, Destination: res.Destination, Source: res.Source.String(), Cached: res.Cached}, nil
}

func (b *adminBackend) SetMapping(id, dest string) error {
	return b.setMapping(b.a.current(), id, dest)
}

func (b *adminBackend) setMapping(rt *runtimeState, id, dest string) error {
	if !rt.hasDestination(dest) {
		return backend.ErrUnknownDestination
	}
	if err := b.a.allowDestination(rt, dest); err != nil {
		return err
	}
	if b.a.router.Normalize(id) == "" {
		return backend.ErrInvalid
	}
	w, err := b.writer()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), limits.AdminStoreTimeout)
	defer cancel()
	return b.a.flip(ctx, w, id, dest, "api")
}

// flip writes a mapping (store, caches, other instances) and records it
// in the activity log with the mapping it replaced.
func (a *App) flip(ctx context.Context, w invalidate.Writer, id, dest, actor string) error {
	n := a.router.Normalize(id)
	prev, _, _ := a.store.Lookup(ctx, n)
	if err := storeErr(invalidate.Set(ctx, w, a.router, a.bus, id, dest)); err != nil {
		return err
	}
	a.event(events.Event{Kind: events.EventFlip, Account: n, From: prev, Destination: dest, Actor: actor})
	return nil
}

func (b *adminBackend) DeleteMapping(id string) error {
	w, err := b.writer()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), limits.AdminStoreTimeout)
	defer cancel()
	n := b.a.router.Normalize(id)
	prev, _, _ := b.a.store.Lookup(ctx, n)
	if err := storeErr(invalidate.Delete(ctx, w, b.a.router, b.a.bus, id)); err != nil {
		return err
	}
	b.a.event(events.Event{Kind: events.EventFlip, Account: n, From: prev, Actor: "api", Reason: "mapping removed"})
	return nil
}

func storeErr(err error) error {
	if errors.Is(err, sqlstore.ErrReadOnly) {
		return backend.ErrReadOnly
	}
	return err
}

func (b *adminBackend) ExportMappings(w io.Writer) error {
	fs, ok := b.a.store.(*filestore.Store)
	if !ok {
		return b.a.exportListed(w)
	}
	data, err := os.ReadFile(fs.Path())
	if err != nil {
		return err
	}
	m, err := filestore.ParseMapping(fs.Path(), data, filestore.Options{Normalize: b.a.router.Normalize})
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if _, err := fmt.Fprintf(w, "%s %s\n", id, m[id]); err != nil {
			return err
		}
	}
	return nil
}

// ImportMappings writes every pair at once, all or nothing: every pair is
// checked first (destination in force and allowed, identifier usable),
// then the store takes the whole batch in one write (the file rewritten
// once, one SQL transaction, one Redis MULTI/EXEC), then the caches and
// the other instances are told once. A store without batch writes (a
// custom Writer) gets one write per pair and may stop part way.
func (b *adminBackend) ImportMappings(pairs []backend.Pair) (int, error) {
	a := b.a
	rt := a.current() // one configuration for the whole import
	allowed := map[string]error{}
	batch := make([]router.Mapping, len(pairs))
	for i, p := range pairs {
		if !rt.hasDestination(p.Destination) {
			return 0, &backend.ItemError{Index: i, Err: backend.ErrUnknownDestination}
		}
		err, seen := allowed[p.Destination]
		if !seen {
			err = a.allowDestination(rt, p.Destination)
			allowed[p.Destination] = err
		}
		if err != nil {
			return 0, &backend.ItemError{Index: i, Err: err}
		}
		n := a.router.Normalize(p.Identifier)
		if n == "" {
			return 0, &backend.ItemError{Index: i, Err: backend.ErrInvalid}
		}
		batch[i] = router.Mapping{Identifier: n, Destination: p.Destination}
	}
	w, err := b.writer()
	if err != nil {
		return 0, &backend.ItemError{Index: 0, Err: err}
	}
	ctx, cancel := context.WithTimeout(context.Background(), limits.AdminImportTimeout)
	defer cancel()
	n, err := invalidate.SetMany(ctx, w, a.router, a.bus, batch)
	if err != nil {
		var be *invalidate.BatchError
		if errors.As(err, &be) {
			if n > 0 {
				a.event(events.Event{Kind: events.EventImport, Count: n, Actor: "api", Reason: "stopped: " + be.Err.Error()})
			}
			return n, &backend.ItemError{Index: be.Index, Err: storeErr(be.Err)}
		}
		if n == 0 {
			return 0, fmt.Errorf("import: %w", storeErr(err))
		}
		// Written; only the announcement to other instances failed.
		a.log.Warn("import written; other instances were not told (their caches expire by TTL)", "err", err)
	}
	a.log.Info("mappings imported", "count", len(pairs), "actor", "api")
	a.event(events.Event{Kind: events.EventImport, Count: len(pairs), Actor: "api"})
	return len(pairs), nil
}

func (b *adminBackend) ReloadMappings() error {
	if b.a.files == nil {
		b.a.router.InvalidateAll()
		return nil
	}
	changed, err := b.a.files.Reload()
	if err != nil {
		return err
	}
	b.a.router.Invalidate(changed...)
	return nil
}

func (b *adminBackend) InvalidateCache(id string) {
	if id == "" {
		b.a.router.InvalidateAll()
		b.a.event(events.Event{Kind: events.EventCache, Reason: "whole cache", Actor: "api"})
		return
	}
	n := b.a.router.Normalize(id)
	b.a.router.Invalidate(n)
	b.a.event(events.Event{Kind: events.EventCache, Account: n, Actor: "api"})
}

func (b *adminBackend) match(f backend.ConnFilter, c backend.Connection) bool {
	return (f.ID == 0 || f.ID == c.ID) &&
		(f.Identifier == "" || b.a.router.Normalize(f.Identifier) == c.Account) &&
		(f.Destination == "" || f.Destination == c.Destination) &&
		(f.Protocol == "" || f.Protocol == c.Protocol) &&
		(f.State == "" || f.State == c.State)
}

func (b *adminBackend) Connections(f backend.ConnFilter) []backend.Connection {
	var out []backend.Connection
	now := time.Now()
	for _, s := range b.a.eng.Sessions(nil) {
		if c := connectionOf(s, now); b.match(f, c) {
			out = append(out, c)
		}
	}
	return out
}

// Kick closes matching connections wherever they live: in the reactor
// (pre-auth, logging in, relayed), in the bridge, or served by HTTP/2.
func (b *adminBackend) Kick(f backend.ConnFilter) int {
	now := time.Now()
	return b.a.eng.KickSessions(func(s engine.SessionInfo) bool {
		return b.match(f, connectionOf(s, now))
	})
}

// connectionOf describes a live session for the admin API.
func connectionOf(s engine.SessionInfo, now time.Time) backend.Connection {
	state := backend.StatePreauth
	if s.State == engine.StateBridged {
		state = backend.StateBridged
	}
	return backend.Connection{ID: s.ID, Account: s.Account, Listener: s.Listener, Client: s.Client, State: state,
		Age: now.Sub(s.Started), Protocol: s.Protocol, Destination: s.Destination, Bridge: s.Bridge,
		BytesIn: s.BytesIn, BytesOut: s.BytesOut}
}

// Delay holds new logins of the account (see engine.Delay).
func (b *adminBackend) Delay(id string, d time.Duration) error {
	b.a.hold(b.a.router.Normalize(id), d, "api")
	return nil
}

func (b *adminBackend) ReloadConfig() ([]string, error) {
	return b.a.ReloadConfig()
}

func (b *adminBackend) Drain() error {
	b.a.Drain("api")
	return nil
}

func (b *adminBackend) Undrain() error { return b.a.Undrain("api") }

func (b *adminBackend) SetLogLevel(level string) error {
	if err := b.a.allowConfigWrite("the log level"); err != nil {
		return err
	}
	if b.a.level == nil {
		return backend.ErrUnavailable
	}
	b.a.level.Set(ParseLevel(level))
	return nil
}

// ParseLevel maps a configured log level to slog's.
func ParseLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "trace", "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	case "off":
		return slog.LevelError + 8
	}
	return slog.LevelInfo
}

// startAdmin binds [admin] and serves it until ctx ends.
func (a *App) startAdmin(ctx context.Context) (stop func(), err error) {
	c := a.cfg.Admin
	if c == nil || c.Bind == "" {
		return func() {}, nil
	}
	token, err := secret(c.BearerToken, c.BearerTokenFile, "admin.bearer_token_file")
	if err != nil {
		return nil, err
	}
	viewer, err := secret(c.ViewerToken, c.ViewerTokenFile, "admin.viewer_token_file")
	if err != nil {
		return nil, err
	}
	opt := admin.Options{
		BearerToken:      token,
		ViewerToken:      viewer,
		Events:           a.events,
		History:          a.history,
		MinTokenLen:      c.MinTokenLen,
		LockoutThreshold: c.LockoutThreshold,
		LockoutDuration:  c.LockoutDuration.D(),
		Logger:           a.log,
		Registry:         a.reg,
		Metrics:          a.metrics,
		Pprof:            a.pprof,
	}
	if c.TLS == config.TLSImplicit {
		if a.certs.Load() == nil {
			return nil, errors.New("admin.tls: no [tls.certificate] to serve the admin API with")
		}
		var cache adminTLSCache
		opt.TLS = &tls.Config{
			// The listeners' server config, whatever [tls.protocols] and
			// certificates are in force (reloads included), with the
			// admin API's ALPN.
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
				return cache.get(a.certs.Load()), nil
			},
		}
	}
	srv, err := admin.New(opt, a.backend())
	if err != nil {
		return nil, err
	}
	ln := a.adminLn
	if ln == nil {
		if ln, err = net.Listen("tcp", c.Bind); err != nil {
			return nil, fmt.Errorf("admin.bind: %w", err)
		}
	}
	addr := ln.Addr().String()
	a.adminAddr.Store(&addr)
	a.log.Info("admin API listening", "addr", addr)
	ln = a.fds.Listener(ln, fdbudget.Admin)
	go func() {
		if err := srv.Serve(ln); err != nil && ctx.Err() == nil {
			a.log.Error("admin API stopped", "err", err)
		}
	}()
	if a.pprof {
		a.log.Warn("Go's profiler is served on the admin API under /debug/pprof/ (admin token required)", "addr", addr)
	}
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}

// secret reads a token given inline or in a file (the file wins, as
// for the admin token).
func secret(inline, file, key string) (string, error) {
	if file == "" {
		return inline, nil
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	return strings.TrimSpace(string(raw)), nil
}

// backend is the admin API's Backend over a, made once: its stats are
// registered on the metrics registry when it is made.
func (a *App) backend() *adminBackend {
	a.backendOnce.Do(func() {
		a.adminB = &adminBackend{a: a, started: a.con.started}
		if a.reg != nil {
			if err := metrics.RegisterStats(a.reg, a.adminB); err != nil {
				a.log.Error("metrics: stats collector", "err", err)
			}
		}
	})
	return a.adminB
}

// startMetrics binds [metrics] and serves /metrics there until ctx ends.
func (a *App) startMetrics(ctx context.Context) (stop func(), err error) {
	c := a.cfg.Metrics
	if c == nil || c.Bind == "" {
		return func() {}, nil
	}
	token, err := secret(c.Token, c.TokenFile, "metrics.token_file")
	if err != nil {
		return nil, err
	}
	a.backend() // registers the stats collector
	opt := admin.MetricsOptions{Registry: a.reg, Metrics: a.metrics, Token: token, Logger: a.log}
	if c.TLS == config.TLSImplicit {
		if a.certs.Load() == nil {
			return nil, errors.New("metrics.tls: no [tls.certificate] to serve /metrics with")
		}
		var cache adminTLSCache
		opt.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return cache.get(a.certs.Load()), nil
		}}
	}
	srv, err := admin.NewMetricsServer(opt)
	if err != nil {
		return nil, err
	}
	ln := a.metricsLn
	if ln == nil {
		if ln, err = net.Listen("tcp", c.Bind); err != nil {
			return nil, fmt.Errorf("metrics.bind: %w", err)
		}
	}
	addr := ln.Addr().String()
	a.metricsAddr.Store(&addr)
	go func() {
		if err := srv.Serve(ln); err != nil && ctx.Err() == nil {
			a.log.Error("metrics listener stopped", "err", err)
		}
	}()
	a.log.Info("metrics listener", "addr", addr, "tls", opt.TLS != nil, "token", token != "")
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}

// MetricsAddr is the [metrics] listener's address ("" before it listens).
func (a *App) MetricsAddr() string {
	if p := a.metricsAddr.Load(); p != nil {
		return *p
	}
	return ""
}

// adminTLSCache derives the admin API's TLS config from the listeners'
// once per certificate set (a reload makes a new set).
type adminTLSCache struct {
	mu  sync.Mutex
	cs  *certSet
	cfg *tls.Config
}

func (c *adminTLSCache) get(cs *certSet) *tls.Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cs != cs {
		cfg := cs.serverConfig().Clone()
		cfg.NextProtos = []string{"http/1.1"}
		c.cs, c.cfg = cs, cfg
	}
	return c.cfg
}

// EnablePprof serves Go's profiler on the admin API under /debug/pprof/,
// behind the admin token. Call it before Run.
func (a *App) EnablePprof() { a.pprof = true }

// AdminAddr is the admin API's listening address ("" before it listens).
func (a *App) AdminAddr() string {
	if p := a.adminAddr.Load(); p != nil {
		return *p
	}
	return ""
}
