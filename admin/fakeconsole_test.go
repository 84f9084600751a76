package admin

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/admin/apiv1"
	"github.com/switchyard-mail/switchyard/admin/backend"
	"github.com/switchyard-mail/switchyard/admin/openapi"
	"github.com/switchyard-mail/switchyard/internal/contract"
)

// The fake backend's /api/v1 side: sessions derived from its connections,
// holds from its delays, and whatever the test sets.

func (f *fakeBackend) Instance() backend.Instance {
	return backend.Instance{Name: "test-1", Started: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC), Bus: "none", Ready: f.Ready()}
}

func (f *fakeBackend) Normalize(id string) string {
	if strings.HasPrefix(id, "#") { // the fake's unusable identifier
		return ""
	}
	return strings.ToLower(id)
}

func (f *fakeBackend) DestinationDetails() []backend.Destination {
	var out []backend.Destination
	for _, d := range f.dests {
		dd := backend.Destination{ID: d.ID, Host: d.Host, Maintenance: f.maint[d.ID], SessionsByProtocol: map[string]int{}}
		for _, p := range d.Protocols {
			st := "closed"
			if p.Down != nil && *p.Down {
				st, dd.Down = "open", true
			}
			dd.Protocols = append(dd.Protocols, backend.DestProtocolInfo{Protocol: p.Protocol, Port: p.Port, TLS: "implicit",
				Breaker: backend.Breaker{State: st, Reason: map[bool]string{true: "3 consecutive failures"}[st == "open"]}})
		}
		for _, c := range f.conns {
			if c.Destination == d.ID {
				dd.Sessions++
				dd.SessionsByProtocol[c.Protocol]++
			}
		}
		out = append(out, dd)
	}
	return out
}

func (f *fakeBackend) SetMaintenance(dest string, on bool) error {
	f.call("maintenance %s %v", dest, on)
	if !f.known(dest) {
		return backend.ErrNotFound
	}
	if f.maint == nil {
		f.maint = map[string]bool{}
	}
	f.maint[dest] = on
	return nil
}

func (f *fakeBackend) session(c backend.Connection) backend.Session {
	return backend.Session{ID: c.ID, Account: c.Account, Protocol: c.Protocol, Listener: "l", Destination: c.Destination, Client: c.Client,
		State: c.State, Bridge: c.Bridge, Started: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), AgeSeconds: c.Age.Seconds(),
		BytesIn: c.BytesIn, BytesOut: c.BytesOut}
}

func (f *fakeBackend) smatch(c backend.Connection, fl backend.SessionFilter) bool {
	client, err := apiv1.ClientFilter(fl.Client)
	return err == nil && (fl.ID == 0 || c.ID == fl.ID) && (fl.Account == "" || c.Account == fl.Account) &&
		(fl.Destination == "" || c.Destination == fl.Destination) && (fl.Protocol == "" || c.Protocol == fl.Protocol) &&
		(fl.State == "" || c.State == fl.State) && client(c.Client) && !slices.Contains(fl.Except, c.State)
}

func (f *fakeBackend) Sessions(fl backend.SessionFilter) []backend.Session {
	var out []backend.Session
	for _, c := range f.conns {
		if f.smatch(c, fl) {
			out = append(out, f.session(c))
		}
	}
	return out
}

func (f *fakeBackend) KickSessions(fl backend.SessionFilter) int {
	f.call("kick sessions %+v", fl)
	return f.drop(func(c backend.Connection) bool { return f.smatch(c, fl) })
}

func (f *fakeBackend) Mappings(_ context.Context, ids []string) (map[string]string, error) {
	if f.storeErr != nil {
		return nil, f.storeErr
	}
	out := map[string]string{}
	for _, id := range ids {
		if d, ok := f.mappings[id]; ok {
			out[id] = d
		}
	}
	return out, nil
}

func (f *fakeBackend) ListMappings(_ context.Context, cursor, search string, limit int) ([]backend.MappingEntry, string, error) {
	if f.notListable {
		return nil, "", backend.ErrNotListable
	}
	var ids []string
	for id := range f.mappings {
		if id > cursor && strings.Contains(id, strings.ToLower(search)) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	next := ""
	if len(ids) > limit {
		ids = ids[:limit]
		next = ids[limit-1]
	}
	var page []backend.MappingEntry
	for _, id := range ids {
		page = append(page, backend.MappingEntry{Identifier: id, Destination: f.mappings[id]})
	}
	return page, next, nil
}

func (f *fakeBackend) MappingCounts(context.Context) (map[string]int, error) {
	if f.notListable {
		return nil, backend.ErrNotListable
	}
	out := map[string]int{}
	for _, d := range f.mappings {
		out[d]++
	}
	return out, nil
}

func (f *fakeBackend) ExplainRoute(_ context.Context, id string) (backend.Route, error) {
	n := f.Normalize(id)
	d, mapped := f.mappings[n]
	r := backend.Route{Normalized: n, Cache: backend.CacheEntry{Normalized: n}}
	step := backend.RouteStep{Step: "store", Kind: "file", Outcome: "not_found"}
	if mapped {
		step.Outcome, step.Destination = "found", apiv1.Nullable(d)
		r.Decision = backend.RouteDecision{Destination: apiv1.Nullable(d), Source: "store"}
	} else {
		r.Decision = backend.RouteDecision{Destination: apiv1.Nullable("old"), Source: "default"}
	}
	r.Steps = []backend.RouteStep{step, {Step: "ring", Outcome: "not_configured"}, {Step: "default", Outcome: "found", Destination: apiv1.Nullable("old")}}
	return r, nil
}

func (f *fakeBackend) Holds() []backend.Hold {
	var out []backend.Hold
	for id, d := range f.delays {
		if d > 0 {
			out = append(out, backend.Hold{Account: strings.ToLower(id), Until: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(d), RemainingSeconds: d.Seconds()})
		}
	}
	return out
}

func (f *fakeBackend) CacheInfo() backend.CacheInfo {
	return backend.CacheInfo{Used: true, Entries: 4, Hits: 3, Misses: 1, HitRatePct: 75, CapacityBytes: 1 << 20, PositiveTTLSeconds: 300, NegativeTTLSeconds: 60}
}

func (f *fakeBackend) CacheEntry(id string) (backend.CacheEntry, error) {
	n := f.Normalize(id)
	e := backend.CacheEntry{Normalized: n, Used: true}
	if d, ok := f.mappings[n]; ok {
		exp := time.Date(2026, 1, 2, 3, 9, 0, 0, time.UTC)
		e.Present, e.Kind, e.Destination, e.ExpiresAt = true, "mapping", apiv1.Nullable(d), &exp
	}
	return e, nil
}

func (f *fakeBackend) EffectiveConfig() (map[string]any, error) {
	return map[string]any{"admin": map[string]any{"bearer_token": "xxxxx"}}, nil
}

func (f *fakeBackend) Reload() (backend.ReloadReport, error) {
	f.call("reload v1")
	if f.notAllowed != nil {
		return backend.ReloadReport{}, f.notAllowed
	}
	return backend.ReloadReport{Applied: []string{"destinations"}, RestartRequired: f.notes}, f.reloadErr
}

func (f *fakeBackend) Cutover(_ context.Context, account string, req backend.CutoverRequest) (backend.CutoverReport, error) {
	f.call("cutover %s %s %v %q", account, req.Destination, req.Hold, req.Aliases)
	if f.readOnly {
		return backend.CutoverReport{}, backend.ErrReadOnly
	}
	if !f.known(req.Destination) {
		return backend.CutoverReport{}, backend.ErrUnknownDestination
	}
	n := f.Normalize(account)
	f.mappings[n] = req.Destination
	kicked := f.KickSessions(backend.SessionFilter{Account: n})
	return backend.CutoverReport{Account: n, Destination: req.Destination, Previous: backend.RouteDecision{Source: "default", Destination: apiv1.Nullable("old")},
		Aliases: []string{n}, Mapped: []string{n}, Kicked: kicked, HoldMS: req.Hold.Milliseconds(),
		Instances: []backend.CutoverInstance{{Instance: "test-1", Self: true, Kicked: kicked}}}, nil
}

// ---- the contract: every /api/v1 response of this package's tests is
// checked against openapi.json, and (in a full run) every operation of
// the document must have been exercised.

var spec = func() *contract.Spec {
	s, err := contract.Load(openapi.Document())
	if err != nil {
		panic("openapi.json: " + err.Error())
	}
	return s
}()

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && !filtered() {
		seen := spec.Seen()
		var missing []string
		for _, op := range spec.Operations() {
			if !seen[op] {
				missing = append(missing, op)
			}
		}
		if len(missing) > 0 {
			println("contract: these operations of openapi.json were never exercised by the tests:\n\t" + strings.Join(missing, "\n\t"))
			code = 1
		}
	}
	os.Exit(code)
}

// filtered reports a run restricted by -run or -skip (coverage is not
// checked then).
func filtered() bool {
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.run") || strings.HasPrefix(a, "-test.skip") {
			return true
		}
	}
	return false
}
