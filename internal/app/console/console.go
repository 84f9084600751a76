// Package console is the process side of the admin API: the
// backend.Backend and backend.Console a running switchyard offers, the
// activity log and per-minute history it records, the [admin.allow]
// policy, and cut-overs across instances over the invalidation bus.
package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/switchyard-mail/switchyard/admin/apiv1"
	"github.com/switchyard-mail/switchyard/admin/backend"
	"github.com/switchyard-mail/switchyard/admin/events"
	"github.com/switchyard-mail/switchyard/admin/metrics"
	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/sessions"
	"github.com/switchyard-mail/switchyard/health"
	"github.com/switchyard-mail/switchyard/internal/redact"
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/router"
	"github.com/switchyard-mail/switchyard/router/filestore"
	"github.com/switchyard-mail/switchyard/router/sqlstore"
)

// The admin API's /api/v1 side (admin.Console) over the running App.

var _ backend.Console = (*Backend)(nil)

// loginOutcomes are the engine's login outcomes, in the order of
// consoleState.logins.
var loginOutcomes = []string{metrics.AuthSuccess, metrics.AuthFailure, metrics.AuthBackendFailure, metrics.AuthNoRoute, metrics.AuthTempFail, metrics.AuthBadInput}

// consoleState is what the console keeps about this instance.
type consoleState struct {
	name    string // on the bus: host name and a random suffix
	started time.Time

	// Counters for the history: logins by outcome (loginOutcomes), bytes
	// of ended sessions (live ones are read from the registry).
	logins            [6]atomic.Uint64
	bytesIn, bytesOut atomic.Int64

	holdsMu sync.Mutex
	holds   map[string]time.Time // holds this process set: account -> end

	peersMu sync.Mutex
	peers   map[string]time.Time // other instances -> last heard

	cutMu   sync.Mutex // one cut-over at a time from this instance
	repMu   sync.Mutex
	replies map[string]chan cutoverReply // cut-over request id -> its replies

	histMu   sync.Mutex
	histPrev histCounters
}

func (c *consoleState) init() {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "switchyard"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	c.name = host + "-" + hex.EncodeToString(b[:])
	c.started = time.Now()
	c.holds = map[string]time.Time{}
	c.peers = map[string]time.Time{}
	c.replies = map[string]chan cutoverReply{}
}

// onEngineEvent is options.Options.Events: on the login path, so it only
// counts and copies into the ring.
func (a *Backend) OnEngineEvent(e options.Event) {
	if e.Kind == options.EventLogin {
		for i, o := range loginOutcomes {
			if o == e.Outcome {
				a.con.logins[i].Add(1)
				break
			}
		}
	}
	a.deps.Events.Add(events.Event{Time: e.Time, Kind: e.Kind, Session: e.Session, Account: e.Account, Protocol: e.Protocol,
		Listener: e.Listener, Client: e.Client, Destination: e.Destination, Outcome: e.Outcome, Reason: e.Reason})
}

// event records an event of the app's own (flips, holds, reloads...) when
// the activity log exists.
func (a *Backend) Event(e events.Event) {
	if a.deps.Events != nil {
		a.deps.Events.Add(e)
	}
}

// hold holds new logins of the normalized account for d (d <= 0 lifts
// it) and remembers it for GET /api/v1/holds.
func (a *Backend) hold(n string, d time.Duration, actor string) {
	a.deps.Engine.Delay(n, d)
	a.con.holdsMu.Lock()
	if d > 0 {
		a.con.holds[n] = time.Now().Add(d)
	} else {
		delete(a.con.holds, n)
	}
	a.con.holdsMu.Unlock()
	ev := events.Event{Kind: events.EventHold, Account: n, Actor: actor, Outcome: "released"}
	if d > 0 {
		ev.Outcome, ev.Reason = "held", "until "+time.Now().Add(d).UTC().Format(time.RFC3339)
	}
	a.Event(ev)
}

// setRingDown puts a cluster node in or out of the ring; a node in
// maintenance stays out.
func (a *Backend) SetRingDown(dest string, down bool) {
	if a.deps.Ring == nil {
		return
	}
	if a.deps.Engine != nil && a.deps.Engine.InMaintenance(dest) {
		down = true
	}
	a.deps.Ring.SetDown(dest, down)
}

// fileChanged records mapping changes that did not come through the API.
func (a *Backend) FileChanged(ids []string, actor string) {
	if len(ids) == 0 {
		return
	}
	if len(ids) > 20 {
		a.Event(events.Event{Kind: events.EventImport, Count: len(ids), Actor: actor})
		return
	}
	for _, id := range ids {
		d, _, _ := a.deps.Store.Lookup(context.Background(), id)
		a.Event(events.Event{Kind: events.EventFlip, Account: id, Destination: d, Actor: actor})
	}
}

// ---- instance

func (b *Backend) Instance() backend.Instance {
	a := b
	in := backend.Instance{Name: a.con.name, Started: a.con.started, Bus: a.deps.BusKind, Ready: !a.deps.Engine.Draining(), Peers: []backend.Peer{}}
	for name, seen := range a.peers() {
		in.Peers = append(in.Peers, backend.Peer{Name: name, LastSeen: seen})
	}
	slices.SortFunc(in.Peers, func(x, y backend.Peer) int { return strings.Compare(x.Name, y.Name) })
	return in
}

func (b *Backend) Normalize(id string) string { return b.deps.Router.Normalize(id) }

// ---- destinations

func (b *Backend) DestinationDetails() []backend.Destination {
	a := b
	breakers := map[[2]string]health.Status{}
	for _, s := range a.deps.Health.Snapshot() {
		breakers[[2]string{s.Dest, s.Proto}] = s
	}
	checks := map[[2]string]health.CheckResult{}
	if a.deps.Checker != nil {
		for _, r := range a.deps.Checker.Results() {
			checks[[2]string{r.Dest, r.Proto}] = r
		}
	}
	sessions := map[string]map[string]int{}
	for _, s := range a.deps.Engine.Sessions(nil) {
		if s.Destination == "" {
			continue
		}
		if sessions[s.Destination] == nil {
			sessions[s.Destination] = map[string]int{}
		}
		sessions[s.Destination][s.Protocol]++
	}
	var out []backend.Destination
	for id, d := range a.deps.Current().Cfg.Destination {
		ds := backend.Destination{ID: id, Host: d.Host, Maintenance: a.deps.Engine.InMaintenance(id), SessionsByProtocol: map[string]int{}}
		if a.deps.Ring != nil && a.deps.Ring.Has(id) {
			ds.ClusterNode, ds.RingDown = true, a.deps.Ring.Down(id)
		}
		for p, n := range sessions[id] {
			ds.SessionsByProtocol[p] = n
			ds.Sessions += n
		}
		for p, ep := range d.Protocol {
			pi := backend.DestProtocolInfo{Protocol: string(p), Port: ep.Port, TLS: string(ep.TLS)}
			if pi.TLS == "" {
				pi.TLS = string(config.TLSPlain)
			}
			pi.Breaker = breakerOf(breakers[[2]string{id, string(p)}])
			if pi.Breaker.State != health.Closed.String() {
				ds.Down = true
			}
			if r, ok := checks[[2]string{id, string(p)}]; ok {
				pi.Check = &backend.CheckResult{At: r.At, OK: r.Err == "", LatencyMS: float64(r.Latency.Microseconds()) / 1000, Error: r.Err}
			}
			ds.Protocols = append(ds.Protocols, pi)
		}
		slices.SortFunc(ds.Protocols, func(x, y backend.DestProtocolInfo) int { return strings.Compare(x.Protocol, y.Protocol) })
		out = append(out, ds)
	}
	slices.SortFunc(out, func(x, y backend.Destination) int { return strings.Compare(x.ID, y.ID) })
	return out
}

// breakerOf describes a circuit and why it is not closed.
func breakerOf(s health.Status) backend.Breaker {
	br := backend.Breaker{State: s.State.String(), ConsecutiveFailures: s.Consecutive, Failures: s.Failures}
	if !s.Since.IsZero() {
		t := s.Since
		br.Since = &t
	}
	if !s.OpenUntil.IsZero() {
		t := s.OpenUntil
		br.OpenUntil = &t
	}
	switch s.State {
	case health.Open:
		br.Reason = fmt.Sprintf("%d consecutive failures", s.Consecutive)
	case health.HalfOpen:
		br.Reason = "one probe in flight after the cooldown"
	}
	if s.State != health.Closed && s.LastError != "" {
		br.Reason += "; last active check: " + s.LastError
	}
	return br
}

func (b *Backend) SetMaintenance(dest string, on bool) error {
	a := b
	if !a.deps.Current().HasDestination(dest) {
		return backend.ErrNotFound
	}
	a.deps.Engine.SetMaintenance(dest, on)
	if a.deps.Ring != nil && a.deps.Ring.Has(dest) {
		down := on
		if !on {
			// Back in the ring only if its circuits are closed.
			for _, s := range a.deps.Health.Snapshot() {
				if s.Dest == dest && s.State != health.Closed {
					down = true
				}
			}
		}
		a.SetRingDown(dest, down)
	}
	a.Event(events.Event{Kind: events.EventMaintenance, Destination: dest, Outcome: map[bool]string{true: "on", false: "off"}[on], Actor: "api"})
	a.deps.Log.Info("destination maintenance", "destination", dest, "on", on)
	return nil
}

// ---- sessions

func (b *Backend) sessionMatch(f backend.SessionFilter) func(sessions.Info) bool {
	client, err := apiv1.ClientFilter(f.Client)
	if err != nil {
		return func(sessions.Info) bool { return false }
	}
	return func(s sessions.Info) bool {
		return (f.ID == 0 || s.ID == f.ID) && (f.Account == "" || s.Account == f.Account) &&
			(f.Destination == "" || s.Destination == f.Destination) && (f.Protocol == "" || s.Protocol == f.Protocol) &&
			(f.State == "" || s.State == f.State) && !slices.Contains(f.Except, s.State) && client(s.Client)
	}
}

func sessionOf(s sessions.Info, now time.Time) backend.Session {
	return backend.Session{ID: s.ID, Parent: s.Parent, Account: s.Account, Protocol: s.Protocol, Listener: s.Listener,
		Destination: s.Destination, Client: s.Client, State: s.State, Bridge: s.Bridge, Started: s.Started,
		AgeSeconds: float64(now.Sub(s.Started).Milliseconds()) / 1000, BytesIn: s.BytesIn, BytesOut: s.BytesOut}
}

func (b *Backend) Sessions(f backend.SessionFilter) []backend.Session {
	now := time.Now()
	var out []backend.Session
	for _, s := range b.deps.Engine.Sessions(b.sessionMatch(f)) {
		out = append(out, sessionOf(s, now))
	}
	return out
}

func (b *Backend) KickSessions(f backend.SessionFilter) int {
	return b.deps.Engine.KickSessions(b.sessionMatch(f))
}

// ---- mappings

func (b *Backend) Mappings(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	st := b.deps.Store
	ctx, cancel := context.WithTimeout(ctx, limits.AdminImportTimeout)
	defer cancel()
	// SQL and Redis read a whole import's current mappings in a few round
	// trips rather than one per identifier.
	if lm, ok := st.(interface {
		LookupMany(context.Context, []string) (map[string]string, error)
	}); ok {
		m, err := lm.LookupMany(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", backend.ErrUnavailable, err)
		}
		return m, nil
	}
	for _, id := range ids {
		d, found, err := st.Lookup(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", backend.ErrUnavailable, err)
		}
		if found {
			out[id] = d
		}
	}
	return out, nil
}

// EmptyStore maps nothing: every account goes to the default destination.
type EmptyStore struct{}

func (EmptyStore) Lookup(context.Context, string) (string, bool, error) { return "", false, nil }
func (EmptyStore) Local() bool                                          { return true }
func (EmptyStore) Close() error                                         { return nil }

// lister is the store as a router.Lister (nil when it cannot list).
func (a *Backend) lister() router.Lister {
	switch s := a.deps.Store.(type) {
	case *filestore.Store:
		return fileLister{s}
	case EmptyStore:
		return emptyLister{}
	case router.Lister:
		return s
	}
	return nil
}

// fileLister adapts the file store to router.Lister.
type fileLister struct{ fs *filestore.Store }

func (l fileLister) List(ctx context.Context, cursor, match string, limit int) ([]router.Mapping, string, error) {
	page, next, err := l.fs.List(ctx, cursor, match, limit)
	out := make([]router.Mapping, len(page))
	for i, p := range page {
		out[i] = router.Mapping(p)
	}
	return out, next, err
}

func (l fileLister) Count(ctx context.Context) (map[string]int, error) { return l.fs.Count(ctx) }

// emptyLister lists the mappings of no store: none.
type emptyLister struct{}

func (emptyLister) List(context.Context, string, string, int) ([]router.Mapping, string, error) {
	return nil, "", nil
}
func (emptyLister) Count(context.Context) (map[string]int, error) { return map[string]int{}, nil }

func listErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, router.ErrNotListable):
		return fmt.Errorf("%w: %v", backend.ErrNotListable, err)
	case errors.Is(err, sqlstore.ErrNoSearch):
		return fmt.Errorf("%w: %v (mapping.sql.list_query)", backend.ErrInvalid, err)
	}
	return fmt.Errorf("%w: %v", backend.ErrUnavailable, err)
}

func (b *Backend) ListMappings(ctx context.Context, cursor, search string, limit int) ([]backend.MappingEntry, string, error) {
	l := b.lister()
	if l == nil {
		return nil, "", backend.ErrNotListable
	}
	page, next, err := l.List(ctx, cursor, search, limit)
	if err != nil {
		return nil, "", listErr(err)
	}
	out := make([]backend.MappingEntry, len(page))
	for i, m := range page {
		out[i] = backend.MappingEntry(m)
	}
	return out, next, nil
}

func (b *Backend) MappingCounts(ctx context.Context) (map[string]int, error) {
	l := b.lister()
	if l == nil {
		return nil, backend.ErrNotListable
	}
	c, err := l.Count(ctx)
	return c, listErr(err)
}

// exportListed writes every mapping of a store that can list.
func (a *Backend) exportListed(w io.Writer) error {
	l := a.lister()
	if l == nil {
		return fmt.Errorf("%w: the mapping store cannot list its mappings", backend.ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cursor := ""
	for {
		page, next, err := l.List(ctx, cursor, "", 1000)
		if err != nil {
			return listErr(err)
		}
		for _, m := range page {
			if _, err := fmt.Fprintf(w, "%s %s\n", m.Identifier, m.Destination); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

// ---- routes and the cache

// storeKind names the mapping store for the route explanation.
func (a *Backend) storeKind() string {
	switch a.deps.Cfg.Mapping.Source {
	case config.SourceFile:
		return "file"
	case config.SourceRedis:
		return "redis"
	case config.SourceNone:
		return "none"
	}
	return "sql"
}

func ptr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (b *Backend) explain(ctx context.Context, id string) (router.Explanation, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ex, err := b.deps.Router.Explain(ctx, id)
	if errors.Is(err, router.ErrInvalidIdentifier) {
		return ex, backend.ErrInvalid
	}
	return ex, err
}

// decision describes what a login of the explained account gets now.
func (a *Backend) decision(ex router.Explanation) backend.RouteDecision {
	d := backend.RouteDecision{Source: ex.Effective.Source.String(), Cached: ex.Effective.Cached}
	if ex.EffectiveErr != nil {
		d.Source, d.Error = router.SourceNone.String(), ex.EffectiveErr.Error()
		return d
	}
	d.Destination = ptr(ex.Effective.Destination)
	d.Maintenance = a.deps.Engine.InMaintenance(ex.Effective.Destination)
	for _, s := range a.deps.Health.Snapshot() {
		if s.Dest == ex.Effective.Destination && s.State != health.Closed {
			d.Down = true
		}
	}
	return d
}

func cacheEntryOf(ex router.Explanation) backend.CacheEntry {
	c := backend.CacheEntry{Normalized: ex.Normalized, Used: ex.Cache.Used, Present: ex.Cache.Present, Stale: ex.Stale}
	if c.Present {
		c.Kind = "no_mapping"
		if ex.Cache.Found {
			c.Kind, c.Destination = "mapping", ptr(ex.Cache.Destination)
		}
		if !ex.Cache.ExpiresAt.IsZero() {
			t := ex.Cache.ExpiresAt
			c.ExpiresAt = &t
		}
	}
	return c
}

func (b *Backend) ExplainRoute(ctx context.Context, id string) (backend.Route, error) {
	a := b
	ex, err := b.explain(ctx, id)
	if err != nil {
		return backend.Route{}, err
	}
	r := backend.Route{Normalized: ex.Normalized, Decision: a.decision(ex), Cache: cacheEntryOf(ex)}
	st := backend.RouteStep{Step: "store", Kind: a.storeKind()}
	switch {
	case st.Kind == "none":
		st.Outcome = "not_configured"
	case ex.Store.Err != nil:
		st.Outcome, st.Error = "error", redactStore(a.deps.Cfg, ex.Store.Err.Error())
	case ex.Store.Found:
		st.Outcome, st.Destination = "found", ptr(ex.Store.Destination)
	default:
		st.Outcome = "not_found"
	}
	rg := backend.RouteStep{Step: "ring", Outcome: "not_configured"}
	if ex.Ring.Configured {
		rg.Outcome = "not_found"
		if ex.Ring.Found {
			rg.Outcome, rg.Destination = "found", ptr(ex.Ring.Destination)
		}
	}
	def := backend.RouteStep{Step: "default", Outcome: "not_configured"}
	if ex.Default != "" {
		def.Outcome, def.Destination = "found", ptr(ex.Default)
	}
	r.Steps = []backend.RouteStep{st, rg, def}
	return r, nil
}

// redactStore masks the store URL's secrets in a message.
func redactStore(cfg *config.Config, msg string) string {
	if cfg.Mapping.Redis != nil {
		msg = redact.String(msg, cfg.Mapping.Redis.URL)
	}
	if cfg.Mapping.SQL != nil {
		msg = redact.String(msg, cfg.Mapping.SQL.URL)
	}
	return msg
}

func (b *Backend) CacheInfo() backend.CacheInfo {
	s := b.deps.Router.CacheStats()
	ci := backend.CacheInfo{Used: s.Used, Entries: s.Entries, Hits: s.Hits, Misses: s.Misses, Expired: s.Expired, Evicted: s.Evicted,
		CapacityBytes: s.CapacityBytes, PositiveTTLSeconds: s.PositiveTTL.Seconds(), NegativeTTLSeconds: s.NegativeTTL.Seconds()}
	if total := s.Hits + s.Misses; total > 0 {
		ci.HitRatePct = float64(s.Hits*10000/total) / 100
	}
	if !s.Used {
		ci.CapacityBytes = 0
	}
	return ci
}

func (b *Backend) CacheEntry(id string) (backend.CacheEntry, error) {
	ex, err := b.explain(context.Background(), id)
	if err != nil {
		return backend.CacheEntry{}, err
	}
	return cacheEntryOf(ex), nil
}

// ---- holds

func (b *Backend) Holds() []backend.Hold {
	a := b
	now := time.Now()
	held := map[string]int{}
	for _, s := range a.deps.Engine.Sessions(func(s sessions.Info) bool { return s.State == sessions.StateHeld }) {
		held[s.Account]++
	}
	a.con.holdsMu.Lock()
	defer a.con.holdsMu.Unlock()
	var out []backend.Hold
	for n, until := range a.con.holds {
		if !now.Before(until) {
			delete(a.con.holds, n)
			continue
		}
		out = append(out, backend.Hold{Account: n, Until: until.UTC(), RemainingSeconds: float64(until.Sub(now).Milliseconds()) / 1000, HeldLogins: held[n]})
	}
	return out
}

// ---- configuration

// EffectiveConfig is the configuration in force as its TOML keys, with
// every token and store password masked.
func (b *Backend) EffectiveConfig() (map[string]any, error) {
	data, err := toml.Marshal(b.deps.Current().Cfg)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := toml.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	redactTree(m)
	return m, nil
}

// redactTree masks secrets in a decoded configuration: keys holding a
// token, password or secret (not a file name), and the passwords of URLs.
func redactTree(m map[string]any) {
	for k, v := range m {
		switch x := v.(type) {
		case map[string]any:
			redactTree(x)
		case []any:
			for _, e := range x {
				if em, ok := e.(map[string]any); ok {
					redactTree(em)
				}
			}
		case string:
			secret := (strings.Contains(k, "token") || strings.Contains(k, "password") || strings.Contains(k, "secret")) && !strings.HasSuffix(k, "_file")
			switch {
			case secret && x != "":
				m[k] = redact.Mask
			case k == "url" || strings.HasSuffix(k, "_url"):
				m[k] = redact.URL(x)
			}
		}
	}
}

func (b *Backend) Reload() (backend.ReloadReport, error) {
	applied, notes, err := b.deps.ReloadConfig("api")
	return backend.ReloadReport{Applied: applied, RestartRequired: notes}, err
}
