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

var _ admin.Backend = (*adminBackend)(nil)

// fileWriter adapts the file store to invalidate.Writer.
type fileWriter struct{ fs *filestore.Store }

func (w fileWriter) Set(_ context.Context, id, dest string) error {
	_, err := w.fs.Set(id, dest)
	return err
}

func (w fileWriter) Delete(_ context.Context, id string) error {
	_, err := w.fs.Delete(id)
	if errors.Is(err, filestore.ErrNotFound) {
		return admin.ErrNotFound
	}
	return err
}

func (b *adminBackend) writer() (invalidate.Writer, error) {
	switch s := b.a.store.(type) {
	case *filestore.Store:
		return fileWriter{s}, nil
	case invalidate.Writer:
		return s, nil
	}
	return nil, admin.ErrReadOnly
}

func (b *adminBackend) Stats() admin.Stats {
	st := &b.a.eng.Stats
	refusals := map[string]uint64{}
	for reason, n := range b.a.eng.Refusals() {
		refusals[reason] = uint64(n)
	}
	var reactor, bridged int64
	for _, s := range b.a.eng.Sessions(nil) {
		switch s.State {
		case engine.StateBridged:
			bridged++
		case engine.StateStream:
		default:
			reactor++
		}
	}
	return admin.Stats{
		Accepted:          uint64(st.Accepted.Load()),
		Refused:           uint64(st.RefusedBusy.Load()),
		Logins:            uint64(st.Logins.Load()),
		LoginFailures:     uint64(st.LoginFailures.Load()),
		BackendFailures:   uint64(st.BackendFailures.Load()),
		Bridged:           uint64(st.Bridged.Load()),
		ActiveConnections: reactor,
		ActiveSessions:    bridged,
		Refusals:          refusals,
		Started:           b.started,
	}
}

func (b *adminBackend) Ready() bool { return !b.a.eng.Draining() }

// Destinations, ResetDestination, SetMapping and ImportMappings read the
// runtime state in force (one value per call), so that a reload's
// destinations are there at once and a removed one is refused.

func (b *adminBackend) Destinations() []admin.DestinationStatus {
	var out []admin.DestinationStatus
	for id, d := range b.a.current().cfg.Destination {
		ds := admin.DestinationStatus{ID: id, Host: d.Host}
		for p, ep := range d.Protocol {
			ps := admin.ProtocolStatus{Protocol: string(p), Port: ep.Port}
			if st := b.a.health.State(id, string(p)); st != health.Closed {
				down := true
				ps.Down = &down
				ds.Down = true
			}
			ds.Protocols = append(ds.Protocols, ps)
		}
		slices.SortFunc(ds.Protocols, func(x, y admin.ProtocolStatus) int { return strings.Compare(x.Protocol, y.Protocol) })
		out = append(out, ds)
	}
	slices.SortFunc(out, func(x, y admin.DestinationStatus) int { return strings.Compare(x.ID, y.ID) })
	return out
}

func (b *adminBackend) ResetDestination(id string) error {
	d, ok := b.a.current().cfg.Destination[id]
	if !ok {
		return admin.ErrNotFound
	}
	for p := range d.Protocol {
		b.a.health.Success(id, string(p)) // closes the circuit
	}
	if b.a.ring != nil {
		b.a.ring.SetDown(id, false)
	}
	return nil
}

func (b *adminBackend) Mapping(id string) (admin.MappingInfo, error) {
	n := b.a.router.Normalize(id)
	if n == "" {
		return admin.MappingInfo{}, admin.ErrInvalid
	}
	ctx, cancel := context.WithTimeout(context.Background(), limits.AdminStoreTimeout)
	defer cancel()
	res, err := b.a.router.Resolve(ctx, id)
	switch {
	case errors.Is(err, router.ErrNoRoute):
		return admin.MappingInfo{Normalized: n, Source: admin.SourceNone}, nil
	case errors.Is(err, router.ErrInvalidIdentifier):
		return admin.MappingInfo{}, admin.ErrInvalid
	case err != nil:
		return admin.MappingInfo{}, fmt.Errorf("%w: %v", admin.ErrUnavailable, err)
	}
	return admin.MappingInfo{Normalized: n, Destination: res.Destination, Source: res.Source.String(), Cached: res.Cached}, nil
}

func (b *adminBackend) SetMapping(id, dest string) error {
	return b.setMapping(b.a.current(), id, dest)
}

func (b *adminBackend) setMapping(rt *runtimeState, id, dest string) error {
	if !rt.hasDestination(dest) {
		return admin.ErrUnknownDestination
	}
	if b.a.router.Normalize(id) == "" {
		return admin.ErrInvalid
	}
	w, err := b.writer()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), limits.AdminStoreTimeout)
	defer cancel()
	return storeErr(invalidate.Set(ctx, w, b.a.router, b.a.bus, id, dest))
}

func (b *adminBackend) DeleteMapping(id string) error {
	w, err := b.writer()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), limits.AdminStoreTimeout)
	defer cancel()
	return storeErr(invalidate.Delete(ctx, w, b.a.router, b.a.bus, id))
}

func storeErr(err error) error {
	if errors.Is(err, sqlstore.ErrReadOnly) {
		return admin.ErrReadOnly
	}
	return err
}

func (b *adminBackend) ExportMappings(w io.Writer) error {
	fs, ok := b.a.store.(*filestore.Store)
	if !ok {
		return fmt.Errorf("%w: export is implemented for the file store only", admin.ErrUnavailable)
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

func (b *adminBackend) ImportMappings(pairs []admin.Pair) (int, error) {
	rt := b.a.current() // one configuration for the whole import
	for i, p := range pairs {
		if !rt.hasDestination(p.Destination) {
			return 0, &admin.ItemError{Index: i, Err: admin.ErrUnknownDestination}
		}
	}
	for i, p := range pairs {
		if err := b.setMapping(rt, p.Identifier, p.Destination); err != nil {
			return i, &admin.ItemError{Index: i, Err: err}
		}
	}
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
		return
	}
	b.a.router.Invalidate(b.a.router.Normalize(id))
}

func (b *adminBackend) match(f admin.ConnFilter, c admin.Connection) bool {
	return (f.ID == 0 || f.ID == c.ID) &&
		(f.Identifier == "" || b.a.router.Normalize(f.Identifier) == c.Account) &&
		(f.Destination == "" || f.Destination == c.Destination) &&
		(f.Protocol == "" || f.Protocol == c.Protocol) &&
		(f.State == "" || f.State == c.State)
}

func (b *adminBackend) Connections(f admin.ConnFilter) []admin.Connection {
	var out []admin.Connection
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
func (b *adminBackend) Kick(f admin.ConnFilter) int {
	now := time.Now()
	return b.a.eng.KickSessions(func(s engine.SessionInfo) bool {
		return b.match(f, connectionOf(s, now))
	})
}

// connectionOf describes a live session for the admin API.
func connectionOf(s engine.SessionInfo, now time.Time) admin.Connection {
	state := admin.StatePreauth
	if s.State == engine.StateBridged {
		state = admin.StateBridged
	}
	return admin.Connection{ID: s.ID, Account: s.Account, Listener: s.Listener, Client: s.Client, State: state,
		Age: now.Sub(s.Started), Protocol: s.Protocol, Destination: s.Destination, Bridge: s.Bridge,
		BytesIn: s.BytesIn, BytesOut: s.BytesOut}
}

// Delay holds new logins of the account (see engine.Delay).
func (b *adminBackend) Delay(id string, d time.Duration) error {
	b.a.eng.Delay(b.a.router.Normalize(id), d)
	return nil
}

func (b *adminBackend) ReloadConfig() ([]string, error) {
	return b.a.ReloadConfig()
}

func (b *adminBackend) Drain() error {
	b.a.eng.Drain()
	return nil
}

func (b *adminBackend) SetLogLevel(level string) error {
	if b.a.level == nil {
		return admin.ErrUnavailable
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
	token := c.BearerToken
	if c.BearerTokenFile != "" {
		raw, err := os.ReadFile(c.BearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("admin.bearer_token_file: %w", err)
		}
		token = strings.TrimSpace(string(raw))
	}
	opt := admin.Options{
		BearerToken:      token,
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
	srv, err := admin.New(opt, &adminBackend{a: a, started: time.Now()})
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
