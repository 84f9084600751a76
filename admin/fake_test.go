package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/admin/apiv1"
	"github.com/switchyard-mail/switchyard/admin/backend"
)

const testToken = "0123456789abcdef0123456789abcdef-test"

const testViewerToken = "viewer-0123456789abcdef0123456789abcdef"

// fakeBackend is an in-memory Backend that records calls.
type fakeBackend struct {
	mu        sync.Mutex
	calls     []string
	stats     backend.Stats
	ready     bool
	dests     []backend.DestinationStatus
	mappings  map[string]string
	readOnly  bool
	conns     []backend.Connection
	delays    map[string]time.Duration
	level     string
	reloadErr error
	exportErr error
	importErr error
	notes     []string

	maint       map[string]bool
	storeErr    error
	notListable bool
	notAllowed  error // SetMapping's and ReloadConfig's answer ([admin.allow])
}

func newFake() *fakeBackend {
	up := true
	return &fakeBackend{
		ready: true,
		dests: []backend.DestinationStatus{
			{ID: "old", Host: "10.0.0.1", Protocols: []backend.ProtocolStatus{{Protocol: "imap", Port: 993, Down: &up}}},
			{ID: "new", Host: "10.0.0.2"},
		},
		mappings: map[string]string{"alice@example.com": "new"},
		delays:   map[string]time.Duration{},
		conns: []backend.Connection{
			{ID: 2, Account: "bob@example.com", Protocol: "imap", Destination: "old", Client: "192.0.2.7:5000", State: backend.StateBridged, Bridge: backend.BridgeSplice, Age: 1500 * time.Millisecond, BytesIn: 10, BytesOut: 20},
			{ID: 1, Account: "alice@example.com", Protocol: "pop3", Destination: "new", Client: "192.0.2.8:5001", State: backend.StatePreauth, Age: time.Second},
		},
	}
}

func (f *fakeBackend) call(format string, a ...any) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf(format, a...))
	f.mu.Unlock()
}

func (f *fakeBackend) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeBackend) Stats() backend.Stats { f.mu.Lock(); defer f.mu.Unlock(); return f.stats }
func (f *fakeBackend) Ready() bool          { f.mu.Lock(); defer f.mu.Unlock(); return f.ready }
func (f *fakeBackend) Destinations() []backend.DestinationStatus {
	return append([]backend.DestinationStatus(nil), f.dests...)
}

func (f *fakeBackend) ResetDestination(id string) error {
	f.call("reset %s", id)
	for _, d := range f.dests {
		if d.ID == id {
			return nil
		}
	}
	return backend.ErrNotFound
}

func (f *fakeBackend) known(dest string) bool {
	for _, d := range f.dests {
		if d.ID == dest {
			return true
		}
	}
	return false
}

func (f *fakeBackend) Mapping(id string) (backend.MappingInfo, error) {
	f.call("mapping %s", id)
	n := strings.ToLower(id)
	if d, ok := f.mappings[n]; ok {
		return backend.MappingInfo{Normalized: n, Destination: d, Source: backend.SourceStore, Cached: true}, nil
	}
	return backend.MappingInfo{Normalized: n, Destination: "old", Source: backend.SourceDefault}, nil
}

func (f *fakeBackend) SetMapping(id, dest string) error {
	f.call("set %s %s", id, dest)
	if f.readOnly {
		return backend.ErrReadOnly
	}
	if f.notAllowed != nil {
		return f.notAllowed
	}
	if !f.known(dest) {
		return backend.ErrUnknownDestination
	}
	f.mappings[strings.ToLower(id)] = dest
	return nil
}

func (f *fakeBackend) DeleteMapping(id string) error {
	f.call("delete %s", id)
	if f.readOnly {
		return backend.ErrReadOnly
	}
	n := strings.ToLower(id)
	if _, ok := f.mappings[n]; !ok {
		return backend.ErrNotFound
	}
	delete(f.mappings, n)
	return nil
}

func (f *fakeBackend) ExportMappings(w io.Writer) error {
	f.call("export")
	keys := make([]string, 0, len(f.mappings))
	for k := range f.mappings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, err := fmt.Fprintf(w, "%s %s\n", k, f.mappings[k]); err != nil {
			return err
		}
	}
	return f.exportErr
}

func (f *fakeBackend) ImportMappings(pairs []backend.Pair) (int, error) {
	f.call("import %d", len(pairs))
	if f.importErr != nil {
		return 0, f.importErr
	}
	if f.readOnly {
		return 0, &backend.ItemError{Index: 0, Err: backend.ErrReadOnly}
	}
	for _, p := range pairs {
		f.mappings[strings.ToLower(p.Identifier)] = p.Destination
	}
	return len(pairs), nil
}

func (f *fakeBackend) ReloadMappings() error { f.call("reload mappings"); return f.reloadErr }
func (f *fakeBackend) InvalidateCache(id string) {
	f.call("invalidate %q", id)
}

func (f *fakeBackend) match(c backend.Connection, fl backend.ConnFilter) bool {
	return (fl.ID == 0 || c.ID == fl.ID) &&
		(fl.Identifier == "" || strings.EqualFold(c.Account, fl.Identifier)) &&
		(fl.Destination == "" || c.Destination == fl.Destination) &&
		(fl.Protocol == "" || c.Protocol == fl.Protocol) &&
		(fl.State == "" || c.State == fl.State)
}

func (f *fakeBackend) Connections(fl backend.ConnFilter) []backend.Connection {
	f.call("connections %+v", fl)
	var out []backend.Connection
	for _, c := range f.conns {
		if f.match(c, fl) {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeBackend) Kick(fl backend.ConnFilter) int {
	f.call("kick %+v", fl)
	return f.drop(func(c backend.Connection) bool { return f.match(c, fl) })
}

// drop removes the connections kick matches and counts them.
func (f *fakeBackend) drop(kick func(backend.Connection) bool) int {
	n := 0
	keep := f.conns[:0]
	for _, c := range f.conns {
		if kick(c) {
			n++
			continue
		}
		keep = append(keep, c)
	}
	f.conns = keep
	return n
}

func (f *fakeBackend) Delay(id string, d time.Duration) error {
	f.call("delay %s %v", id, d)
	for k := range f.delays {
		if strings.EqualFold(k, id) {
			delete(f.delays, k)
		}
	}
	f.delays[id] = d
	return nil
}

func (f *fakeBackend) ReloadConfig() ([]string, error) {
	f.call("reload config")
	if f.notAllowed != nil {
		return nil, f.notAllowed
	}
	return f.notes, f.reloadErr
}

func (f *fakeBackend) Drain() error   { return f.setReady("drain", false) }
func (f *fakeBackend) Undrain() error { return f.setReady("undrain", true) }

func (f *fakeBackend) setReady(call string, ready bool) error {
	f.call("%s", call)
	f.mu.Lock()
	f.ready = ready
	f.mu.Unlock()
	return nil
}

func (f *fakeBackend) SetLogLevel(level string) error {
	f.call("level %s", level)
	f.level = level
	return nil
}

// ---- helpers

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t     *testing.T
	s     *Server
	b     *fakeBackend
	clock *clock
	slept time.Duration // by locked clients waiting their turn
}

func newHarness(t *testing.T, mod func(*Options)) *harness {
	t.Helper()
	s, b := newServer(t, func(o *Options) {
		o.LockoutThreshold, o.LockoutDuration = 3, time.Minute
		if mod != nil {
			mod(o)
		}
	})
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s.now = c.now
	h := &harness{t: t, s: s, b: b, clock: c}
	s.sleep = func(d time.Duration) bool {
		h.slept += d
		c.advance(d)
		return true
	}
	return h
}

type reqOpt struct {
	token  string // "" none; "good" the test token; "viewer" the viewer token; else literal header value
	remote string
	body   string
	ctype  string // Content-Type
}

func (h *harness) do(method, target string, o reqOpt) *httptest.ResponseRecorder {
	h.t.Helper()
	var body io.Reader
	if o.body != "" {
		body = strings.NewReader(o.body)
	}
	r := httptest.NewRequest(method, target, body)
	if o.ctype != "" {
		r.Header.Set("Content-Type", o.ctype)
	}
	if o.remote != "" {
		r.RemoteAddr = o.remote
	}
	switch o.token {
	case "":
	case "good":
		r.Header.Set("Authorization", "Bearer "+testToken)
	case "viewer":
		r.Header.Set("Authorization", "Bearer "+testViewerToken)
	default:
		r.Header.Set("Authorization", o.token)
	}
	w := httptest.NewRecorder()
	h.s.Handler().ServeHTTP(w, r)
	if r.URL.Path == apiv1.Prefix || strings.HasPrefix(r.URL.Path, apiv1.Prefix+"/") {
		if err := spec.Check(method, r.URL.EscapedPath(), w.Code, w.Header(), w.Body.Bytes()); err != nil {
			h.t.Errorf("contract: %v", err)
		}
	}
	return w
}

func (h *harness) ok(method, target string) map[string]any {
	h.t.Helper()
	w := h.do(method, target, reqOpt{token: "good"})
	if w.Code != http.StatusOK {
		h.t.Fatalf("%s %s: status %d, body %s", method, target, w.Code, w.Body)
	}
	return decode(h.t, w)
}

func decode(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json (body %s)", ct, w.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	return m
}

var errBoom = errors.New("boom")
