package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/admin/backend"
	"github.com/switchyard-mail/switchyard/bench/mockimap"
	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/internal/app/dnscache"
	"github.com/switchyard-mail/switchyard/internal/sdnotify"
	"github.com/switchyard-mail/switchyard/internal/testnet"
	"github.com/switchyard-mail/switchyard/router/sqlstore"
)

// post sends body to the admin API and returns the status and the answer.
func post(t *testing.T, hc *http.Client, addr, method, path, ctype, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "https://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return doRequest(t, hc, req)
}

// importBody is n "userI@bulk.example new" lines.
func importBody(n int) string {
	var b strings.Builder
	b.Grow(n * 32)
	for i := range n {
		fmt.Fprintf(&b, "user%d@bulk.example new\n", i)
	}
	return b.String()
}

// TestBulkImport100k: 100,000 lines go in through POST /mappings/import
// in one write; the same import with one bad line at the end changes
// nothing, neither the file nor what logins see.
func TestBulkImport100k(t *testing.T) {
	f, _, addr, hc := startAdminFixture(t)
	hc.Timeout = 60 * time.Second
	before, err := os.ReadFile(f.mapping)
	if err != nil {
		t.Fatal(err)
	}
	body := importBody(100_000)
	// A last line naming a destination that does not exist: refused
	// before anything is written.
	code, resp := post(t, hc, addr, "POST", "/mappings/import", "text/plain", body+"last@bulk.example ghost\n")
	if code != 400 || !strings.Contains(resp, "line 100001") {
		t.Fatalf("import with a bad last line: %d %s", code, resp)
	}
	if after, _ := os.ReadFile(f.mapping); string(after) != string(before) {
		t.Fatal("a refused import changed the mapping file")
	}
	if d, ok, _ := f.app.store.Lookup(context.Background(), "user0@bulk.example"); ok {
		t.Fatalf("a refused import is in force: user0 -> %s", d)
	}

	code, resp = post(t, hc, addr, "POST", "/mappings/import", "text/plain", body)
	if code != 200 || !strings.Contains(resp, `"imported":100000`) {
		t.Fatalf("import: %d %s", code, resp)
	}
	for _, id := range []string{"user0@bulk.example", "user99999@bulk.example"} {
		if d, ok, _ := f.app.store.Lookup(context.Background(), id); !ok || d != "new" {
			t.Fatalf("%s -> %q %v after the import", id, d, ok)
		}
	}
	data, _ := os.ReadFile(f.mapping)
	if n := strings.Count(string(data), "@bulk.example new\n"); n != 100_000 {
		t.Fatalf("the file holds %d imported lines", n)
	}
	// The mapping the file had before is still there, and logins follow.
	c := dialGreeted(t, f.plain)
	c.mustLand("alice@example.com", "pw-alice", "new", "alice")
}

// BenchmarkImport100k times the admin backend's import of 100,000 pairs
// into a mapping file of 100,000 lines: check everything, write once.
func BenchmarkImport100k(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "map.txt")
	var base strings.Builder
	for i := range 100_000 {
		fmt.Fprintf(&base, "old%d@example.com old\n", i)
	}
	plainAuth := "allow_plaintext_auth = true\n"
	text := "\n" + listenerSection("imap", "imap", "plain", "") +
		destSection("old", plainAuth, "imap", "1143", "plain") + destSection("new", plainAuth, "imap", "1144", "plain") +
		"[routing]\ndefault_destination = \"old\"\n" + fileMapping(path, "normalize = \"lowercase\"\n")
	pairs := make([]backend.Pair, 100_000)
	for i := range pairs {
		pairs[i] = backend.Pair{Identifier: fmt.Sprintf("user%d@example.com", i), Destination: "new"}
	}
	for b.Loop() {
		b.StopTimer()
		if err := os.WriteFile(path, []byte(base.String()), 0o644); err != nil {
			b.Fatal(err)
		}
		cfg, err := config.Parse([]byte(text), "bench.toml")
		if err != nil {
			b.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			b.Fatal(err)
		}
		a, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if n, err := a.backend().ImportMappings(pairs); err != nil || n != len(pairs) {
			b.Fatalf("import: %d, %v", n, err)
		}
		b.StopTimer()
		_ = a.bridge.Shutdown(context.Background())
		b.StartTimer()
	}
}

// TestAdminPolicy: admin.config_write = false refuses a reload and a log
// level change through the API; [admin.allow] refuses a mapping (PUT,
// import, /api/v1) to a destination outside the allowed hosts, and an
// import with one such line at the end writes nothing.
func TestAdminPolicy(t *testing.T) {
	extra := "config_write = false\n[admin.allow]\ndestination_hosts = [\"127.0.0.1\"]\ndestination_ports = [1]\n"
	f, call, addr, hc := startAdminFixtureWith(t, extra)
	if code, body := call("POST", "/config/reload"); code != 403 || !strings.Contains(body, "admin.config_write = false") {
		t.Fatalf("reload with config_write = false: %d %s", code, body)
	}
	if code, body := call("PUT", "/log/level?level=debug"); code != 403 || !strings.Contains(body, "config_write") {
		t.Fatalf("log level with config_write = false: %d %s", code, body)
	}
	// Both destinations listen on ports other than 1.
	if code, body := call("PUT", "/mappings?identifier=bob@example.com&destination=new"); code != 403 ||
		!strings.Contains(body, "admin.allow.destination_ports") {
		t.Fatalf("PUT to a destination outside [admin.allow]: %d %s", code, body)
	}
	before, _ := os.ReadFile(f.mapping)
	code, body := post(t, hc, addr, "POST", "/mappings/import", "text/plain", "x@example.com new\ny@example.com old\n")
	if code != 403 || !strings.Contains(body, "line 1") {
		t.Fatalf("import outside [admin.allow]: %d %s", code, body)
	}
	if after, _ := os.ReadFile(f.mapping); string(after) != string(before) {
		t.Fatal("a refused import changed the file")
	}
	api := newAPIClient(t, addr, adminToken)
	if code, m := api.do("PUT", "/api/v1/mappings/bob@example.com", `{"destination":"new"}`); code != 403 || m["type"] != "urn:switchyard:problem:not-allowed" {
		t.Fatalf("/api/v1 PUT outside [admin.allow]: %d %v", code, m)
	}
	if code, m := api.do("POST", "/api/v1/config/reload", ""); code != 403 {
		t.Fatalf("/api/v1 reload with config_write = false: %d %v", code, m)
	}
	// SIGHUP is not the API: it still reloads.
	if err := f.app.Reload(); err != nil {
		t.Fatalf("a reload by signal: %v", err)
	}
}

// An allowed destination goes through, and a reload through the API that
// would declare a destination outside [admin.allow] is refused whole.
func TestAdminAllowReload(t *testing.T) {
	f, call, _, _ := startAdminFixtureWith(t, "[admin.allow]\ndestination_hosts = [\"127.0.0.0/8\"]\n")
	if code, body := call("PUT", "/mappings?identifier=bob@example.com&destination=new"); code != 200 {
		t.Fatalf("PUT to an allowed destination: %d %s", code, body)
	}
	outside := plainIMAP(t, f.new.Addr())
	outside.Host = "192.0.2.1"
	next := withDestinations(f.app.cfg, map[string]config.Destination{"outside": outside})
	f.app.SetConfigSource(func() (*config.Config, error) { return next, nil })
	if code, body := call("POST", "/config/reload"); code != 403 || !strings.Contains(body, `destination.outside: host`) || !strings.Contains(body, "192.0.2.1") {
		t.Fatalf("reload of a destination outside [admin.allow]: %d %s", code, body)
	}
	if f.app.current().hasDestination("outside") {
		t.Fatal("the refused reload was applied")
	}
}

// fakeResolver counts lookups and answers from a table.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
	fail    bool
	calls   map[string]int
	called  chan string
}

func (r *fakeResolver) resolve(_ context.Context, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	r.calls[host]++
	a, fail := r.answers[host], r.fail
	r.mu.Unlock()
	select {
	case r.called <- host:
	default:
	}
	if fail {
		return nil, errors.New("resolver down")
	}
	return a, nil
}

func (r *fakeResolver) count(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[host]
}

func newFakeResolver() *fakeResolver {
	return &fakeResolver{answers: map[string][]netip.Addr{}, calls: map[string]int{}, called: make(chan string, 64)}
}

// TestDNSCache: a name is resolved once and then served from the cache;
// it is refreshed in the background at its TTL; a failed refresh keeps the
// last addresses; a TTL of 0 resolves on every call.
func TestDNSCache(t *testing.T) {
	r := newFakeResolver()
	r.answers["a.test"] = []netip.Addr{netip.MustParseAddr("192.0.2.1")}
	r.answers["b.test"] = []netip.Addr{netip.MustParseAddr("192.0.2.2")}
	c := dnscache.New(time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.Resolve = r.resolve
	defer c.Close()
	c.SetHosts(map[string]time.Duration{"a.test": 50 * time.Millisecond, "b.test": 0})
	ctx := context.Background()
	for range 3 {
		got, err := c.LookupHost(ctx, "A.test")
		if err != nil || len(got) != 1 || got[0].String() != "192.0.2.1" {
			t.Fatalf("LookupHost: %v %v", got, err)
		}
	}
	// The background refresh comes at the TTL, without a lookup asking.
	for r.count("a.test") < 2 {
		select {
		case <-r.called:
		case <-time.After(10 * time.Second):
			t.Fatalf("no background refresh: %d lookups", r.count("a.test"))
		}
	}
	// The resolver fails: the last addresses stay in use.
	r.mu.Lock()
	r.fail = true
	n := r.calls["a.test"]
	r.mu.Unlock()
	for r.count("a.test") < n+1 {
		select {
		case <-r.called:
		case <-time.After(10 * time.Second):
			t.Fatal("no refresh after the failure")
		}
	}
	if got, err := c.LookupHost(ctx, "a.test"); err != nil || len(got) != 1 {
		t.Fatalf("stale answer while the resolver fails: %v %v", got, err)
	}
	// TTL 0: every call asks.
	for range 3 {
		if _, err := c.LookupHost(ctx, "b.test"); err == nil {
			t.Fatal("b.test answered from a cache while the resolver fails")
		}
	}
	if r.count("b.test") != 3 {
		t.Fatalf("b.test resolved %d times, want 3", r.count("b.test"))
	}
}

// thirdForBob starts a mock IMAP backend "third" where bob has an account.
func thirdForBob(t *testing.T) *mockimap.Server {
	t.Helper()
	return listenMock(t, func() (*mockimap.Server, error) {
		return mockimap.Listen("127.0.0.1:0", mockimap.Config{Name: "third", Users: map[string]string{"bob@example.com": "pw-bob"}})
	})
}

// moveBobToThird reloads f's App with d as destination "third", maps bob
// there through the admin API and checks that his next logins land on it.
func moveBobToThird(t *testing.T, f *fixture, call adminCall, d config.Destination, logins int) {
	t.Helper()
	reloadTo(t, f.app, withDestinations(f.app.cfg, map[string]config.Destination{"third": d}))
	if code, body := call("PUT", "/mappings?identifier=bob@example.com&destination=third"); code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	for range logins {
		c := dialGreeted(t, f.plain)
		if got := c.landedOn("bob@example.com", "pw-bob"); got != "third" {
			t.Fatalf("bob landed on %q", got)
		}
	}
}

// TestDestinationByName: a destination given by host name is resolved
// through the cache, once, for every login and the active checks.
func TestDestinationByName(t *testing.T) {
	r := newFakeResolver()
	r.answers["imap.backend.test"] = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	f, call, _, _ := startAdminFixtureWith(t, "", func(a *App) { a.dns.Resolve = r.resolve })
	d := plainIMAP(t, thirdForBob(t).Addr())
	d.Host, d.DNSCacheTTL = "imap.backend.test", config.Duration(time.Hour)
	moveBobToThird(t, f, call, d, 3)
	if n := r.count("imap.backend.test"); n != 1 {
		t.Fatalf("resolved %d times for three logins and the checks, want 1", n)
	}
}

// recorder accepts connections, notes the client address of each and
// relays it to target.
func recorder(t *testing.T, target string) (addr string, from func() []string) {
	t.Helper()
	ln := testnet.Listen(t)
	var mu sync.Mutex
	var seen []string
	testnet.Serve(ln, func(c net.Conn) {
		mu.Lock()
		seen = append(seen, c.RemoteAddr().(*net.TCPAddr).IP.String())
		mu.Unlock()
		b, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			return
		}
		go func() { _, _ = io.Copy(b, c); b.Close() }()
		go func() { _, _ = io.Copy(c, b); c.Close() }()
	})
	return ln.Addr().String(), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// TestSourceIPs: connects to a destination with source_ips bind to each of
// them in turn.
func TestSourceIPs(t *testing.T) {
	f, call, _, _ := startAdminFixtureWith(t, "")
	rec, from := recorder(t, thirdForBob(t).Addr())
	d := plainIMAP(t, rec)
	d.SourceIPs = []string{"127.0.0.2", "127.0.0.3"}
	moveBobToThird(t, f, call, d, 4)
	got := map[string]int{}
	for _, ip := range from() {
		got[ip]++
	}
	// (The active checks connect from the default address.)
	if got["127.0.0.2"] == 0 || got["127.0.0.3"] == 0 {
		t.Fatalf("connects came from %v, want 127.0.0.2 and 127.0.0.3 in turn", from())
	}
}

// TestHostDownMinClients: with server.host_down_min_clients = 2, one
// client's failures do not open the breaker; a second client's do.
func TestHostDownMinClients(t *testing.T) {
	f := startFixtureFull(t, "", 0, "")
	cfg := *f.app.cfg
	cfg.Server.HostDownMinClients = 2
	a, err := New(&cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.bridge.Shutdown(context.Background())
	for range 10 {
		a.health.FailureFrom("old", "imap", "192.0.2.9:4000")
	}
	if !a.health.Up("old", "imap") {
		t.Fatal("one client opened the breaker")
	}
	a.health.FailureFrom("old", "imap", "198.51.100.1:4000")
	if a.health.Up("old", "imap") {
		t.Fatal("two clients' failures past the threshold did not open it")
	}
}

// TestStatsAndBuildInfo: /stats counts every connection in
// active_connections (a bridged session and one waiting to log in), the
// reactor's alone in reactor_connections; /metrics carries
// switchyard_build_info.
func TestStatsAndBuildInfo(t *testing.T) {
	f, call, _, _ := startAdminFixture(t)
	b := dialGreeted(t, f.plain)
	b.mustLand("alice@example.com", "pw-alice", "new", "alice")
	dialGreeted(t, f.plain) // the one waiting to log in
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; {
		var code int
		code, body = call("GET", "/stats")
		if code == 200 && strings.Contains(body, `"active_connections":2,`) && strings.Contains(body, `"reactor_connections":1,`) &&
			strings.Contains(body, `"active_sessions":1,`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	found := false
	for k, v := range scrapeMetrics(t, call) {
		if strings.HasPrefix(k, "switchyard_build_info{") && strings.Contains(k, `goversion="go`) && v == 1 {
			found = true
		}
	}
	if !found {
		t.Fatal("no switchyard_build_info in /metrics")
	}
}

// TestUndrain: DELETE /drain takes connections again without a restart.
func TestUndrain(t *testing.T) {
	f, call, _, _ := startAdminFixture(t)
	if _, ok := any(f.app.eng).(undrainer); !ok {
		t.Skip("the engine has no Undrain yet: DELETE /drain answers 503 (see internal/app/ops.go)")
	}
	if code, body := call("POST", "/drain"); code != 200 {
		t.Fatalf("drain: %d %s", code, body)
	}
	c := dial(t, f.plain)
	if l := c.line(); !strings.Contains(l, "BYE") {
		t.Fatalf("while draining: %q", l)
	}
	if code, body := call("DELETE", "/drain"); code != 200 || !strings.Contains(body, `"draining":false`) {
		t.Fatalf("undrain: %d %s", code, body)
	}
	if code, _ := call("GET", "/readyz"); code != 200 {
		t.Fatalf("readyz after the drain ended: %d", code)
	}
	c = dial(t, f.plain)
	c.line()
	c.mustLand("alice@example.com", "pw-alice", "new", "after the drain ended alice")
}

// TestNotifySystemd: READY=1 once it serves, RELOADING=1 then READY=1
// around a reload, STOPPING=1 at the end, on a socket the test listens
// on as systemd would.
func TestNotifySystemd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	n, err := sdnotify.New(path)
	if err != nil {
		t.Fatal(err)
	}
	next := func() string {
		t.Helper()
		buf := make([]byte, 4096)
		_ = sock.SetReadDeadline(time.Now().Add(10 * time.Second))
		k, err := sock.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:k])
	}
	f := startFixtureFull(t, "", 0, "", func(a *App) { a.SetNotifier(n) })
	if m := next(); !strings.HasPrefix(m, "READY=1\nSTATUS=0 session(s)") {
		t.Fatalf("first message: %q", m)
	}
	f.app.SetConfigSource(func() (*config.Config, error) { return f.app.cfg, nil })
	if err := f.app.Reload(); err != nil {
		t.Fatal(err)
	}
	if m := next(); !strings.HasPrefix(m, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("at the reload: %q", m)
	}
	if m := next(); !strings.HasPrefix(m, "READY=1\n") {
		t.Fatalf("after the reload: %q", m)
	}
	f.app.cancel()
	if m := next(); !strings.HasPrefix(m, "STOPPING=1\nSTATUS=stopping") {
		t.Fatalf("at the stop: %q", m)
	}
}

// TestListQuery: with a lookup query of its own, the SQL store lists and
// counts through mapping.sql.list_query and count_query (501 without
// them), and a search goes into the query's LIKE pattern.
func TestListQuery(t *testing.T) {
	db := filepath.Join(t.TempDir(), "m.db")
	ss, err := sqlstore.New(sqlstore.Options{URL: "sqlite://" + db})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ss.DB().Exec(`CREATE TABLE account_nodes (identifier TEXT PRIMARY KEY, node TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.DB().Exec(`INSERT INTO account_nodes VALUES ('alice@example.com', 'new'), ('bob@example.com', 'old'), ('carol@example.com', 'new')`); err != nil {
		t.Fatal(err)
	}
	ss.Close()
	block := fmt.Sprintf(`[mapping]
source = "sqlite"
[mapping.sql]
url = "sqlite://%s"
query = "SELECT node FROM account_nodes WHERE identifier = ?"
list_query = "SELECT identifier, node FROM account_nodes WHERE identifier > ? AND identifier LIKE ? ESCAPE '!' ORDER BY identifier LIMIT ?"
count_query = "SELECT node, COUNT(*) FROM account_nodes GROUP BY node"
`, db)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := startFixtureFull(t, fmt.Sprintf("[admin]\nbind = %q\nbearer_token = %q\n", ln.Addr().String(), adminToken), 0, block, func(a *App) { a.adminLn = ln })
	waitAdmin(t, f.app)
	api := newAPIClient(t, ln.Addr().String(), adminToken)
	m := api.ok("GET", "/api/v1/mappings?limit=2", "")
	if fmt.Sprint(m["mappings"]) != "[map[destination:new identifier:alice@example.com] map[destination:old identifier:bob@example.com]]" {
		t.Fatalf("first page: %v", m)
	}
	m = api.ok("GET", "/api/v1/mappings?search=CAROL", "")
	if fmt.Sprint(m["mappings"]) != "[map[destination:new identifier:carol@example.com]]" {
		t.Fatalf("search: %v", m)
	}
	m = api.ok("GET", "/api/v1/mappings/counts", "")
	if fmt.Sprint(m) == "" || !strings.Contains(fmt.Sprint(m), "new:2") || !strings.Contains(fmt.Sprint(m), "old:1") {
		t.Fatalf("counts: %v", m)
	}
}
