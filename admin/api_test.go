package admin

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/admin/backend"
	"github.com/switchyard-mail/switchyard/admin/httpio"
)

// every endpoint that needs the token, with a valid request.
var authedEndpoints = []struct{ method, target string }{
	{"GET", "/stats"},
	{"GET", "/destinations"},
	{"POST", "/destinations/reset?destination=old"},
	{"GET", "/mappings?identifier=alice@example.com"},
	{"PUT", "/mappings?identifier=carol@example.com&destination=new"},
	{"DELETE", "/mappings?identifier=alice@example.com"},
	{"POST", "/mappings/reload"},
	{"GET", "/mappings/export"},
	{"POST", "/mappings/import"},
	{"POST", "/cache/invalidate"},
	{"GET", "/connections"},
	{"POST", "/connections/kick?identifier=bob@example.com"},
	{"POST", "/connections/delay?identifier=bob@example.com&seconds=30"},
	{"POST", "/config/reload"},
	{"POST", "/drain"},
	{"PUT", "/log/level?level=debug"},
	{"GET", "/metrics"},
}

func TestNewRefusesWeakTokens(t *testing.T) {
	for _, tc := range []struct {
		opt  Options
		want string
	}{
		{Options{BearerToken: strings.Repeat("x", 31)}, "below the minimum of 32"},
		{Options{BearerToken: strings.Repeat("x", 40), MinTokenLen: 41}, "below the minimum of 41"},
		{Options{BearerToken: ""}, "0 characters long"},
		{Options{BearerToken: strings.Repeat("x", 40) + " "}, "whitespace"},
		{Options{BearerToken: strings.Repeat("x", 40) + "\x01"}, "control character"},
		{Options{BearerToken: strings.Repeat("x", 40), ReadTimeout: -1}, "ReadTimeout"},
	} {
		_, err := New(tc.opt, newFake())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q...): err %v, want it to mention %q", tc.opt.BearerToken, err, tc.want)
		}
	}
	if _, err := New(Options{BearerToken: strings.Repeat("x", 16), MinTokenLen: 16}, newFake()); err != nil {
		t.Errorf("a 16-character token with MinTokenLen 16: %v", err)
	}
}

func TestHealthAndReadinessNeedNoToken(t *testing.T) {
	h := newHarness(t, nil)
	w := h.do("GET", "/healthz", reqOpt{})
	if w.Code != 200 || w.Body.String() != "ok\n" {
		t.Fatalf("healthz: %d %q", w.Code, w.Body)
	}
	if w := h.do("HEAD", "/healthz", reqOpt{}); w.Code != 200 {
		t.Fatalf("HEAD healthz: %d", w.Code)
	}
	if w := h.do("GET", "/readyz", reqOpt{}); w.Code != 200 || w.Body.String() != "ok\n" {
		t.Fatalf("readyz: %d %q", w.Code, w.Body)
	}
	// A bad token on the health check neither fails nor counts.
	for i := 0; i < 5; i++ {
		if w := h.do("GET", "/healthz", reqOpt{token: "Bearer wrong"}); w.Code != 200 {
			t.Fatalf("healthz with a wrong token: %d", w.Code)
		}
	}
	if w := h.do("GET", "/stats", reqOpt{token: "good"}); w.Code != 200 {
		t.Fatalf("health checks with wrong tokens locked the client out: %d", w.Code)
	}
	h.ok("POST", "/drain")
	if w := h.do("GET", "/readyz", reqOpt{}); w.Code != 503 || w.Body.String() != "draining\n" {
		t.Fatalf("readyz while draining: %d %q", w.Code, w.Body)
	}
	if w := h.do("GET", "/healthz", reqOpt{}); w.Code != 200 {
		t.Fatalf("healthz while draining: %d", w.Code)
	}
	if w := h.do("POST", "/healthz", reqOpt{}); w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST healthz: %d Allow %q", w.Code, w.Header().Get("Allow"))
	}
}

func TestEveryEndpointRefusesMissingAndWrongTokens(t *testing.T) {
	for _, ep := range authedEndpoints {
		for _, tok := range []string{"", "Bearer " + testToken[:len(testToken)-1] + "X", "Basic " + testToken, "Bearer", testToken} {
			h := newHarness(t, func(o *Options) { o.LockoutThreshold = 100 })
			w := h.do(ep.method, ep.target, reqOpt{token: tok, body: "x new\n"})
			if w.Code != http.StatusUnauthorized {
				t.Errorf("%s %s with Authorization %q: status %d, want 401", ep.method, ep.target, tok, w.Code)
				continue
			}
			if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s: WWW-Authenticate %q", ep.method, ep.target, w.Header().Get("WWW-Authenticate"))
			}
			if m := decode(t, w); m["error"] == "" {
				t.Errorf("%s %s: no error message", ep.method, ep.target)
			}
			if c := h.b.Calls(); len(c) != 0 {
				t.Errorf("%s %s without a valid token reached the backend: %v", ep.method, ep.target, c)
			}
		}
	}
}

func TestEveryEndpointWorksWithTheToken(t *testing.T) {
	for _, ep := range authedEndpoints {
		h := newHarness(t, nil)
		w := h.do(ep.method, ep.target, reqOpt{token: "good", body: "dave@example.com old\n"})
		if w.Code != http.StatusOK {
			t.Errorf("%s %s: status %d, body %s", ep.method, ep.target, w.Code, w.Body)
		}
		// The scheme is case-insensitive.
		h = newHarness(t, nil)
		r := h.do(ep.method, ep.target, reqOpt{token: "bearer " + testToken, body: "dave@example.com old\n"})
		if r.Code != http.StatusOK {
			t.Errorf("%s %s with lower-case scheme: status %d", ep.method, ep.target, r.Code)
		}
	}
}

func TestStats(t *testing.T) {
	h := newHarness(t, nil)
	h.b.stats = backend.Stats{Accepted: 10, Refused: 1, Logins: 7, LoginFailures: 2, BackendFailures: 1, Bridged: 7,
		ActiveConnections: 8, ReactorConnections: 3, ActiveSessions: 5, CacheHits: 3, CacheMisses: 1, CacheEntries: 4,
		Refusals: map[string]uint64{"per_address": 2, "handshake_limit": 1},
		Started:  h.clock.now().Add(-90 * time.Second)}
	m := h.ok("GET", "/stats")
	want := map[string]any{"accepted": 10.0, "refused": 1.0, "logins": 7.0, "login_failures": 2.0,
		"backend_failures": 1.0, "bridged": 7.0, "active_connections": 8.0, "reactor_connections": 3.0, "active_sessions": 5.0,
		"cache_hits": 3.0, "cache_misses": 1.0, "cache_entries": 4.0, "hit_rate_pct": 75.0,
		"refusals": map[string]any{"per_address": 2.0, "handshake_limit": 1.0},
		"ready":    true, "uptime_seconds": 90.0}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("stats:\n got %v\nwant %v", m, want)
	}
	// No refusal yet: an empty object, never null.
	h.b.stats.Refusals = nil
	if m := h.ok("GET", "/stats"); !reflect.DeepEqual(m["refusals"], map[string]any{}) {
		t.Fatalf("refusals without any: %#v", m["refusals"])
	}
	if w := h.do("GET", "/stats?verbose=1", reqOpt{token: "good"}); w.Code != 400 || decode(t, w)["parameter"] != "verbose" {
		t.Fatalf("unknown parameter: %d %s", w.Code, w.Body)
	}
	// Trailing slash accepted, as the reference proxy does.
	h.ok("GET", "/stats/")
}

func TestDestinations(t *testing.T) {
	h := newHarness(t, nil)
	m := h.ok("GET", "/destinations")
	ds := m["destinations"].([]any)
	if len(ds) != 2 {
		t.Fatalf("destinations: %v", m)
	}
	first := ds[0].(map[string]any)
	if first["destination"] != "old" || first["host"] != "10.0.0.1" {
		t.Fatalf("first destination: %v", first)
	}
	p := first["protocols"].([]any)[0].(map[string]any)
	if p["protocol"] != "imap" || p["port"] != 993.0 || p["down"] != true {
		t.Fatalf("protocol status: %v", p)
	}
	if second := ds[1].(map[string]any); second["protocols"] == nil {
		t.Fatalf("protocols must be [] rather than null: %v", second)
	}

	if m := h.ok("POST", "/destinations/reset?destination=old"); m["reset"] != true || m["destination"] != "old" {
		t.Fatalf("reset: %v", m)
	}
	w := h.do("POST", "/destinations/reset?destination=nope", reqOpt{token: "good"})
	if w.Code != 404 || !strings.Contains(decode(t, w)["error"].(string), `"nope"`) {
		t.Fatalf("reset unknown: %d %s", w.Code, w.Body)
	}
}

func TestMappingsCRUD(t *testing.T) {
	h := newHarness(t, nil)
	m := h.ok("GET", "/mappings?identifier=Alice@Example.com")
	if m["destination"] != "new" || m["normalized"] != "alice@example.com" || m["source"] != "store" ||
		m["cached"] != true || m["routed_to_default"] != false || m["identifier"] != "Alice@Example.com" {
		t.Fatalf("get mapped: %v", m)
	}
	m = h.ok("GET", "/mappings?identifier=zed@example.com")
	if m["destination"] != "old" || m["routed_to_default"] != true {
		t.Fatalf("get default: %v", m)
	}

	// '+' is a plus sign (as in the reference proxy), %40 is '@'.
	m = h.ok("PUT", "/mappings?identifier=carol+tag%40example.com&destination=new")
	if m["identifier"] != "carol+tag@example.com" || m["updated"] != true {
		t.Fatalf("put: %v", m)
	}
	if got := h.b.mappings["carol+tag@example.com"]; got != "new" {
		t.Fatalf("backend mapping after PUT: %q (calls %v)", got, h.b.Calls())
	}

	w := h.do("PUT", "/mappings?identifier=carol@example.com&destination=mars", reqOpt{token: "good"})
	if w.Code != 400 || decode(t, w)["parameter"] != "destination" {
		t.Fatalf("put unknown destination: %d %s", w.Code, w.Body)
	}

	if m := h.ok("DELETE", "/mappings?identifier=alice@example.com"); m["removed"] != true {
		t.Fatalf("delete: %v", m)
	}
	if _, ok := h.b.mappings["alice@example.com"]; ok {
		t.Fatal("mapping still there after DELETE")
	}
	if m := h.ok("DELETE", "/mappings?identifier=alice@example.com"); m["removed"] != false {
		t.Fatalf("delete absent: %v", m)
	}

	h.b.readOnly = true
	for _, req := range []string{"PUT /mappings?identifier=x&destination=new", "DELETE /mappings?identifier=x"} {
		method, target, _ := strings.Cut(req, " ")
		w := h.do(method, target, reqOpt{token: "good"})
		if w.Code != http.StatusNotImplemented || !strings.Contains(decode(t, w)["error"].(string), "read-only") {
			t.Fatalf("%s on a read-only store: %d %s", req, w.Code, w.Body)
		}
	}
	if w := h.do("PATCH", "/mappings?identifier=x", reqOpt{token: "good"}); w.Code != 405 || w.Header().Get("Allow") != "DELETE, GET, HEAD, PUT" {
		t.Fatalf("PATCH: %d Allow %q", w.Code, w.Header().Get("Allow"))
	}
}

func TestBadParameters(t *testing.T) {
	long := strings.Repeat("a", httpio.MaxIdentifierLen+1)
	for _, tc := range []struct{ method, target, param, msg string }{
		{"GET", "/mappings", "identifier", "is required"},
		{"GET", "/mappings?identifier=", "identifier", "is empty"},
		{"GET", "/mappings?identifier=" + long, "identifier", "longer than 1024"},
		{"GET", "/mappings?identifier=a%20b", "identifier", "whitespace"},
		{"GET", "/mappings?identifier=a%0Ab", "identifier", "control character"},
		{"GET", "/mappings?identifier=%ff", "identifier", "UTF-8"},
		{"GET", "/mappings?identifier=a%4", "identifier", "percent escape"},
		{"GET", "/mappings?identifier=a&identifier=b", "identifier", "more than once"},
		{"GET", "/mappings?identifer=a", "identifer", "unknown parameter"},
		{"PUT", "/mappings?identifier=a", "destination", "is required"},
		{"PUT", "/mappings?destination=new", "identifier", "is required"},
		{"DELETE", "/mappings", "identifier", "is required"},
		{"POST", "/destinations/reset", "destination", "is required"},
		{"POST", "/connections/kick", "identifier", "is required"},
		{"POST", "/connections/kick?protocol=imap", "identifier", "is required"},
		{"POST", "/connections/kick?identifier=a&protocol=gopher", "protocol", "not one of"},
		{"POST", "/connections/kick?id=0", "id", "not a connection id"},
		{"GET", "/connections?state=idle", "state", "not one of"},
		{"POST", "/connections/delay?identifier=a", "seconds", "is required"},
		{"POST", "/connections/delay?seconds=5", "identifier", "is required"},
		{"POST", "/connections/delay?identifier=a&seconds=-1", "seconds", "whole number"},
		{"POST", "/connections/delay?identifier=a&seconds=1.5", "seconds", "whole number"},
		{"POST", "/connections/delay?identifier=a&seconds=%2B5", "seconds", "whole number"},
		{"POST", "/connections/delay?identifier=a&seconds=86401", "seconds", "more than 86400"},
		{"POST", "/cache/invalidate?identifier=", "identifier", "is empty"},
		{"PUT", "/log/level", "level", "is required"},
		{"PUT", "/log/level?level=trace", "level", "not one of"},
	} {
		h := newHarness(t, nil)
		w := h.do(tc.method, tc.target, reqOpt{token: "good"})
		if w.Code != 400 {
			t.Errorf("%s %s: status %d, want 400 (%s)", tc.method, tc.target, w.Code, w.Body)
			continue
		}
		m := decode(t, w)
		if m["parameter"] != tc.param || !strings.Contains(m["error"].(string), tc.msg) {
			t.Errorf("%s %s: %v, want parameter %q and %q in the message", tc.method, tc.target, m, tc.param, tc.msg)
		}
		if c := h.b.Calls(); len(c) != 0 {
			t.Errorf("%s %s: a bad request reached the backend: %v", tc.method, tc.target, c)
		}
	}
}

func TestUnknownRoute(t *testing.T) {
	h := newHarness(t, nil)
	w := h.do("GET", "/nope", reqOpt{token: "good"})
	if w.Code != 404 || !strings.Contains(decode(t, w)["error"].(string), "/nope") {
		t.Fatalf("unknown route: %d %s", w.Code, w.Body)
	}
	// Without a token, an unknown route is a 401: routes are not probed
	// anonymously.
	if w := h.do("GET", "/nope", reqOpt{}); w.Code != 401 {
		t.Fatalf("unknown route without token: %d", w.Code)
	}
}

func TestConnectionsKickDelay(t *testing.T) {
	h := newHarness(t, nil)
	m := h.ok("GET", "/connections")
	if m["count"] != 2.0 {
		t.Fatalf("connections: %v", m)
	}
	list := m["connections"].([]any)
	c0 := list[0].(map[string]any) // sorted by id
	if c0["id"] != 1.0 || c0["state"] != "preauth" || c0["age_seconds"] != 1.0 {
		t.Fatalf("first connection: %v", c0)
	}
	c1 := list[1].(map[string]any)
	if c1["account"] != "bob@example.com" || c1["bridge"] != "splice" || c1["bytes_in"] != 10.0 ||
		c1["bytes_out"] != 20.0 || c1["age_seconds"] != 1.5 || c1["client"] != "192.0.2.7:5000" || c1["destination"] != "old" {
		t.Fatalf("second connection: %v", c1)
	}
	m = h.ok("GET", "/connections?destination=old&protocol=imap&state=bridged")
	if m["count"] != 1.0 {
		t.Fatalf("filtered: %v", m)
	}
	if m := h.ok("GET", "/connections?identifier=nobody"); m["count"] != 0.0 || m["connections"] == nil {
		t.Fatalf("empty list must be []: %v", m)
	}

	if m := h.ok("POST", "/connections/kick?destination=old"); m["kicked"] != 1.0 {
		t.Fatalf("kick by destination: %v", m)
	}
	if m := h.ok("POST", "/connections/kick?identifier=ALICE@example.com"); m["kicked"] != 1.0 {
		t.Fatalf("kick by identifier: %v", m)
	}
	if m := h.ok("POST", "/connections/kick?identifier=alice@example.com"); m["kicked"] != 0.0 {
		t.Fatalf("kick again: %v", m)
	}

	m = h.ok("POST", "/connections/delay?identifier=bob@example.com&seconds=120")
	if m["seconds"] != 120.0 || m["until"] != "2026-01-02T03:06:05Z" {
		t.Fatalf("delay: %v", m)
	}
	if h.b.delays["bob@example.com"] != 2*time.Minute {
		t.Fatalf("backend delay: %v", h.b.delays)
	}
	if m := h.ok("POST", "/connections/delay?identifier=bob@example.com&seconds=0"); m["until"] != nil {
		t.Fatalf("lifting a delay: %v", m)
	}
}

func TestCacheConfigDrainLogLevel(t *testing.T) {
	h := newHarness(t, nil)
	if m := h.ok("POST", "/cache/invalidate"); m["all"] != true {
		t.Fatalf("invalidate all: %v", m)
	}
	if m := h.ok("POST", "/cache/invalidate?identifier=bob@example.com"); m["identifier"] != "bob@example.com" {
		t.Fatalf("invalidate one: %v", m)
	}
	want := []string{`invalidate ""`, `invalidate "bob@example.com"`}
	if got := h.b.Calls(); !reflect.DeepEqual(got, want) {
		t.Fatalf("calls %v, want %v", got, want)
	}

	h.b.notes = []string{"listener imap: bind change needs a restart"}
	m := h.ok("POST", "/config/reload")
	if m["reloaded"] != true || fmt.Sprint(m["notes"]) != "[listener imap: bind change needs a restart]" {
		t.Fatalf("config reload: %v", m)
	}
	h.b.reloadErr = fmt.Errorf("config: listener.imap.bind: bad address")
	w := h.do("POST", "/config/reload", reqOpt{token: "good"})
	if w.Code != 422 || !strings.Contains(decode(t, w)["error"].(string), "listener.imap.bind") {
		t.Fatalf("failed reload: %d %s", w.Code, w.Body)
	}
	h.b.reloadErr = fmt.Errorf("no config file: %w", backend.ErrUnavailable)
	if w := h.do("POST", "/config/reload", reqOpt{token: "good"}); w.Code != 503 {
		t.Fatalf("reload unavailable: %d %s", w.Code, w.Body)
	}
	h.b.reloadErr = errBoom
	if w := h.do("POST", "/mappings/reload", reqOpt{token: "good"}); w.Code != 500 || !strings.Contains(w.Body.String(), "boom") {
		t.Fatalf("mappings reload failure: %d %s", w.Code, w.Body)
	}

	if m := h.ok("PUT", "/log/level?level=warn"); m["level"] != "warn" || h.b.level != "warn" {
		t.Fatalf("log level: %v, backend %q", m, h.b.level)
	}
	if m := h.ok("POST", "/drain"); m["draining"] != true {
		t.Fatalf("drain: %v", m)
	}
	if m := h.ok("GET", "/stats"); m["ready"] != false {
		t.Fatalf("stats after drain: %v", m)
	}
	if m := h.ok("DELETE", "/drain"); m["draining"] != false {
		t.Fatalf("undrain: %v", m)
	}
	if m := h.ok("GET", "/stats"); m["ready"] != true {
		t.Fatalf("stats after the drain ended: %v", m)
	}
}
