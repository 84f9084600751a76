package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/admin/backend"
	"github.com/switchyard-mail/switchyard/admin/events"
	"github.com/switchyard-mail/switchyard/admin/httpio"
)

// v1 is a harness with the viewer token configured.
func v1(t *testing.T) *harness {
	return newHarness(t, func(o *Options) { o.ViewerToken = testViewerToken })
}

// call performs a /api/v1 request with a JSON body (if any) and returns
// the status and the decoded body (problem documents included).
func (h *harness) call(method, target, token, body string) (int, map[string]any) {
	h.t.Helper()
	o := reqOpt{token: token, body: body}
	if body != "" {
		o.ctype = "application/json"
	}
	w := h.do(method, target, o)
	var m map[string]any
	if ct := w.Header().Get("Content-Type"); strings.Contains(ct, "json") {
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			h.t.Fatalf("%s %s: body %q: %v", method, target, w.Body, err)
		}
	}
	return w.Code, m
}

// get expects 200 from a GET with the admin token.
func (h *harness) get(target string) map[string]any {
	h.t.Helper()
	code, m := h.call("GET", target, "good", "")
	if code != 200 {
		h.t.Fatalf("GET %s: %d %v", target, code, m)
	}
	return m
}

// send expects 200 from a change with the admin token.
func (h *harness) send(method, target, body string) map[string]any {
	h.t.Helper()
	code, m := h.call(method, target, "good", body)
	if code != 200 {
		h.t.Fatalf("%s %s: %d %v", method, target, code, m)
	}
	return m
}

// problem expects a problem document with status code naming param.
func (h *harness) problem(method, target, token, body string, code int, param string) map[string]any {
	h.t.Helper()
	got, m := h.call(method, target, token, body)
	if got != code {
		h.t.Fatalf("%s %s: status %d, want %d (%v)", method, target, got, code, m)
	}
	if m["status"] != float64(code) || !strings.HasPrefix(fmt.Sprint(m["type"]), httpio.ProblemPrefix) || m["title"] == "" {
		h.t.Fatalf("%s %s: not a problem document: %v", method, target, m)
	}
	if param != "" && m["parameter"] != param {
		h.t.Fatalf("%s %s: problem names %v, want %q (%v)", method, target, m["parameter"], param, m)
	}
	return m
}

// v1Writes are every change /api/v1 offers, with a valid body.
var v1Writes = []struct{ method, target, body string }{
	{"POST", "/api/v1/drain", ""},
	{"PUT", "/api/v1/log-level", `{"level":"debug"}`},
	{"PUT", "/api/v1/destinations/old/maintenance", `{"enabled":true}`},
	{"POST", "/api/v1/destinations/old/reset", ""},
	{"POST", "/api/v1/destinations/old/drain", ""},
	{"POST", "/api/v1/mappings/import", `{"mappings":[{"identifier":"x@y","destination":"new"}]}`},
	{"POST", "/api/v1/mappings/reload", ""},
	{"PUT", "/api/v1/mappings/carol@example.com", `{"destination":"new"}`},
	{"DELETE", "/api/v1/mappings/alice@example.com", ""},
	{"POST", "/api/v1/accounts/bob@example.com/kick", ""},
	{"POST", "/api/v1/accounts/bob@example.com/cutover", `{"destination":"new"}`},
	{"POST", "/api/v1/sessions/kick", `{"account":"bob@example.com"}`},
	{"DELETE", "/api/v1/sessions/2", ""},
	{"PUT", "/api/v1/holds/bob@example.com", `{"seconds":30}`},
	{"DELETE", "/api/v1/holds/bob@example.com", ""},
	{"DELETE", "/api/v1/cache", ""},
	{"DELETE", "/api/v1/cache/bob@example.com", ""},
	{"POST", "/api/v1/config/reload", ""},
}

// TestV1ViewerReadsButChangesNothing: the viewer token gets every GET and
// a 403 problem for every change, which never reaches the backend; the
// admin token may do them all.
func TestV1ViewerReadsButChangesNothing(t *testing.T) {
	h := v1(t)
	if m := h.get("/api/v1/whoami"); m["role"] != "admin" || m["instance"] != "test-1" {
		t.Fatalf("whoami (admin): %v", m)
	}
	if code, m := h.call("GET", "/api/v1/whoami", "viewer", ""); code != 200 || m["role"] != "viewer" {
		t.Fatalf("whoami (viewer): %d %v", code, m)
	}
	for _, target := range []string{"/api/v1/stats", "/api/v1/destinations", "/api/v1/mappings", "/api/v1/sessions", "/api/v1/holds",
		"/api/v1/cache", "/api/v1/config", "/api/v1/events", "/api/v1/history", "/api/v1/instance", "/api/v1/accounts/bob@example.com"} {
		if code, m := h.call("GET", target, "viewer", ""); code != 200 {
			t.Errorf("viewer GET %s: %d %v", target, code, m)
		}
	}
	// The reference paths follow the same rule.
	if w := h.do("GET", "/stats", reqOpt{token: "viewer"}); w.Code != 200 {
		t.Errorf("viewer GET /stats: %d", w.Code)
	}
	if w := h.do("GET", "/metrics", reqOpt{token: "viewer"}); w.Code != 200 {
		t.Errorf("viewer GET /metrics: %d", w.Code)
	}
	for _, target := range []string{"/mappings?identifier=x@y&destination=new", "/connections/kick?identifier=bob@example.com"} {
		method := map[bool]string{true: "PUT", false: "POST"}[strings.HasPrefix(target, "/mappings")]
		if w := h.do(method, target, reqOpt{token: "viewer"}); w.Code != 403 {
			t.Errorf("viewer %s %s: %d", method, target, w.Code)
		}
	}
	before := len(h.b.Calls())
	for _, wr := range v1Writes {
		h.problem(wr.method, wr.target, "viewer", wr.body, 403, "")
	}
	if calls := h.b.Calls(); len(calls) != before {
		t.Fatalf("the viewer's changes reached the backend: %v", calls[before:])
	}
	for _, wr := range v1Writes {
		fresh := v1(t)
		if code, m := fresh.call(wr.method, wr.target, "good", wr.body); code != 200 {
			t.Errorf("admin %s %s: %d %v", wr.method, wr.target, code, m)
		}
	}
}

func TestV1AuthProblems(t *testing.T) {
	h := v1(t)
	w := h.do("GET", "/api/v1/stats", reqOpt{})
	if w.Code != 401 || w.Header().Get("Content-Type") != "application/problem+json" || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no token: %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Header().Get("WWW-Authenticate"))
	}
	h.problem("GET", "/api/v1/stats", "Bearer nope", "", 401, "")
	h.problem("GET", "/api/v1/stats", "Bearer nope", "", 401, "")
	h.problem("GET", "/api/v1/stats", "Bearer nope", "", 401, "") // locks (threshold 3)
	m := h.problem("GET", "/api/v1/stats", "Bearer nope", "", 429, "")
	if !strings.Contains(m["detail"].(string), "retry in") {
		t.Fatalf("locked: %v", m)
	}
	// Unknown path, wrong method, a trailing slash.
	h.problem("GET", "/api/v1/nope", "good", "", 404, "")
	w = h.do("PATCH", "/api/v1/mappings/x@y", reqOpt{token: "good"})
	if w.Code != 405 || w.Header().Get("Allow") != "DELETE, GET, HEAD, PUT" {
		t.Fatalf("PATCH: %d Allow %q", w.Code, w.Header().Get("Allow"))
	}
	h.get("/api/v1/stats/")
	h.problem("GET", "/api/v1/stats?verbose=1", "good", "", 400, "verbose")
}

func TestV1Viewertoken(t *testing.T) {
	for _, tc := range []struct {
		viewer, want string
	}{
		{"short", "viewer token is 5 characters long"},
		{testToken, "viewer token is the admin token"},
		{strings.Repeat("v", 40) + " x", "whitespace"},
	} {
		if _, err := New(Options{BearerToken: testToken, ViewerToken: tc.viewer}, newFake()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("viewer %q: %v, want %q", tc.viewer, err, tc.want)
		}
	}
	// Without a viewer token configured, a guess of it is a bad token.
	h := newHarness(t, nil)
	h.problem("GET", "/api/v1/stats", "viewer", "", 401, "")
	// The profiler is for the admin token only.
	p := newHarness(t, func(o *Options) { o.ViewerToken = testViewerToken; o.Pprof = true })
	if w := p.do("GET", "/debug/pprof/", reqOpt{token: "viewer"}); w.Code != 403 {
		t.Fatalf("viewer on the profiler: %d", w.Code)
	}
}

func TestV1StatsInstanceOpenAPI(t *testing.T) {
	h := v1(t)
	h.b.stats = backend.Stats{Accepted: 10, Logins: 7, CacheHits: 3, CacheMisses: 1, Started: h.clock.now().Add(-time.Minute)}
	m := h.get("/api/v1/stats")
	if m["accepted"] != 10.0 || m["uptime_seconds"] != 60.0 || m["hit_rate_pct"] != 75.0 || m["instance"] != "test-1" {
		t.Fatalf("stats: %v", m)
	}
	byProto := m["sessions_by_protocol"].(map[string]any)
	if byProto["imap"] != 1.0 || byProto["pop3"] != 1.0 || m["sessions_by_state"].(map[string]any)["bridged"] != 1.0 {
		t.Fatalf("sessions in stats: %v", m)
	}
	if in := h.get("/api/v1/instance"); in["name"] != "test-1" || in["bus"] != "none" || len(in["peers"].([]any)) != 0 {
		t.Fatalf("instance: %v", in)
	}
	doc := h.get("/api/v1/openapi.json")
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi.json: %v", doc["openapi"])
	}
	m = h.send("PUT", "/api/v1/log-level", `{"level":"warn"}`)
	if m["level"] != "warn" || h.b.level != "warn" {
		t.Fatalf("log level: %v", m)
	}
	h.problem("PUT", "/api/v1/log-level", "good", `{"level":"loud"}`, 400, "level")
	h.problem("PUT", "/api/v1/log-level", "good", `{"lvl":"warn"}`, 400, "lvl")
	h.problem("PUT", "/api/v1/log-level", "good", `{"level":3}`, 400, "level")
	h.problem("PUT", "/api/v1/log-level", "good", `{"level":"warn"}{}`, 400, "")
	h.problem("PUT", "/api/v1/log-level", "good", ``, 400, "")
	if w := h.do("PUT", "/api/v1/log-level", reqOpt{token: "good", body: `{"level":"warn"}`, ctype: "text/plain"}); w.Code != 415 {
		t.Fatalf("text/plain body: %d", w.Code)
	}
	if m := h.send("POST", "/api/v1/drain", ""); m["draining"] != true || h.b.Ready() {
		t.Fatalf("drain: %v", m)
	}
	if m := h.send("DELETE", "/api/v1/drain", ""); m["draining"] != false || !h.b.Ready() {
		t.Fatalf("undrain: %v", m)
	}
}

// TestV1RoutesMatchTheDocument: the server serves exactly the operations
// openapi.json describes.
func TestV1RoutesMatchTheDocument(t *testing.T) {
	h := v1(t)
	if got, want := h.s.Patterns(), spec.Operations(); !slices.Equal(got, want) {
		t.Fatalf("routes and openapi.json differ:\nroutes %q\ndoc    %q", got, want)
	}
}

func TestV1Destinations(t *testing.T) {
	h := v1(t)
	ds := h.get("/api/v1/destinations")["destinations"].([]any)
	if len(ds) != 2 {
		t.Fatalf("destinations: %v", ds)
	}
	old := ds[0].(map[string]any)
	if old["id"] != "old" || old["down"] != true || old["sessions"] != 1.0 {
		t.Fatalf("old: %v", old)
	}
	br := old["protocols"].([]any)[0].(map[string]any)["breaker"].(map[string]any)
	if br["state"] != "open" || br["reason"] != "3 consecutive failures" {
		t.Fatalf("breaker: %v", br)
	}
	if d := h.get("/api/v1/destinations/new"); d["id"] != "new" || len(d["protocols"].([]any)) != 0 {
		t.Fatalf("new: %v", d)
	}
	h.problem("GET", "/api/v1/destinations/mars", "good", "", 404, "destination")
	if d := h.send("PUT", "/api/v1/destinations/new/maintenance", `{"enabled":true}`); d["maintenance"] != true {
		t.Fatalf("maintenance on: %v", d)
	}
	if d := h.send("PUT", "/api/v1/destinations/new/maintenance", `{"enabled":false}`); d["maintenance"] != false {
		t.Fatalf("maintenance off: %v", d)
	}
	h.problem("PUT", "/api/v1/destinations/new/maintenance", "good", `{}`, 400, "enabled")
	h.problem("PUT", "/api/v1/destinations/mars/maintenance", "good", `{"enabled":true}`, 404, "destination")
	if d := h.send("POST", "/api/v1/destinations/old/reset", ""); d["id"] != "old" {
		t.Fatalf("reset: %v", d)
	}
	h.problem("POST", "/api/v1/destinations/mars/reset", "good", "", 404, "destination")
	m := h.send("POST", "/api/v1/destinations/old/drain", "")
	if m["kicked"] != 1.0 || m["maintenance"] != true || !h.b.maint["old"] {
		t.Fatalf("drain: %v", m)
	}
	if d := h.get("/api/v1/destinations/old"); d["sessions"] != 0.0 {
		t.Fatalf("sessions left on old after the drain: %v", d)
	}
	h.problem("POST", "/api/v1/destinations/mars/drain", "good", "", 404, "destination")
}

func TestV1Mappings(t *testing.T) {
	h := v1(t)
	for i := range 7 {
		h.b.mappings[fmt.Sprintf("u%d@example.com", i)] = []string{"old", "new"}[i%2]
	}
	var all []string
	cursor := ""
	for {
		target := "/api/v1/mappings?limit=3"
		if cursor != "" {
			target += "&cursor=" + cursor
		}
		m := h.get(target)
		for _, e := range m["mappings"].([]any) {
			all = append(all, e.(map[string]any)["identifier"].(string))
		}
		if m["next_cursor"] == nil {
			break
		}
		cursor = m["next_cursor"].(string)
	}
	if len(all) != 8 || !sort.StringsAreSorted(all) {
		t.Fatalf("pages: %q", all)
	}
	m := h.get("/api/v1/mappings?search=U1&destination=new")
	if m["count"] != 1.0 || m["mappings"].([]any)[0].(map[string]any)["identifier"] != "u1@example.com" {
		t.Fatalf("search: %v", m)
	}
	if m := h.get("/api/v1/mappings?destination=old&limit=2"); m["count"] != 2.0 || m["next_cursor"] == nil {
		t.Fatalf("filtered page: %v", m)
	}
	h.problem("GET", "/api/v1/mappings?limit=0", "good", "", 400, "limit")
	h.problem("GET", "/api/v1/mappings?limit=x", "good", "", 400, "limit")
	if c := h.get("/api/v1/mappings/counts"); c["total"] != 8.0 || c["destinations"].(map[string]any)["new"] != 4.0 {
		t.Fatalf("counts: %v", c)
	}
	h.b.notListable = true
	h.problem("GET", "/api/v1/mappings", "good", "", 501, "")
	h.problem("GET", "/api/v1/mappings/counts", "good", "", 501, "")
	h.b.notListable = false

	if m := h.get("/api/v1/mappings/Alice@Example.com"); m["destination"] != "new" || m["normalized"] != "alice@example.com" || m["identifier"] != "Alice@Example.com" {
		t.Fatalf("get: %v", m)
	}
	h.problem("GET", "/api/v1/mappings/zed@example.com", "good", "", 404, "identifier")
	h.problem("GET", "/api/v1/mappings/%23x", "good", "", 400, "identifier") // empty once normalized
	h.problem("GET", "/api/v1/mappings/a%20b", "good", "", 400, "identifier")
	// A '+' in a path is a plus sign; '/' may be encoded.
	if m := h.send("PUT", "/api/v1/mappings/carol+tag@example.com", `{"destination":"new"}`); m["previous"] != nil || m["destination"] != "new" {
		t.Fatalf("put: %v", m)
	}
	if m := h.send("PUT", "/api/v1/mappings/carol+tag@example.com", `{"destination":"old"}`); m["previous"] != "new" {
		t.Fatalf("put again: %v", m)
	}
	if m := h.send("PUT", "/api/v1/mappings/a%2Fb@example.com", `{"destination":"old"}`); m["normalized"] != "a/b@example.com" {
		t.Fatalf("put with an encoded slash: %v", m)
	}
	h.problem("PUT", "/api/v1/mappings/carol@example.com", "good", `{"destination":"mars"}`, 400, "destination")
	h.problem("PUT", "/api/v1/mappings/carol@example.com", "good", `{"destination":""}`, 400, "destination")
	h.b.storeErr = backend.ErrUnavailable
	h.problem("PUT", "/api/v1/mappings/carol@example.com", "good", `{"destination":"new"}`, 503, "")
	h.b.storeErr = nil
	h.b.readOnly = true
	h.problem("PUT", "/api/v1/mappings/carol@example.com", "good", `{"destination":"new"}`, 501, "")
	h.problem("DELETE", "/api/v1/mappings/alice@example.com", "good", "", 501, "")
	h.b.readOnly = false
	if m := h.send("DELETE", "/api/v1/mappings/alice@example.com", ""); m["removed"] != true || m["previous"] != "new" {
		t.Fatalf("delete: %v", m)
	}
	h.problem("DELETE", "/api/v1/mappings/alice@example.com", "good", "", 404, "identifier")
	if m := h.send("POST", "/api/v1/mappings/reload", ""); m["reloaded"] != true {
		t.Fatalf("reload: %v", m)
	}
	w := h.do("GET", "/api/v1/mappings/export", reqOpt{token: "good"})
	if w.Code != 200 || !strings.Contains(w.Body.String(), "carol+tag@example.com old\n") {
		t.Fatalf("export: %d %q", w.Code, w.Body)
	}
	h.b.exportErr = backend.ErrUnavailable
	h.b.mappings = map[string]string{}
	h.problem("GET", "/api/v1/mappings/export", "good", "", 503, "")
}

func TestV1Import(t *testing.T) {
	h := v1(t)
	h.b.mappings["bob@example.com"] = "old"
	body := "# new ones\nAlice@Example.com new\nbob@example.com new\ncarol@example.com old\n"
	w := h.do("POST", "/api/v1/mappings/import?dry_run=true", reqOpt{token: "good", body: body, ctype: "text/plain"})
	var rep map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &rep)
	if w.Code != 200 || rep["dry_run"] != true || rep["total"] != 3.0 || rep["unchanged"] != 1.0 || rep["changed"] != 1.0 ||
		rep["added"] != 1.0 || rep["applied"] != 0.0 {
		t.Fatalf("dry run: %d %v", w.Code, rep)
	}
	changes := rep["changes"].([]any)
	if len(changes) != 2 || changes[0].(map[string]any)["identifier"] != "bob@example.com" || changes[0].(map[string]any)["from"] != "old" ||
		changes[1].(map[string]any)["from"] != nil {
		t.Fatalf("changes: %v", changes)
	}
	if h.b.mappings["bob@example.com"] != "old" || h.b.mappings["carol@example.com"] != "" {
		t.Fatal("the dry run changed the mappings")
	}
	w = h.do("POST", "/api/v1/mappings/import", reqOpt{token: "good", body: "identifier,destination\nbob@example.com,new\n\"carol@example.com\",old\n", ctype: "text/csv"})
	_ = json.Unmarshal(w.Body.Bytes(), &rep)
	if w.Code != 200 || rep["applied"] != 2.0 || h.b.mappings["bob@example.com"] != "new" || h.b.mappings["carol@example.com"] != "old" {
		t.Fatalf("csv import: %d %v", w.Code, rep)
	}
	if c := h.b.Calls(); c[len(c)-1] != "import 2" {
		t.Fatalf("only changes are written: %v", c)
	}
	for _, tc := range []struct {
		ctype, body string
		code, line  int
	}{
		{"text/plain", "a@x new\nb@x mars\n", 400, 2},
		{"text/plain", "a@x new\nA@X old\n", 400, 2},
		{"text/plain", "a@x new extra\n", 400, 1},
		{"text/plain", "#x new\n", 400, 0},
		{"text/csv", "a@x,new\nb@x\n", 400, 2},
		{"text/csv", "a@x,\"new\n", 400, 1},
		{"application/json", `{"mappings":[{"identifier":"a@x","destination":"new"},{"identifier":"","destination":"old"}]}`, 400, 2},
		{"application/json", `{"maps":[]}`, 400, 0},
		{"application/xml", "<x/>", 415, 0},
		{"text/plain", "# nothing\n", 400, 0},
	} {
		w := h.do("POST", "/api/v1/mappings/import", reqOpt{token: "good", body: tc.body, ctype: tc.ctype})
		var p map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &p)
		if w.Code != tc.code || (tc.line != 0 && p["line"] != float64(tc.line)) {
			t.Errorf("%s %q: %d %v, want %d line %d", tc.ctype, tc.body, w.Code, p, tc.code, tc.line)
		}
	}
	h.problem("POST", "/api/v1/mappings/import?dry_run=maybe", "good", `{"mappings":[]}`, 400, "dry_run")
	big := newHarness(t, func(o *Options) { o.MaxImportBytes = 10 })
	if w := big.do("POST", "/api/v1/mappings/import", reqOpt{token: "good", body: "a@x new\nb@x new\n", ctype: "text/plain"}); w.Code != 413 {
		t.Fatalf("large import: %d", w.Code)
	}
	h.b.readOnly = true
	h.problem("POST", "/api/v1/mappings/import", "good", `{"mappings":[{"identifier":"z@x","destination":"new"}]}`, 501, "")
}

func TestV1AccountsSessionsHoldsCache(t *testing.T) {
	h := v1(t)
	a := h.get("/api/v1/accounts/Bob@Example.com")
	if a["normalized"] != "bob@example.com" || a["count"] != 1.0 || a["hold"] != nil {
		t.Fatalf("account: %v", a)
	}
	rte := a["route"].(map[string]any)
	if rte["decision"].(map[string]any)["source"] != "default" || len(rte["steps"].([]any)) != 3 {
		t.Fatalf("route: %v", rte)
	}
	if r := h.get("/api/v1/accounts/alice@example.com/route"); r["decision"].(map[string]any)["destination"] != "new" {
		t.Fatalf("alice's route: %v", r)
	}
	if s := h.get("/api/v1/accounts/bob@example.com/sessions"); s["count"] != 1.0 {
		t.Fatalf("bob's sessions: %v", s)
	}
	h.problem("GET", "/api/v1/accounts/%23/route", "good", "", 400, "account")

	// Sessions and their filters.
	if s := h.get("/api/v1/sessions"); s["count"] != 2.0 || s["total"] != 2.0 || s["sessions"].([]any)[0].(map[string]any)["id"] != 1.0 {
		t.Fatalf("sessions: %v", s)
	}
	for q, n := range map[string]float64{"client=192.0.2.7": 1, "client=192.0.2.0/24": 2, "client=192.0.2.8:5001": 1, "protocol=pop3": 1,
		"state=bridged": 1, "destination=new": 1, "account=BOB@example.com": 1, "limit=1": 1, "client=10.0.0.0/8": 0} {
		if s := h.get("/api/v1/sessions?" + q); s["count"] != n {
			t.Errorf("sessions?%s: %v, want %v", q, s["count"], n)
		}
	}
	h.problem("GET", "/api/v1/sessions?client=nowhere", "good", "", 400, "client")
	h.problem("GET", "/api/v1/sessions?state=zombie", "good", "", 400, "state")
	h.problem("GET", "/api/v1/sessions?protocol=gopher", "good", "", 400, "protocol")
	if s := h.get("/api/v1/sessions/2"); s["account"] != "bob@example.com" || s["bridge"] != "splice" {
		t.Fatalf("session 2: %v", s)
	}
	h.problem("GET", "/api/v1/sessions/99", "good", "", 404, "id")
	h.problem("GET", "/api/v1/sessions/x", "good", "", 400, "id")
	h.problem("POST", "/api/v1/sessions/kick", "good", `{"protocol":"imap"}`, 400, "account")
	h.problem("POST", "/api/v1/sessions/kick", "good", `{"account":"bob@example.com","state":"zombie"}`, 400, "state")
	if m := h.send("POST", "/api/v1/sessions/kick", `{"client":"192.0.2.8","protocol":"imap"}`); m["kicked"] != 0.0 {
		t.Fatalf("kick nothing: %v", m)
	}
	if m := h.send("DELETE", "/api/v1/sessions/1", ""); m["kicked"] != 1.0 {
		t.Fatalf("kick 1: %v", m)
	}
	h.problem("DELETE", "/api/v1/sessions/1", "good", "", 404, "id")
	if m := h.send("POST", "/api/v1/accounts/bob@example.com/kick", ""); m["kicked"] != 1.0 {
		t.Fatalf("kick bob: %v", m)
	}

	// Holds.
	if m := h.send("PUT", "/api/v1/holds/Bob@Example.com", `{"seconds":300}`); m["account"] != "bob@example.com" || m["remaining_seconds"] != 300.0 {
		t.Fatalf("hold: %v", m)
	}
	if hs := h.get("/api/v1/holds")["holds"].([]any); len(hs) != 1 {
		t.Fatalf("holds: %v", hs)
	}
	if m := h.get("/api/v1/holds/bob@example.com"); m["account"] != "bob@example.com" {
		t.Fatalf("hold of bob: %v", m)
	}
	if a := h.get("/api/v1/accounts/bob@example.com"); a["hold"] == nil {
		t.Fatalf("account without its hold: %v", a)
	}
	h.problem("PUT", "/api/v1/holds/bob@example.com", "good", `{"seconds":0}`, 400, "seconds")
	h.problem("PUT", "/api/v1/holds/bob@example.com", "good", `{"seconds":86401}`, 400, "seconds")
	if m := h.send("DELETE", "/api/v1/holds/bob@example.com", ""); m["lifted"] != true {
		t.Fatalf("lift: %v", m)
	}
	if m := h.send("DELETE", "/api/v1/holds/bob@example.com", ""); m["lifted"] != false {
		t.Fatalf("lift again: %v", m)
	}
	h.problem("GET", "/api/v1/holds/bob@example.com", "good", "", 404, "account")

	// Cache.
	if c := h.get("/api/v1/cache"); c["entries"] != 4.0 || c["hit_rate_pct"] != 75.0 {
		t.Fatalf("cache: %v", c)
	}
	if e := h.get("/api/v1/cache/Alice@Example.com"); e["present"] != true || e["kind"] != "mapping" || e["destination"] != "new" {
		t.Fatalf("cache entry: %v", e)
	}
	if e := h.get("/api/v1/cache/zed@x"); e["present"] != false || e["destination"] != nil {
		t.Fatalf("absent cache entry: %v", e)
	}
	if m := h.send("DELETE", "/api/v1/cache/Alice@Example.com", ""); m["account"] != "alice@example.com" {
		t.Fatalf("invalidate: %v", m)
	}
	if m := h.send("DELETE", "/api/v1/cache", ""); m["all"] != true {
		t.Fatalf("invalidate all: %v", m)
	}
	if c := h.b.Calls(); c[len(c)-1] != `invalidate ""` || c[len(c)-2] != `invalidate "Alice@Example.com"` {
		t.Fatalf("calls: %v", c[len(c)-2:])
	}
}

func TestV1Cutover(t *testing.T) {
	h := v1(t)
	m := h.send("POST", "/api/v1/accounts/Bob@Example.com/cutover", `{"destination":"new","max_hold":"2s","aliases":["bob"]}`)
	if m["account"] != "bob@example.com" || m["kicked"] != 1.0 || m["hold_ms"] != 2000.0 || len(m["instances"].([]any)) != 1 {
		t.Fatalf("report: %v", m)
	}
	if c := h.b.Calls(); !slices.Contains(c, `cutover Bob@Example.com new 2s ["bob"]`) {
		t.Fatalf("calls: %v", c)
	}
	h.send("POST", "/api/v1/accounts/bob@example.com/cutover", `{"destination":"old"}`) // default hold
	if c := h.b.Calls(); !slices.Contains(c, `cutover bob@example.com old 10s []`) {
		t.Fatalf("default hold: %v", c)
	}
	h.problem("POST", "/api/v1/accounts/bob@example.com/cutover", "good", `{"destination":"mars"}`, 400, "destination")
	h.problem("POST", "/api/v1/accounts/bob@example.com/cutover", "good", `{}`, 400, "destination")
	h.problem("POST", "/api/v1/accounts/bob@example.com/cutover", "good", `{"destination":"new","max_hold":"2m"}`, 400, "max_hold")
	h.problem("POST", "/api/v1/accounts/bob@example.com/cutover", "good", `{"destination":"new","max_hold":"soon"}`, 400, "max_hold")
	h.problem("POST", "/api/v1/accounts/bob@example.com/cutover", "good", `{"destination":"new","aliases":["a b"]}`, 400, "aliases")
	many, _ := json.Marshal(map[string]any{"destination": "new", "aliases": slices.Repeat([]string{"x"}, backend.MaxCutoverAliases+1)})
	h.problem("POST", "/api/v1/accounts/bob@example.com/cutover", "good", string(many), 400, "aliases")
	h.problem("POST", "/api/v1/accounts/bob@example.com/cutover", "good", `{"destination":"new","hold":"1s"}`, 400, "hold")
	h.b.readOnly = true
	h.problem("POST", "/api/v1/accounts/bob@example.com/cutover", "good", `{"destination":"new"}`, 501, "")
}

func TestV1ConfigReload(t *testing.T) {
	h := v1(t)
	if c := h.get("/api/v1/config"); c["config"].(map[string]any)["admin"].(map[string]any)["bearer_token"] != "xxxxx" {
		t.Fatalf("config: %v", c)
	}
	h.b.notes = []string{"listener.imap changed: restart switchyard to apply"}
	m := h.send("POST", "/api/v1/config/reload", "")
	if len(m["applied"].([]any)) != 1 || len(m["restart_required"].([]any)) != 1 {
		t.Fatalf("reload: %v", m)
	}
	h.b.reloadErr = fmt.Errorf("configuration: bad")
	if p := h.problem("POST", "/api/v1/config/reload", "good", "", 422, ""); !strings.Contains(p["detail"].(string), "bad") {
		t.Fatalf("failed reload: %v", p)
	}
	h.b.reloadErr = backend.ErrUnavailable
	h.problem("POST", "/api/v1/config/reload", "good", "", 503, "")
}

func TestV1EventsAndHistory(t *testing.T) {
	evlog := events.NewEventLog(8)
	hist := events.NewHistory()
	h := newHarness(t, func(o *Options) { o.Events, o.History = evlog, hist })
	if m := h.get("/api/v1/events"); m["last_seq"] != 0.0 || len(m["events"].([]any)) != 0 {
		t.Fatalf("empty log: %v", m)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 10 {
		kind, acct := events.EventLogin, "a@x"
		if i%3 == 0 {
			kind, acct = events.EventFlip, "b@x"
		}
		evlog.Add(events.Event{Time: at, Kind: kind, Account: acct, Outcome: "success"})
	}
	m := h.get("/api/v1/events")
	evs := m["events"].([]any)
	if m["last_seq"] != 10.0 || len(evs) != 8 || evs[0].(map[string]any)["seq"] != 3.0 {
		t.Fatalf("the ring keeps the last 8: %v", m)
	}
	if m := h.get("/api/v1/events?limit=2"); len(m["events"].([]any)) != 2 || m["events"].([]any)[1].(map[string]any)["seq"] != 10.0 {
		t.Fatalf("latest 2: %v", m)
	}
	if m := h.get("/api/v1/events?after=8"); len(m["events"].([]any)) != 2 {
		t.Fatalf("after 8: %v", m)
	}
	if m := h.get("/api/v1/events?kind=flip&account=B@X"); len(m["events"].([]any)) != 3 {
		t.Fatalf("flips of b: %v", m)
	}
	h.problem("GET", "/api/v1/events?kind=nap", "good", "", 400, "kind")
	h.problem("GET", "/api/v1/events?after=-1", "good", "", 400, "after")

	hist.Record(events.HistoryPoint{Time: h.clock.now().Add(-2 * time.Hour), Logins: map[string]uint64{"success": 1}})
	hist.Record(events.HistoryPoint{Time: h.clock.now().Add(-time.Minute), Logins: map[string]uint64{"success": 5, "failure": 1},
		Sessions: map[string]map[string]int{"old": {"imap": 3}}, BytesIn: 10, BytesOut: 20})
	m = h.get("/api/v1/history")
	pts := m["points"].([]any)
	if m["step_seconds"] != 60.0 || len(pts) != 1 || pts[0].(map[string]any)["logins"].(map[string]any)["success"] != 5.0 {
		t.Fatalf("last hour: %v", m)
	}
	if m := h.get("/api/v1/history?minutes=1440"); len(m["points"].([]any)) != 2 {
		t.Fatalf("last day: %v", m)
	}
	h.problem("GET", "/api/v1/history?minutes=1441", "good", "", 400, "minutes")
}

// TestV1EventStream: a live stream over a real connection gets the
// events added after it started (filtered), as server-sent events that
// match the document, and ends when the server shuts down.
func TestV1EventStream(t *testing.T) {
	evlog := events.NewEventLog(0)
	s, err := New(Options{BearerToken: testToken, ViewerToken: testViewerToken, Events: evlog, MaxStreams: 1}, newFake())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	evlog.Add(events.Event{Kind: events.EventLogin, Account: "old@x"}) // before the stream: not sent
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/events/stream?kind=login,kick", nil)
	req.Header.Set("Authorization", "Bearer "+testViewerToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// A second stream is over MaxStreams.
	req2, _ := http.NewRequest("GET", srv.URL+"/api/v1/events/stream", nil)
	req2.Header.Set("Authorization", "Bearer "+testToken)
	r2, err := http.DefaultClient.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.StatusCode != 503 {
		t.Fatalf("second stream: %d", r2.StatusCode)
	}
	if err := spec.Check("GET", "/api/v1/events/stream", r2.StatusCode, r2.Header, b2); err != nil {
		t.Error(err)
	}
	br := bufio.NewReader(resp.Body)
	if l, _ := br.ReadString('\n'); !strings.HasPrefix(l, ": switchyard events after 1") {
		t.Fatalf("first line %q", l)
	}
	evlog.Add(events.Event{Kind: events.EventFlip, Account: "skip@x"})
	evlog.Add(events.Event{Kind: events.EventLogin, Account: "alice@x", Outcome: "success"})
	evlog.Add(events.Event{Kind: events.EventKick, Account: "alice@x", Session: 9})
	var got []byte
	for n := 0; n < 2; {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended: %v (got %s)", err, got)
		}
		got = append(got, l...)
		if strings.HasPrefix(l, "data: ") {
			n++
		}
	}
	text := string(got)
	if !strings.Contains(text, "id: 3\nevent: login\ndata: {\"seq\":3,") || !strings.Contains(text, "id: 4\nevent: kick\n") || strings.Contains(text, "skip@x") {
		t.Fatalf("events: %q", text)
	}
	if err := spec.Check("GET", "/api/v1/events/stream", 200, resp.Header, got); err != nil {
		t.Error(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() { _ = s.Shutdown(ctx) }()
	if _, err := io.ReadAll(br); err != nil && !strings.Contains(err.Error(), "EOF") {
		t.Logf("stream end: %v", err)
	}
	// Last-Event-ID resumes (on a fresh server sharing the log).
	s2, _ := New(Options{BearerToken: testToken, Events: evlog}, newFake())
	srv2 := httptest.NewServer(s2.Handler())
	defer srv2.Close()
	req3, _ := http.NewRequest("GET", srv2.URL+"/api/v1/events/stream?account=alice@x", nil)
	req3.Header.Set("Authorization", "Bearer "+testToken)
	req3.Header.Set("Last-Event-ID", "3")
	r3, err := http.DefaultClient.Do(req3)
	if err != nil {
		t.Fatal(err)
	}
	defer r3.Body.Close()
	br3 := bufio.NewReader(r3.Body)
	for {
		l, err := br3.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(l, "id: ") {
			if l != "id: 4\n" {
				t.Fatalf("resumed at %q, want id 4", l)
			}
			break
		}
	}
	h := v1(t)
	req4 := httptest.NewRequest("GET", "/api/v1/events/stream", nil)
	req4.Header.Set("Authorization", "Bearer "+testToken)
	req4.Header.Set("Last-Event-ID", "x")
	w := httptest.NewRecorder()
	h.s.Handler().ServeHTTP(w, req4)
	if w.Code != 400 {
		t.Fatalf("bad Last-Event-ID: %d", w.Code)
	}
	if err := spec.Check("GET", "/api/v1/events/stream", w.Code, w.Header(), w.Body.Bytes()); err != nil {
		t.Error(err)
	}
}

// TestV1EventStreamOutlivesTimeouts: a stream stays open past the
// server's read and write timeouts (they are for requests).
func TestV1EventStreamOutlivesTimeouts(t *testing.T) {
	evlog := events.NewEventLog(0)
	s, err := New(Options{BearerToken: testToken, Events: evlog, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 300 * time.Millisecond}, newFake())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}()
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/api/v1/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // past both timeouts
	evlog.Add(events.Event{Kind: events.EventDrain})
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("the stream ended after the server's timeouts: %v", err)
		}
		if strings.HasPrefix(l, "event: drain") {
			return
		}
	}
}

// What [admin.allow] or admin.config_write forbid is 403 with its own
// problem type, naming why, on both APIs.
func TestNotAllowed(t *testing.T) {
	h := v1(t)
	h.b.notAllowed = fmt.Errorf("%w: host %q is not in admin.allow.destination_hosts", backend.ErrNotAllowed, "10.9.9.9")
	m := h.problem("PUT", "/api/v1/mappings/alice@example.com", "good", `{"destination":"new"}`, 403, "")
	if m["type"] != httpio.ProblemNotAllowed || !strings.Contains(fmt.Sprint(m["detail"]), "admin.allow.destination_hosts") {
		t.Fatalf("PUT mapping: %v", m)
	}
	if w := h.do("PUT", "/mappings?identifier=alice@example.com&destination=new", reqOpt{token: "good"}); w.Code != 403 ||
		!strings.Contains(w.Body.String(), "admin.allow.destination_hosts") {
		t.Fatalf("reference PUT /mappings: %d %s", w.Code, w.Body)
	}
	h.b.notAllowed = fmt.Errorf("%w: admin.config_write = false", backend.ErrNotAllowed)
	if m := h.problem("POST", "/api/v1/config/reload", "good", "", 403, ""); m["type"] != httpio.ProblemNotAllowed {
		t.Fatalf("reload: %v", m)
	}
	if w := h.do("POST", "/config/reload", reqOpt{token: "good"}); w.Code != 403 || !strings.Contains(w.Body.String(), "config_write") {
		t.Fatalf("reference reload: %d %s", w.Code, w.Body)
	}
}
