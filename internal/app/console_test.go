package app

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/admin/openapi"
	"github.com/switchyard-mail/switchyard/bench/mockimap"
	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/internal/contract"
)

// The admin API's /api/v1 against a whole proxy: every listener on
// 127.0.0.1:0, mock IMAP backends "old" (the default) and "new", and every
// /api/v1 response checked against admin/openapi/openapi.json.

var apiSpec = func() *contract.Spec {
	s, err := contract.Load(openapi.Document())
	if err != nil {
		panic(err)
	}
	return s
}()

// contractTransport checks every /api/v1 response against the document.
type contractTransport struct {
	t    testing.TB
	base http.RoundTripper
}

func (c contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err != nil || !strings.HasPrefix(req.URL.Path, "/api/v1") || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if cerr := apiSpec.Check(req.Method, req.URL.EscapedPath(), resp.StatusCode, resp.Header, body); cerr != nil {
		c.t.Errorf("contract: %v", cerr)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// apiClient calls one App's admin API.
type apiClient struct {
	t     testing.TB
	base  string
	token string
	hc    *http.Client
}

func newAPIClient(t testing.TB, addr, token string) *apiClient {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	t.Cleanup(tr.CloseIdleConnections)
	return &apiClient{t: t, base: "https://" + addr, token: token,
		hc: &http.Client{Transport: contractTransport{t: t, base: tr}, Timeout: 60 * time.Second}}
}

// do sends a request (a JSON body when body is not "") and decodes the
// answer when it is JSON.
func (c *apiClient) do(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if strings.Contains(resp.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, &m); err != nil {
			c.t.Fatalf("%s %s: %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, m
}

func (c *apiClient) ok(method, path, body string) map[string]any {
	c.t.Helper()
	code, m := c.do(method, path, body)
	if code != 200 {
		c.t.Fatalf("%s %s: %d %v", method, path, code, m)
	}
	return m
}

// text sends a raw body with a Content-Type and returns status and body.
func (c *apiClient) text(method, path, ctype, body string) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return doRequest(c.t, c.hc, req)
}

var viewerToken = strings.Repeat("v", 40)

type consoleFixture struct {
	app      *App
	old, new *mockimap.Server
	imap     string // the plaintext IMAP listener
	mapping  string
	api      *apiClient // admin token
	viewer   *apiClient
}

type consoleOpt struct {
	mapping string          // a [mapping] section instead of the file
	extra   string          // further sections
	oldGate func(string)    // mockimap.Config.LoginGate of "old"
	shared  *consoleFixture // share its backends (a second instance)
	prepare func(a *App)    // between New and Run
}

func startConsole(t *testing.T, o consoleOpt) *consoleFixture {
	t.Helper()
	f := &consoleFixture{}
	if o.shared != nil {
		f.old, f.new = o.shared.old, o.shared.new
	} else {
		users := map[string]string{"alice@example.com": "pw-alice", "bob@example.com": "pw-bob", "carol@example.com": "pw-carol", "dave@example.com": "pw-dave"}
		f.old = listenMock(t, func() (*mockimap.Server, error) {
			return mockimap.Listen("127.0.0.1:0", mockimap.Config{Name: "old", Users: users, LoginGate: o.oldGate})
		})
		f.new = listenMock(t, func() (*mockimap.Server, error) {
			return mockimap.Listen("127.0.0.1:0", mockimap.Config{Name: "new", Users: users, AcceptProxyHeader: true})
		})
	}
	files := writeProxyFiles(t, "Alice@Example.com new\n")
	f.mapping = files.mapping
	mapping := o.mapping
	if mapping == "" {
		mapping = fileMapping(f.mapping, "normalize = \"lowercase\"\n")
	}
	text := proxySpec{
		protocol:  "imap",
		files:     files,
		listeners: []listenerSpec{{name: "plain", tls: "plain"}},
		old:       xclientTo(f.old),
		new:       proxyTo(f.new),
		mapping:   mapping + "\n",
		caps: "allow_plain_auth_without_tls = true\n" +
			fmt.Sprintf("[admin]\nbind = \"127.0.0.1:0\"\nbearer_token = %q\nviewer_token = %q\n", adminToken, viewerToken) + o.extra,
	}.toml()
	var prep []func(*App)
	if o.prepare != nil {
		prep = append(prep, o.prepare)
	}
	f.app = startApp(t, text, prep...)
	f.imap = f.app.Addrs("plain")[0]
	addr := waitAdmin(t, f.app)
	f.api = newAPIClient(t, addr, adminToken)
	f.viewer = newAPIClient(t, addr, viewerToken)
	return f
}

// login opens an IMAP session for user and returns it, logged in, and
// the backend it landed on.
func (f *consoleFixture) login(t *testing.T, user, pw string) (*client, string) {
	c := dialGreeted(t, f.imap)
	return c, c.landedOn(user, pw)
}

// expectClosed reads until the connection ends (a kick), within d.
func expectClosed(t *testing.T, c *client, d time.Duration, what string) {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	for {
		if _, err := c.r.ReadString('\n'); err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Fatalf("%s: still open after %v", what, d)
			}
			return
		}
	}
}

// TestConsoleAPI: /api/v1 over a running proxy: what an operator sees and
// does, each step checked through what a client sees.
func TestConsoleAPI(t *testing.T) {
	f := startConsole(t, consoleOpt{})
	api := f.api

	// A login of each kind shows in the activity log and the sessions.
	alice, where := f.login(t, "alice@example.com", "pw-alice")
	if where != "new" {
		t.Fatalf("alice on %q", where)
	}
	bad := dialGreeted(t, f.imap)
	if l := bad.login("bob@example.com", "wrong"); !strings.HasPrefix(l, "a NO") {
		t.Fatalf("wrong password: %s", l)
	}
	evs := api.ok("GET", "/api/v1/events?kind=login", "")["events"].([]any)
	var outcomes []string
	for _, e := range evs {
		m := e.(map[string]any)
		outcomes = append(outcomes, fmt.Sprint(m["account"], " ", m["outcome"]))
	}
	if !slices.Contains(outcomes, "alice@example.com success") || !slices.Contains(outcomes, "bob@example.com failure") {
		t.Fatalf("login events: %q", outcomes)
	}
	ss := api.ok("GET", "/api/v1/sessions?account=Alice@Example.com", "")
	if ss["count"] != 1.0 {
		t.Fatalf("alice's sessions: %v", ss)
	}
	s := ss["sessions"].([]any)[0].(map[string]any)
	if s["state"] != "bridged" || s["destination"] != "new" || s["protocol"] != "imap" || s["listener"] != "plain" {
		t.Fatalf("alice's session: %v", s)
	}
	for q, want := range map[string]float64{"client=127.0.0.1": 2, "client=10.0.0.0/8": 0, "destination=new": 1, "state=preauth": 1, "protocol=pop3": 0} {
		if got := api.ok("GET", "/api/v1/sessions?"+q, "")["count"]; got != want {
			t.Errorf("sessions?%s: %v, want %v", q, got, want)
		}
	}
	st := api.ok("GET", "/api/v1/stats", "")
	if st["sessions_by_destination"].(map[string]any)["new"] != 1.0 || st["sessions_by_protocol"].(map[string]any)["imap"] != 2.0 {
		t.Fatalf("stats: %v", st)
	}

	// Route explanation: the file decides alice, the default bob.
	rte := api.ok("GET", "/api/v1/accounts/ALICE@example.com/route", "")
	if d := rte["decision"].(map[string]any); d["source"] != "store" || d["destination"] != "new" {
		t.Fatalf("alice's route: %v", rte)
	}
	if st := rte["steps"].([]any)[0].(map[string]any); st["kind"] != "file" || st["outcome"] != "found" {
		t.Fatalf("store step: %v", st)
	}
	if c := rte["cache"].(map[string]any); c["used"] != false {
		t.Fatalf("the mapping file does not use the cache: %v", c)
	}
	acct := api.ok("GET", "/api/v1/accounts/bob@example.com", "")
	d := acct["route"].(map[string]any)["decision"].(map[string]any)
	if d["source"] != "default" || d["destination"] != "old" || acct["count"] != 1.0 {
		t.Fatalf("bob: %v", acct)
	}

	// Kick alice's session by id.
	id := fmt.Sprint(s["id"])
	if m := api.ok("DELETE", "/api/v1/sessions/"+id, ""); m["kicked"] != 1.0 {
		t.Fatalf("kick: %v", m)
	}
	expectClosed(t, alice, 5*time.Second, "alice after the kick")
	if code, _ := api.do("GET", "/api/v1/sessions/"+id, ""); code != 404 {
		t.Fatalf("kicked session still listed: %d", code)
	}
	if evs := api.ok("GET", "/api/v1/events?kind=kick&account=alice@example.com", "")["events"].([]any); len(evs) != 1 {
		t.Fatalf("kick events: %v", evs)
	}

	// Mappings: the file store lists, counts, writes and imports.
	if m := api.ok("PUT", "/api/v1/mappings/Bob@Example.com", `{"destination":"new"}`); m["previous"] != nil || m["normalized"] != "bob@example.com" {
		t.Fatalf("put: %v", m)
	}
	if _, where := f.login(t, "bob@example.com", "pw-bob"); where != "new" {
		t.Fatalf("bob after the flip: %q", where)
	}
	flips := api.ok("GET", "/api/v1/events?kind=flip&account=bob@example.com", "")["events"].([]any)
	if len(flips) != 1 || flips[0].(map[string]any)["destination"] != "new" {
		t.Fatalf("flip events: %v", flips)
	}
	page := api.ok("GET", "/api/v1/mappings?limit=1", "")
	if page["count"] != 1.0 || page["next_cursor"] != "alice@example.com" {
		t.Fatalf("page 1: %v", page)
	}
	if page = api.ok("GET", "/api/v1/mappings?cursor=alice@example.com", ""); page["count"] != 1.0 || page["next_cursor"] != nil {
		t.Fatalf("page 2: %v", page)
	}
	if c := api.ok("GET", "/api/v1/mappings/counts", ""); c["total"] != 2.0 || c["destinations"].(map[string]any)["new"] != 2.0 {
		t.Fatalf("counts: %v", c)
	}
	code, body := api.text("POST", "/api/v1/mappings/import?dry_run=true", "text/csv", "carol@example.com,new\nbob@example.com,new\nalice@example.com,old\n")
	if code != 200 || !strings.Contains(body, `"added":1,"changed":1,"unchanged":1,"applied":0`) {
		t.Fatalf("dry run: %d %s", code, body)
	}
	if data, _ := os.ReadFile(f.mapping); strings.Contains(string(data), "carol") {
		t.Fatal("the dry run wrote the file")
	}
	if code, body = api.text("POST", "/api/v1/mappings/import", "text/csv", "carol@example.com,new\nbob@example.com,new\nalice@example.com,old\n"); code != 200 || !strings.Contains(body, `"applied":2`) {
		t.Fatalf("import: %d %s", code, body)
	}
	if data, _ := os.ReadFile(f.mapping); !strings.Contains(string(data), "carol@example.com new") || !strings.Contains(strings.ToLower(string(data)), "alice@example.com old") {
		t.Fatalf("file after the import: %q", data)
	}
	if code, body = api.text("GET", "/api/v1/mappings/export", "", ""); code != 200 || !strings.Contains(body, "carol@example.com new\n") {
		t.Fatalf("export: %d %q", code, body)
	}
	if m := api.ok("DELETE", "/api/v1/mappings/carol@example.com", ""); m["previous"] != "new" {
		t.Fatalf("delete: %v", m)
	}
	if code, _ := api.do("GET", "/api/v1/mappings/carol@example.com", ""); code != 404 {
		t.Fatalf("deleted mapping: %d", code)
	}

	// Maintenance: no new logins routed to "new"; off again, they are.
	if m := api.ok("PUT", "/api/v1/destinations/new/maintenance", `{"enabled":true}`); m["maintenance"] != true {
		t.Fatalf("maintenance: %v", m)
	}
	c := dialGreeted(t, f.imap)
	if l := c.login("bob@example.com", "pw-bob"); !strings.Contains(l, "UNAVAILABLE") {
		t.Fatalf("login to a destination in maintenance: %s", l)
	}
	if r := api.ok("GET", "/api/v1/accounts/bob@example.com/route", "")["decision"].(map[string]any); r["maintenance"] != true {
		t.Fatalf("the route does not say maintenance: %v", r)
	}
	api.ok("PUT", "/api/v1/destinations/new/maintenance", `{"enabled":false}`)
	if _, where := f.login(t, "bob@example.com", "pw-bob"); where != "new" {
		t.Fatalf("bob after maintenance: %q", where)
	}
	dests := api.ok("GET", "/api/v1/destinations", "")["destinations"].([]any)
	nd := dests[0].(map[string]any)
	if nd["id"] != "new" || nd["sessions"] != 2.0 || nd["maintenance"] != false {
		t.Fatalf("destination new: %v", nd)
	}
	if br := nd["protocols"].([]any)[0].(map[string]any)["breaker"].(map[string]any); br["state"] != "closed" {
		t.Fatalf("breaker: %v", br)
	}
	if m := api.ok("POST", "/api/v1/destinations/new/drain", ""); m["kicked"] != 2.0 {
		t.Fatalf("drain new: %v", m)
	}
	api.ok("PUT", "/api/v1/destinations/new/maintenance", `{"enabled":false}`)

	// Holds.
	if m := api.ok("PUT", "/api/v1/holds/bob@example.com", `{"seconds":60}`); m["account"] != "bob@example.com" {
		t.Fatalf("hold: %v", m)
	}
	held := dialGreeted(t, f.imap)
	held.send("a LOGIN bob@example.com pw-bob\r\n")
	waitFor(t, "bob's login held", func() bool {
		hs := api.ok("GET", "/api/v1/holds", "")["holds"].([]any)
		return len(hs) == 1 && hs[0].(map[string]any)["held_logins"] == 1.0
	})
	if m := api.ok("DELETE", "/api/v1/holds/bob@example.com", ""); m["lifted"] != true {
		t.Fatalf("lift: %v", m)
	}
	if _, l := held.until("a"); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("held login after the lift: %s", l)
	}

	// Cache, configuration, whoami, history.
	if ci := api.ok("GET", "/api/v1/cache", ""); ci["used"] != false {
		t.Fatalf("cache: %v", ci)
	}
	api.ok("DELETE", "/api/v1/cache/bob@example.com", "")
	cfg := api.ok("GET", "/api/v1/config", "")["config"].(map[string]any)
	ad := cfg["admin"].(map[string]any)
	if ad["bearer_token"] != "xxxxx" || ad["viewer_token"] != "xxxxx" || cfg["listener"].(map[string]any)["plain"] == nil {
		t.Fatalf("config: %v", cfg)
	}
	if raw, _ := json.Marshal(cfg); strings.Contains(string(raw), adminToken) || strings.Contains(string(raw), viewerToken) {
		t.Fatal("a token in the effective configuration")
	}
	if w := f.viewer.ok("GET", "/api/v1/whoami", ""); w["role"] != "viewer" {
		t.Fatalf("whoami: %v", w)
	}
	if code, _ := f.viewer.do("PUT", "/api/v1/mappings/x@example.com", `{"destination":"new"}`); code != 403 {
		t.Fatalf("viewer PUT: %d", code)
	}
	if code, _ := f.viewer.do("POST", "/api/v1/accounts/bob@example.com/cutover", `{"destination":"old"}`); code != 403 {
		t.Fatalf("viewer cut-over: %d", code)
	}
	// The app records a point at each minute's turn by itself too: when
	// the test crosses one, the logins are split over two points.
	f.app.console.RecordMinute(time.Now().Add(-30 * time.Second).Truncate(time.Minute))
	pts := api.ok("GET", "/api/v1/history", "")["points"].([]any)
	if len(pts) == 0 || len(pts) > 2 {
		t.Fatalf("history: %v", pts)
	}
	var success, failure float64
	for _, p := range pts {
		lg := p.(map[string]any)["logins"].(map[string]any)
		s, _ := lg["success"].(float64)
		f, _ := lg["failure"].(float64)
		success, failure = success+s, failure+f
	}
	if success < 3 || failure != 1 {
		t.Fatalf("history logins: %v", pts)
	}
	p := pts[len(pts)-1].(map[string]any)
	if sn, _ := p["sessions"].(map[string]any)["new"].(map[string]any); sn == nil || sn["imap"].(float64) < 1 {
		t.Fatalf("history sessions: %v", p)
	}
}

// waitFor polls cond (every 20 ms, at most 10 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConsoleReload: the reload report says what applied and what needs a
// restart; a failed reload is a 422 problem and the events say both.
func TestConsoleReload(t *testing.T) {
	f := startConsole(t, consoleOpt{})
	next := withDestinations(f.app.cfg, map[string]config.Destination{"third": plainIMAP(t, thirdForBob(t).Addr())})
	srv := next.Server
	srv.ShutdownGrace = config.Duration(time.Minute)
	next.Server = srv
	f.app.SetConfigSource(func() (*config.Config, error) { return next, nil })
	rep := f.api.ok("POST", "/api/v1/config/reload", "")
	applied, restart := fmt.Sprint(rep["applied"]), fmt.Sprint(rep["restart_required"])
	if !strings.Contains(applied, "destinations added: third") || !strings.Contains(applied, "mapping file reread") ||
		!strings.Contains(restart, "[server] changed") {
		t.Fatalf("reload report: %v", rep)
	}
	f.app.SetConfigSource(func() (*config.Config, error) { return nil, fmt.Errorf("switchyard.toml:3: bad") })
	code, m := f.api.do("POST", "/api/v1/config/reload", "")
	if code != 422 || !strings.Contains(fmt.Sprint(m["detail"]), "bad") {
		t.Fatalf("failed reload: %d %v", code, m)
	}
	evs := f.api.ok("GET", "/api/v1/events?kind=reload", "")["events"].([]any)
	if len(evs) != 2 || evs[0].(map[string]any)["outcome"] != "ok" || evs[1].(map[string]any)["outcome"] != "failed" {
		t.Fatalf("reload events: %v", evs)
	}
}

// TestCutover: the sequence on one instance. A login in flight when the
// cut-over starts finishes on the old destination and is then kicked; a
// login that arrives during the hold waits and lands on the new one; the
// mapping is written only after the login in flight is done; the report
// counts it all.
func TestCutover(t *testing.T) {
	gate := make(chan struct{})
	var gateOnce sync.Once
	entered := make(chan string, 8)
	f := startConsole(t, consoleOpt{oldGate: func(user string) {
		if user == "carol@example.com" {
			entered <- user
			<-gate
		}
	}})
	t.Cleanup(func() { gateOnce.Do(func() { close(gate) }) })

	// carol (unmapped: the default, old) starts logging in; old holds
	// her login's verdict.
	first := dialGreeted(t, f.imap)
	first.send("a LOGIN carol@example.com pw-carol\r\n")
	<-entered

	type result struct {
		code int
		rep  map[string]any
	}
	done := make(chan result, 1)
	go func() {
		code, rep := f.api.do("POST", "/api/v1/accounts/carol@example.com/cutover", `{"destination":"new","max_hold":"30s"}`)
		done <- result{code, rep}
	}()
	waitFor(t, "carol held", func() bool {
		_, m := f.api.do("GET", "/api/v1/holds/carol@example.com", "")
		return m != nil && m["account"] == "carol@example.com"
	})
	// A second login now waits.
	second := dialGreeted(t, f.imap)
	second.send("a LOGIN carol@example.com pw-carol\r\n")
	waitFor(t, "the second login held", func() bool {
		return f.api.ok("GET", "/api/v1/sessions?account=carol@example.com&state=held", "")["count"] == 1.0
	})
	// Nothing is written while the first login is in flight.
	if code, _ := f.api.do("GET", "/api/v1/mappings/carol@example.com", ""); code != 404 {
		t.Fatalf("mapping written before the login in flight finished: %d", code)
	}
	select {
	case r := <-done:
		t.Fatalf("the cut-over ended with a login in flight: %v", r)
	default:
	}
	gateOnce.Do(func() { close(gate) })

	r := <-done
	if r.code != 200 {
		t.Fatalf("cut-over: %d %v", r.code, r.rep)
	}
	rep := r.rep
	if rep["account"] != "carol@example.com" || rep["in_flight"] != 1.0 || rep["waited"] != 1.0 || rep["kicked"] != 1.0 ||
		rep["held"] != 1.0 || rep["released"] != 1.0 || fmt.Sprint(rep["aliases"]) != "[carol@example.com carol]" ||
		fmt.Sprint(rep["mapped"]) != "[carol@example.com]" || rep["hold_ms"] != 30000.0 {
		t.Fatalf("report: %v", rep)
	}
	if prev := rep["previous"].(map[string]any); prev["destination"] != "old" || prev["source"] != "default" {
		t.Fatalf("previous: %v", prev)
	}
	ins := rep["instances"].([]any)
	if len(ins) != 1 || ins[0].(map[string]any)["self"] != true || len(rep["missing"].([]any)) != 0 {
		t.Fatalf("instances: %v", rep)
	}
	// The first login finished on old, then was kicked.
	if _, l := first.until("a"); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("first login: %s", l)
	}
	expectClosed(t, first, 5*time.Second, "the session on old")
	// The held one went to new.
	if _, l := second.until("a"); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("held login: %s", l)
	}
	if got := second.whichBackend(); got != "new" {
		t.Fatalf("the held login landed on %q", got)
	}
	if data, _ := os.ReadFile(f.mapping); !strings.Contains(string(data), "carol@example.com new") {
		t.Fatalf("mapping file: %q", data)
	}
	if hs := f.api.ok("GET", "/api/v1/holds", "")["holds"].([]any); len(hs) != 0 {
		t.Fatalf("holds left: %v", hs)
	}
	evs := f.api.ok("GET", "/api/v1/events?kind=cutover&account=carol@example.com", "")["events"].([]any)
	if len(evs) != 2 || evs[1].(map[string]any)["outcome"] != "done" || evs[1].(map[string]any)["from"] != "old" {
		t.Fatalf("cut-over events: %v", evs)
	}

	// A rollback is the same call back; with nothing in flight it is quick.
	rb := f.api.ok("POST", "/api/v1/accounts/carol@example.com/cutover", `{"destination":"old","aliases":[]}`)
	if rb["kicked"] != 1.0 || fmt.Sprint(rb["aliases"]) != "[carol@example.com]" || rb["in_flight"] != 0.0 {
		t.Fatalf("rollback: %v", rb)
	}
	expectClosed(t, second, 5*time.Second, "the session on new after the rollback")
	if _, where := f.login(t, "carol@example.com", "pw-carol"); where != "old" {
		t.Fatalf("after the rollback carol lands on %q", where)
	}
	if code, m := f.api.do("POST", "/api/v1/accounts/carol@example.com/cutover", `{"destination":"mars"}`); code != 400 || m["parameter"] != "destination" {
		t.Fatalf("unknown destination: %d %v", code, m)
	}
}

// TestMetricsListener: [metrics] serves /metrics with its own token, and
// nothing else; the admin token means nothing there.
func TestMetricsListener(t *testing.T) {
	tok := strings.Repeat("m", 24)
	f := startConsole(t, consoleOpt{extra: fmt.Sprintf("[metrics]\nbind = \"127.0.0.1:0\"\ntoken = %q\n", tok)})
	f.login(t, "alice@example.com", "pw-alice")
	addr := f.app.MetricsAddr()
	if addr == "" {
		t.Fatal("no metrics address")
	}
	get := func(path, auth string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		return doRequest(t, http.DefaultClient, req)
	}
	if code, body := get("/metrics", tok); code != 200 || !strings.Contains(body, `switchyard_auth_total{outcome="success",protocol="imap"} 1`) ||
		!strings.Contains(body, "switchyard_stats_logins_total 1") {
		t.Fatalf("/metrics: %d %.400s", code, body)
	}
	for _, auth := range []string{"", adminToken} {
		if code, _ := get("/metrics", auth); code != 401 {
			t.Errorf("/metrics with %q: %d", auth, code)
		}
	}
	for _, p := range []string{"/api/v1/stats", "/stats", "/healthz"} {
		if code, _ := get(p, tok); code != 404 {
			t.Errorf("%s on the metrics listener: %d", p, code)
		}
	}
}

// TestMetricsListenerWithoutAdmin: no [admin], no token: a scraper needs
// nothing.
func TestMetricsListenerWithoutAdmin(t *testing.T) {
	users := map[string]string{"bob@example.com": "pw-bob"}
	old := listenMock(t, func() (*mockimap.Server, error) {
		return mockimap.Listen("127.0.0.1:0", mockimap.Config{Name: "old", Users: users})
	})
	files := writeProxyFiles(t, "")
	a := startApp(t, proxySpec{protocol: "imap", files: files,
		listeners: []listenerSpec{{name: "plain", tls: "plain"}},
		old:       xclientTo(old),
		new:       xclientTo(old),
		mapping:   fileMapping(files.mapping, "") + "\n",
		caps:      "allow_plain_auth_without_tls = true\n[metrics]\nbind = \"127.0.0.1:0\"\n"}.toml())
	var addr string
	waitFor(t, "metrics listener", func() bool { addr = a.MetricsAddr(); return addr != "" })
	c := dialGreeted(t, a.Addrs("plain")[0])
	c.mustLand("bob@example.com", "pw-bob", "old", "bob")
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "switchyard_stats_logins_total 1") {
		t.Fatalf("/metrics: %d %.300s", resp.StatusCode, b)
	}
}

// TestMaintenanceTakesANodeOutOfTheRing: a cluster node in maintenance
// leaves the ring like a down node: its accounts go to their next node
// until it is switched back.
func TestMaintenanceTakesANodeOutOfTheRing(t *testing.T) {
	f := startConsole(t, consoleOpt{mapping: "[cluster]\nnodes = [\"old\", \"new\"]\n"})
	// An account the ring gives to new.
	var acct string
	for _, u := range []string{"bob@example.com", "carol@example.com", "dave@example.com"} {
		d := f.api.ok("GET", "/api/v1/accounts/"+u+"/route", "")["decision"].(map[string]any)
		if d["source"] == "ring" && d["destination"] == "new" {
			acct = u
			break
		}
	}
	if acct == "" {
		t.Fatal("the ring gives none of the test accounts to new")
	}
	pw := "pw-" + strings.TrimSuffix(acct, "@example.com")
	f.api.ok("PUT", "/api/v1/destinations/new/maintenance", `{"enabled":true}`)
	if d := f.api.ok("GET", "/api/v1/destinations/new", ""); d["cluster_node"] != true || d["ring_down"] != true {
		t.Fatalf("new in maintenance: %v", d)
	}
	if d := f.api.ok("GET", "/api/v1/accounts/"+acct+"/route", "")["decision"].(map[string]any); d["destination"] != "old" {
		t.Fatalf("route while new is in maintenance: %v", d)
	}
	if _, where := f.login(t, acct, pw); where != "old" {
		t.Fatalf("%s while new is in maintenance: %q", acct, where)
	}
	// A closed breaker (a reset) does not bring it back while in maintenance.
	f.api.ok("POST", "/api/v1/destinations/new/reset", "")
	if d := f.api.ok("GET", "/api/v1/destinations/new", ""); d["ring_down"] != true {
		t.Fatalf("reset brought a node in maintenance back: %v", d)
	}
	f.api.ok("PUT", "/api/v1/destinations/new/maintenance", `{"enabled":false}`)
	if _, where := f.login(t, acct, pw); where != "new" {
		t.Fatalf("%s after maintenance: %q", acct, where)
	}
	evs := f.api.ok("GET", "/api/v1/events?kind=maintenance,reset", "")["events"].([]any)
	if len(evs) != 3 {
		t.Fatalf("events: %v", evs)
	}
}
