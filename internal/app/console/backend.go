package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/switchyard-mail/switchyard/admin/backend"
	"github.com/switchyard-mail/switchyard/admin/events"
	"github.com/switchyard-mail/switchyard/admin/metrics"
	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/engine"
	"github.com/switchyard-mail/switchyard/engine/sessions"
	"github.com/switchyard-mail/switchyard/health"
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/router"
	"github.com/switchyard-mail/switchyard/router/filestore"
	"github.com/switchyard-mail/switchyard/router/invalidate"
	"github.com/switchyard-mail/switchyard/router/ring"
	"github.com/switchyard-mail/switchyard/router/sqlstore"
)

// Backend is the process side of the admin API (backend.Backend and
// backend.Console), of the activity log and history, and of cut-overs
// between instances. New makes it; Attach gives it the running parts.
type Backend struct {
	con     consoleState
	started time.Time

	deps Deps // the running parts, from Attach
}

// Runtime is what the backend reads of the configuration in force.
type Runtime struct {
	Cfg            *config.Config
	HasDestination func(id string) bool
}

// Deps are the running parts of the process the backend works on, and
// what it asks of the process.
type Deps struct {
	Cfg     *config.Config // the boot configuration
	Log     *slog.Logger
	Router  *router.Router
	Files   *filestore.Store // nil unless [mapping] source = "file"
	Store   router.Store
	Bus     invalidate.Bus
	Carrier invalidate.Carrier // Bus when it carries commands, else nil
	BusKind string
	Ring    *ring.Ring // nil without [cluster]
	Level   *slog.LevelVar
	Health  *health.Registry
	Checker *health.Checker
	Engine  *engine.Engine
	Events  *events.EventLog
	History *events.History
	Metrics *metrics.Metrics

	Current func() Runtime
	// ReloadConfig rereads the file for actor; ReloadNotes is the admin
	// API's reload (its notes).
	ReloadConfig func(actor string) (applied, notes []string, err error)
	ReloadNotes  func() ([]string, error)
	Drain        func(actor string)
	Undrain      func(actor string) error
	ParseLevel   func(string) slog.Level
}

// New returns a backend with this instance's name and start time; it
// serves once attached.
func New() *Backend {
	b := &Backend{}
	b.con.init()
	b.started = b.con.started
	return b
}

// Attach gives b the running parts (at the end of app.New).
func (b *Backend) Attach(d Deps) {
	b.deps = d
}

// AddBytes counts the bytes of an ended session for the history.
func (b *Backend) AddBytes(toBackend, toClient int64) {
	b.con.bytesIn.Add(toBackend)
	b.con.bytesOut.Add(toClient)
}

// Logins is how many logins ended with loginOutcomes[i] since start.
func (b *Backend) Logins(i int) uint64 { return b.con.logins[i].Load() }

var _ backend.Console = (*Backend)(nil)

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

func (b *Backend) writer() (invalidate.Writer, error) {
	switch s := b.deps.Store.(type) {
	case *filestore.Store:
		return fileWriter{s, b.deps.Router}, nil
	case invalidate.Writer:
		return s, nil
	}
	return nil, backend.ErrReadOnly
}

func (b *Backend) Stats() backend.Stats {
	st := &b.deps.Engine.Stats
	refusals := map[string]uint64{}
	for reason, n := range b.deps.Engine.Refusals() {
		refusals[reason] = uint64(n)
	}
	var all, reactor, bridged int64
	for _, s := range b.deps.Engine.Sessions(nil) {
		all++
		switch s.State {
		case sessions.StateBridged:
			bridged++
		case sessions.StateStream:
		default:
			reactor++
		}
	}
	cs := b.deps.Router.CacheStats()
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

func (b *Backend) Ready() bool { return !b.deps.Engine.Draining() }

// Destinations, ResetDestination, SetMapping and ImportMappings read the
// runtime state in force (one value per call), so that a reload's
// destinations are there at once and a removed one is refused.

func (b *Backend) Destinations() []backend.DestinationStatus {
	var out []backend.DestinationStatus
	for id, d := range b.deps.Current().Cfg.Destination {
		ds := backend.DestinationStatus{ID: id, Host: d.Host}
		for p, ep := range d.Protocol {
			ps := backend.ProtocolStatus{Protocol: string(p), Port: ep.Port}
			if st := b.deps.Health.State(id, string(p)); st != health.Closed {
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

func (b *Backend) ResetDestination(id string) error {
	d, ok := b.deps.Current().Cfg.Destination[id]
	if !ok {
		return backend.ErrNotFound
	}
	for p := range d.Protocol {
		b.deps.Health.Success(id, string(p)) // closes the circuit
	}
	b.SetRingDown(id, false)
	b.Event(events.Event{Kind: events.EventReset, Destination: id, Actor: "api"})
	return nil
}

func (b *Backend) Mapping(id string) (backend.MappingInfo, error) {
	n := b.deps.Router.Normalize(id)
	if n == "" {
		return backend.MappingInfo{}, backend.ErrInvalid
	}
	ctx, cancel := context.WithTimeout(context.Background(), limits.AdminStoreTimeout)
	defer cancel()
	res, err := b.deps.Router.Resolve(ctx, id)
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

func (b *Backend) SetMapping(id, dest string) error {
	return b.setMapping(b.deps.Current(), id, dest)
}

func (b *Backend) setMapping(rt Runtime, id, dest string) error {
	if !rt.HasDestination(dest) {
		return backend.ErrUnknownDestination
	}
	if err := b.allowDestination(rt, dest); err != nil {
		return err
	}
	if b.deps.Router.Normalize(id) == "" {
		return backend.ErrInvalid
	}
	w, err := b.writer()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), limits.AdminStoreTimeout)
	defer cancel()
	return b.flip(ctx, w, id, dest, "api")
}

// flip writes a mapping (store, caches, other instances) and records it
// in the activity log with the mapping it replaced.
func (a *Backend) flip(ctx context.Context, w invalidate.Writer, id, dest, actor string) error {
	n := a.deps.Router.Normalize(id)
	prev, _, _ := a.deps.Store.Lookup(ctx, n)
	if err := storeErr(invalidate.Set(ctx, w, a.deps.Router, a.deps.Bus, id, dest)); err != nil {
		return err
	}
	a.Event(events.Event{Kind: events.EventFlip, Account: n, From: prev, Destination: dest, Actor: actor})
	return nil
}

func (b *Backend) DeleteMapping(id string) error {
	w, err := b.writer()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), limits.AdminStoreTimeout)
	defer cancel()
	n := b.deps.Router.Normalize(id)
	prev, _, _ := b.deps.Store.Lookup(ctx, n)
	if err := storeErr(invalidate.Delete(ctx, w, b.deps.Router, b.deps.Bus, id)); err != nil {
		return err
	}
	b.Event(events.Event{Kind: events.EventFlip, Account: n, From: prev, Actor: "api", Reason: "mapping removed"})
	return nil
}

func storeErr(err error) error {
	if errors.Is(err, sqlstore.ErrReadOnly) {
		return backend.ErrReadOnly
	}
	return err
}

func (b *Backend) ExportMappings(w io.Writer) error {
	fs, ok := b.deps.Store.(*filestore.Store)
	if !ok {
		return b.exportListed(w)
	}
	data, err := os.ReadFile(fs.Path())
	if err != nil {
		return err
	}
	m, err := filestore.ParseMapping(fs.Path(), data, filestore.Options{Normalize: b.deps.Router.Normalize})
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
func (b *Backend) ImportMappings(pairs []backend.Pair) (int, error) {
	a := b
	rt := a.deps.Current() // one configuration for the whole import
	allowed := map[string]error{}
	batch := make([]router.Mapping, len(pairs))
	for i, p := range pairs {
		if !rt.HasDestination(p.Destination) {
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
		n := a.deps.Router.Normalize(p.Identifier)
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
	n, err := invalidate.SetMany(ctx, w, a.deps.Router, a.deps.Bus, batch)
	if err != nil {
		var be *invalidate.BatchError
		if errors.As(err, &be) {
			if n > 0 {
				a.Event(events.Event{Kind: events.EventImport, Count: n, Actor: "api", Reason: "stopped: " + be.Err.Error()})
			}
			return n, &backend.ItemError{Index: be.Index, Err: storeErr(be.Err)}
		}
		if n == 0 {
			return 0, fmt.Errorf("import: %w", storeErr(err))
		}
		// Written; only the announcement to other instances failed.
		a.deps.Log.Warn("import written; other instances were not told (their caches expire by TTL)", "err", err)
	}
	a.deps.Log.Info("mappings imported", "count", len(pairs), "actor", "api")
	a.Event(events.Event{Kind: events.EventImport, Count: len(pairs), Actor: "api"})
	return len(pairs), nil
}

func (b *Backend) ReloadMappings() error {
	if b.deps.Files == nil {
		b.deps.Router.InvalidateAll()
		return nil
	}
	changed, err := b.deps.Files.Reload()
	if err != nil {
		return err
	}
	b.deps.Router.Invalidate(changed...)
	return nil
}

func (b *Backend) InvalidateCache(id string) {
	if id == "" {
		b.deps.Router.InvalidateAll()
		b.Event(events.Event{Kind: events.EventCache, Reason: "whole cache", Actor: "api"})
		return
	}
	n := b.deps.Router.Normalize(id)
	b.deps.Router.Invalidate(n)
	b.Event(events.Event{Kind: events.EventCache, Account: n, Actor: "api"})
}

func (b *Backend) match(f backend.ConnFilter, c backend.Connection) bool {
	return (f.ID == 0 || f.ID == c.ID) &&
		(f.Identifier == "" || b.deps.Router.Normalize(f.Identifier) == c.Account) &&
		(f.Destination == "" || f.Destination == c.Destination) &&
		(f.Protocol == "" || f.Protocol == c.Protocol) &&
		(f.State == "" || f.State == c.State)
}

func (b *Backend) Connections(f backend.ConnFilter) []backend.Connection {
	var out []backend.Connection
	now := time.Now()
	for _, s := range b.deps.Engine.Sessions(nil) {
		if c := connectionOf(s, now); b.match(f, c) {
			out = append(out, c)
		}
	}
	return out
}

// Kick closes matching connections wherever they live: in the reactor
// (pre-auth, logging in, relayed), in the bridge, or served by HTTP/2.
func (b *Backend) Kick(f backend.ConnFilter) int {
	now := time.Now()
	return b.deps.Engine.KickSessions(func(s sessions.Info) bool {
		return b.match(f, connectionOf(s, now))
	})
}

// connectionOf describes a live session for the admin API.
func connectionOf(s sessions.Info, now time.Time) backend.Connection {
	state := backend.StatePreauth
	if s.State == sessions.StateBridged {
		state = backend.StateBridged
	}
	return backend.Connection{ID: s.ID, Account: s.Account, Listener: s.Listener, Client: s.Client, State: state,
		Age: now.Sub(s.Started), Protocol: s.Protocol, Destination: s.Destination, Bridge: s.Bridge,
		BytesIn: s.BytesIn, BytesOut: s.BytesOut}
}

// Delay holds new logins of the account (see engine.Delay).
func (b *Backend) Delay(id string, d time.Duration) error {
	b.hold(b.deps.Router.Normalize(id), d, "api")
	return nil
}

func (b *Backend) ReloadConfig() ([]string, error) {
	return b.deps.ReloadNotes()
}

func (b *Backend) Drain() error {
	b.deps.Drain("api")
	return nil
}

func (b *Backend) Undrain() error { return b.deps.Undrain("api") }

func (b *Backend) SetLogLevel(level string) error {
	if err := b.AllowConfigWrite("the log level"); err != nil {
		return err
	}
	if b.deps.Level == nil {
		return backend.ErrUnavailable
	}
	b.deps.Level.Set(b.deps.ParseLevel(level))
	return nil
}
