package app

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/switchyard-mail/switchyard/bench/mockimap"
	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/router/ring"
	"github.com/switchyard-mail/switchyard/router/sqlstore"
)

// These tests run the whole proxy in-process against the mock IMAP backends:
// fast, and they exercise the same engine, router and bridge as production.
// The e2e package repeats the important ones against real Dovecot.

type fixture struct {
	t        *testing.T
	old, new *mockimap.Server
	mapping  string
	plain    string // plaintext listener (login allowed without TLS)
	starttls string
	implicit string
	proxied  string // requires a PROXY header from 127.0.0.0/8
	app      *App
}

func limitLine(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("max_connections = %d", n)
}

func startFixture(t *testing.T, extra string) *fixture {
	t.Helper()
	return startFixtureWith(t, extra, 0)
}

// startFixtureLimit starts a proxy whose plain listener takes at most max
// connections and returns that listener's address.
func startFixtureLimit(t *testing.T, max int) string {
	return startFixtureWith(t, "", max).plain
}

func startFixtureWith(t *testing.T, extra string, maxConns int) *fixture {
	t.Helper()
	return startFixtureFull(t, extra, maxConns, "")
}

// startFixtureWithMapping replaces the file mapping with another [mapping]
// section (and anything after it, such as [cluster]).
func startFixtureWithMapping(t *testing.T, mapping string) *fixture {
	t.Helper()
	return startFixtureFull(t, "", 0, mapping)
}

func startFixtureFull(t *testing.T, extra string, maxConns int, mappingBlock string, prepare ...func(*App)) *fixture {
	t.Helper()
	users := map[string]string{"alice@example.com": "pw-alice", "bob@example.com": "pw-bob"}
	f := &fixture{t: t}
	f.old = listenMock(t, func() (*mockimap.Server, error) {
		return mockimap.Listen("127.0.0.1:0", mockimap.Config{Name: "old", Users: users})
	})
	f.new = listenMock(t, func() (*mockimap.Server, error) {
		return mockimap.Listen("127.0.0.1:0", mockimap.Config{Name: "new", Users: users, AcceptProxyHeader: true})
	})
	files := writeProxyFiles(t, "Alice@Example.com new\n")
	f.mapping = files.mapping
	if mappingBlock == "" {
		mappingBlock = fileMapping(f.mapping, "normalize = \"lowercase\"\npositive_ttl = \"1s\"\nnegative_ttl = \"1s\"\n")
	}
	f.app = startApp(t, proxySpec{
		protocol: "imap",
		server:   "host_down_threshold = 2\nhost_down_cooldown = \"1s\"\nhealth_check_interval = \"300ms\"\n",
		files:    files,
		listeners: []listenerSpec{
			{name: "plain", tls: "plain", extra: "preauth_timeout = \"2s\"\n" + limitLine(maxConns) + "\n"},
			starttlsListener,
			implicitListener,
			proxiedListener,
		},
		old:     xclientTo(f.old),
		new:     proxyTo(f.new),
		mapping: mappingBlock + "\n",
		caps:    "allow_plain_auth_without_tls = true\n" + extra,
	}.toml(), prepare...)
	f.plain, f.starttls = addrOf(t, f.app, "plain"), addrOf(t, f.app, "starttls")
	f.implicit, f.proxied = addrOf(t, f.app, "implicit"), addrOf(t, f.app, "proxied")
	return f
}

// client is a minimal line-oriented IMAP client for tests.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// newClient reads and writes c, which the caller closes.
func newClient(t *testing.T, c net.Conn) *client {
	return &client{t: t, conn: c, r: bufio.NewReader(c)}
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	return newClient(t, dialTCP(t, addr, 10*time.Second))
}

// dialGreeted dials addr and reads the greeting.
func dialGreeted(t *testing.T, addr string) *client {
	t.Helper()
	c := dial(t, addr)
	c.line()
	return c
}

// dialTLS dials addr with implicit TLS.
func dialTLS(t *testing.T, addr string) *client {
	t.Helper()
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	return newClient(t, tc)
}

// upgradeTLS runs a TLS handshake on the connection, after the
// protocol's STARTTLS was answered.
func (c *client) upgradeTLS() {
	c.t.Helper()
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
}

func (c *client) line() string {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (got %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatal(err)
	}
}

// until reads lines up to and including the one starting with tag+" ".
func (c *client) until(tag string) (lines []string, last string) {
	c.t.Helper()
	for {
		l := c.line()
		if strings.HasPrefix(l, tag+" ") {
			return lines, l
		}
		lines = append(lines, l)
	}
}

func (c *client) startTLS() {
	c.t.Helper()
	c.send("s STARTTLS\r\n")
	if _, l := c.until("s"); !strings.HasPrefix(l, "s OK") {
		c.t.Fatalf("STARTTLS: %s", l)
	}
	c.upgradeTLS()
}

// login sends "a LOGIN user pass" and returns the tagged reply.
func (c *client) login(user, pass string) string {
	c.t.Helper()
	c.send(fmt.Sprintf("a LOGIN %s %s\r\n", user, pass))
	_, l := c.until("a")
	return l
}

// landedOn logs in and returns the backend named by message 1's subject.
func (c *client) landedOn(user, pass string) string {
	c.t.Helper()
	if l := c.login(user, pass); !strings.HasPrefix(l, "a OK") {
		c.t.Fatalf("LOGIN %s: %s", user, l)
	}
	return c.whichBackend()
}

// mustLand logs in and fails the test unless the session lands on want;
// what names the login in the failure.
func (c *client) mustLand(user, pass, want, what string) {
	c.t.Helper()
	if got := c.landedOn(user, pass); got != want {
		c.t.Fatalf("%s landed on %q, want %q", what, got, want)
	}
}

func (c *client) whichBackend() string {
	c.t.Helper()
	c.send("b SELECT INBOX\r\nc FETCH 1 (BODY[])\r\n")
	c.until("b")
	lines, last := c.until("c")
	if !strings.HasPrefix(last, "c OK") {
		c.t.Fatalf("FETCH: %s", last)
	}
	for _, l := range lines {
		if i := strings.Index(l, "you are on "); i >= 0 {
			return strings.TrimSpace(l[i+len("you are on "):])
		}
	}
	c.t.Fatalf("no marker in %q", lines)
	return ""
}

func TestRoutesEachAccountToItsBackend(t *testing.T) {
	f := startFixture(t, "")
	c := dial(t, f.plain)
	if g := c.line(); !strings.HasPrefix(g, "* OK [CAPABILITY") {
		t.Fatalf("greeting %q", g)
	}
	c.mustLand("alice@example.com", "pw-alice", "new", "alice")
	c2 := dialGreeted(t, f.plain)
	c2.mustLand("bob@example.com", "pw-bob", "old", "bob")
	// Forwarding: old learns the client through ID, new through PROXY v2.
	if a := f.old.LastClientAddr("bob@example.com"); !strings.HasPrefix(a, "127.0.0.1") {
		t.Errorf("old saw bob from %q", a)
	}
	if a := f.new.LastClientAddr("alice@example.com"); !strings.HasPrefix(a, "127.0.0.1") {
		t.Errorf("new saw alice from %q", a)
	}
	// The bridged session keeps working, IDLE included.
	c.send("i IDLE\r\n")
	if l := c.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	c.send("DONE\r\n")
	if _, l := c.until("i"); !strings.HasPrefix(l, "i OK") {
		t.Fatalf("IDLE end: %q", l)
	}
}

func TestSTARTTLSAndImplicitTLS(t *testing.T) {
	f := startFixture(t, "")
	c := dialGreeted(t, f.starttls)
	c.startTLS()
	c.mustLand("alice@example.com", "pw-alice", "new", "alice via STARTTLS")
	ic := dialTLS(t, f.implicit)
	if g := ic.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("implicit greeting %q", g)
	}
	ic.mustLand("bob@example.com", "pw-bob", "old", "bob via implicit TLS")
}

func TestAuthenticatePlainAndPipelining(t *testing.T) {
	f := startFixture(t, "")
	c := dialGreeted(t, f.plain)
	// AUTHENTICATE PLAIN with an initial response, and commands pipelined
	// behind it in the same segment: they must reach the backend in order.
	c.send("a AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHB3LWFsaWNl\r\nb SELECT INBOX\r\nc FETCH 1 (BODY[])\r\n")
	if _, l := c.until("a"); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("AUTHENTICATE: %s", l)
	}
	c.until("b")
	lines, last := c.until("c")
	if !strings.HasPrefix(last, "c OK") || !strings.Contains(strings.Join(lines, "\n"), "you are on new") {
		t.Fatalf("pipelined FETCH: %q %q", lines, last)
	}
}

func TestWrongPasswordIsNotBridged(t *testing.T) {
	f := startFixture(t, "")
	c := dialGreeted(t, f.plain)
	if l := c.login("alice@example.com", "wrong"); !strings.HasPrefix(l, "a NO") {
		t.Fatalf("wrong password: %s", l)
	}
	// Still talking to the proxy, not authenticated: SELECT is refused by
	// the proxy, and a correct retry works on the same connection.
	c.send("b SELECT INBOX\r\n")
	if _, l := c.until("b"); !strings.HasPrefix(l, "b BAD") && !strings.HasPrefix(l, "b NO") {
		t.Fatalf("SELECT before auth: %s", l)
	}
	c.mustLand("alice@example.com", "pw-alice", "new", "retry")
}

func TestUnavailableBackend(t *testing.T) {
	f := startFixture(t, "")
	f.new.Close()
	c := dialGreeted(t, f.plain)
	if l := c.login("alice@example.com", "pw-alice"); !strings.HasPrefix(l, "a NO [UNAVAILABLE]") {
		t.Fatalf("stopped backend: %s", l)
	}
}

func TestMappingFlipMovesNextLogin(t *testing.T) {
	f := startFixture(t, "")
	c := dialGreeted(t, f.plain)
	c.mustLand("alice@example.com", "pw-alice", "new", "before flip")
	if err := os.WriteFile(f.mapping, []byte("alice@example.com old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.app.Reload(); err != nil { // what SIGHUP does
		t.Fatal(err)
	}
	c2 := dialGreeted(t, f.plain)
	c2.mustLand("alice@example.com", "pw-alice", "old", "after flip")
}

func TestInboundProxyHeader(t *testing.T) {
	f := startFixture(t, "")
	c := dial(t, f.proxied)
	c.send("PROXY TCP4 203.0.113.9 127.0.0.1 40000 143\r\n")
	if g := c.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting after PROXY header: %q", g)
	}
	c.mustLand("bob@example.com", "pw-bob", "old", "bob")
	if a := f.old.LastClientAddr("bob@example.com"); !strings.HasPrefix(a, "203.0.113.9") {
		t.Fatalf("backend saw %q, want 203.0.113.9", a)
	}
}

func TestPreauthTimeout(t *testing.T) {
	f := startFixture(t, "")
	// Timed from before the dial: the proxy's clock starts at accept, so
	// the BYE cannot come sooner than preauth_timeout (2s) after this.
	// How late it comes on a busy machine is not asserted; the client's
	// 10 s read deadline ends a wait for one that never comes.
	start := time.Now()
	c := dialGreeted(t, f.plain)
	l := c.line()
	if !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("idle connection got %q", l)
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("closed after %v, before the 2s preauth_timeout", d)
	}
}

func TestOneByteAtATime(t *testing.T) {
	f := startFixture(t, "")
	c := dialGreeted(t, f.plain)
	for _, b := range []byte("a LOGIN bob@example.com pw-bob\r\n") {
		c.send(string([]byte{b}))
		time.Sleep(time.Millisecond)
	}
	if _, l := c.until("a"); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("bytewise login: %s", l)
	}
	if got := c.whichBackend(); got != "old" {
		t.Fatalf("landed on %q", got)
	}
}

func TestMappingFileIsWatched(t *testing.T) {
	f := startFixture(t, "")
	if err := os.WriteFile(f.mapping, []byte("# moved back\nalice@example.com old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// No SIGHUP, no Reload: the watcher must notice within a few seconds.
	deadline := time.Now().Add(6 * time.Second)
	for {
		c := dialGreeted(t, f.plain)
		got := c.landedOn("alice@example.com", "pw-alice")
		c.conn.Close()
		if got == "old" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice still on %q after editing the mapping file", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestConnectionLimitSaysTooBusy(t *testing.T) {
	// With max_connections = 2 the third client gets a BYE, not a silent
	// close.
	g := startFixtureLimit(t, 2)
	a, b := dial(t, g), dial(t, g)
	a.line()
	b.line()
	c := dial(t, g)
	if l := c.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("third connection got %q, want * BYE", l)
	}
}

// hammer runs workers goroutines that each play round rounds times, on a
// fresh connection to addr with deadline d for the whole round, and
// returns one result per worker: its first failure, or nil. round gets no
// t: it runs off the test's goroutine.
func hammer(addr string, workers, rounds int, d time.Duration, round func(w, i int, c net.Conn, r *bufio.Reader) error) <-chan error {
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			for i := 0; i < rounds; i++ {
				c, err := net.DialTimeout("tcp", addr, 3*time.Second)
				if err != nil {
					errs <- err
					return
				}
				_ = c.SetDeadline(time.Now().Add(d))
				err = round(w, i, c, bufio.NewReader(c))
				c.Close()
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	return errs
}

// TestConcurrentLogins: many clients logging in and out at once all get
// through; a stall anywhere in the reactor, the dialer or the bridge shows up
// as a timeout here.
func TestConcurrentLogins(t *testing.T) {
	f := startFixture(t, "")
	const workers, each = 32, 150
	errs := hammer(f.plain, workers, each, 5*time.Second, func(w, i int, c net.Conn, r *bufio.Reader) error {
		user := []string{"alice@example.com", "bob@example.com"}[i%2]
		pass := map[string]string{"alice@example.com": "pw-alice", "bob@example.com": "pw-bob"}[user]
		fmt.Fprintf(c, "a LOGIN %s %s\r\nb LOGOUT\r\n", user, pass)
		var got []string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				break
			}
			got = append(got, strings.TrimSpace(l))
		}
		if joined := strings.Join(got, "|"); !strings.Contains(joined, "a OK") || !strings.Contains(joined, "b OK") {
			return fmt.Errorf("worker %d login %d: %q (stats %+v)", w, i, joined, statsOf(f))
		}
		return nil
	})
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			if os.Getenv("DUMP") != "" {
				_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
				ents, _ := os.ReadDir("/proc/self/fd")
				kinds := map[string]int{}
				for _, e := range ents {
					l, _ := os.Readlink("/proc/self/fd/" + e.Name())
					if strings.HasPrefix(l, "socket:") {
						l = "socket"
					}
					if strings.HasPrefix(l, "pipe:") {
						l = "pipe"
					}
					kinds[l]++
				}
				fmt.Fprintln(os.Stderr, "FDKINDS", kinds)
				for _, c := range f.app.Engine().Sessions(nil) {
					fmt.Fprintf(os.Stderr, "SNAP %+v\n", c)
				}
			}
			t.Fatal(err)
		}
	}
}

func statsOf(f *fixture) string {
	s := &f.app.Engine().Stats
	return fmt.Sprintf("accepted=%d logins=%d failures=%d bridged=%d", s.Accepted.Load(), s.Logins.Load(), s.LoginFailures.Load(), s.Bridged.Load())
}

// TestTLSBackends: the backend leg in implicit TLS (a Stalwart on 993) and
// in STARTTLS, verified against a CA file, and with a pin.
func TestTLSBackends(t *testing.T) {
	srvTLS, _, err := mockimap.SelfSigned("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	leaf := srvTLS.Certificates[0].Certificate[0]
	if err := os.WriteFile(caFile, pemCert(leaf), 0o644); err != nil {
		t.Fatal(err)
	}
	users := map[string]string{"carol@example.com": "pw-carol"}
	imp := listenMock(t, func() (*mockimap.Server, error) {
		return mockimap.Listen("127.0.0.1:0", mockimap.Config{Name: "implicit", Users: users, TLS: srvTLS, ImplicitTLS: true})
	})
	st := listenMock(t, func() (*mockimap.Server, error) {
		return mockimap.Listen("127.0.0.1:0", mockimap.Config{Name: "starttls", Users: users, TLS: srvTLS})
	})
	extra := "\n" +
		destSection("imp", fmt.Sprintf("tls_server_name = \"localhost\"\ntls_ca_file = %q\nforwarding = \"none\"\n", caFile), "imap", portOf(imp.Addr()), "implicit") +
		destSection("st", fmt.Sprintf("tls_pinned_cert_sha256 = \"%x\"\nforwarding = \"none\"\n", sha256Of(leaf)), "imap", portOf(st.Addr()), "starttls")
	f := startFixture(t, extra)
	for _, tc := range []struct{ dest, want string }{{"imp", "implicit"}, {"st", "starttls"}} {
		if err := os.WriteFile(f.mapping, []byte("carol@example.com "+tc.dest+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := f.app.Reload(); err != nil {
			t.Fatal(err)
		}
		c := dialGreeted(t, f.plain)
		if got := c.landedOn("carol@example.com", "pw-carol"); got != tc.want {
			t.Fatalf("carol landed on %q, want %q", got, tc.want)
		}
	}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func sha256Of(der []byte) []byte {
	s := sha256.Sum256(der)
	return s[:]
}

// TestSQLiteStoreAndClusterRing: the embedded SQLite store names alice's
// backend; an account without a mapping goes to its ring node, the same node
// the ring package computes on its own.
func TestSQLiteStoreAndClusterRing(t *testing.T) {
	dir := t.TempDir()
	dbURL := "sqlite://" + filepath.Join(dir, "map.db")
	st, err := sqlstore.New(sqlstore.Options{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateTable(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := st.Set(context.Background(), "alice@example.com", "old"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	f := startFixtureWithMapping(t, fmt.Sprintf(`[mapping]
source = "sqlite"
normalize = "lowercase"
[mapping.sql]
url = %q
[cluster]
nodes = ["old", "new"]
`, dbURL))
	c := dialGreeted(t, f.plain)
	c.mustLand("alice@example.com", "pw-alice", "old", "alice (mapped in SQLite to old)")
	rg, err := ring.New([]ring.Node{{Name: "old"}, {Name: "new"}})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := rg.Locate("bob@example.com")
	c2 := dialGreeted(t, f.plain)
	if got := c2.landedOn("bob@example.com", "pw-bob"); got != want {
		t.Fatalf("bob (no mapping) landed on %q, the ring says %q", got, want)
	}
}

// accountOnNew returns a test account (and its password) that the ring of
// nodes "old" and "new" places on "new".
func accountOnNew(t *testing.T) (user, pass string) {
	t.Helper()
	rg, err := ring.New([]ring.Node{{Name: "old"}, {Name: "new"}})
	if err != nil {
		t.Fatal(err)
	}
	for u, p := range map[string]string{"alice@example.com": "pw-alice", "bob@example.com": "pw-bob"} {
		if n, _ := rg.Locate(u); n == "new" {
			user, pass = u, p
		}
	}
	if user == "" {
		t.Fatal("no test account hashes to node new; pick other names")
	}
	return user, pass
}

// TestRingNodeDownAndBack: when a cluster node stops answering, its accounts
// move to their next node after the breaker opens, and return once it heals.
func TestRingNodeDownAndBack(t *testing.T) {
	f := startFixtureWithMapping(t, "[cluster]\nnodes = [\"old\", \"new\"]\n")
	user, pass := accountOnNew(t)
	login := func() string {
		c := dialGreeted(t, f.plain)
		l := c.login(user, pass)
		if !strings.HasPrefix(l, "a OK") {
			c.conn.Close()
			return l
		}
		got := c.whichBackend()
		c.conn.Close()
		return got
	}
	if got := login(); got != "new" {
		t.Fatalf("before the outage: %q", got)
	}
	addr := f.new.Addr()
	f.new.Close()
	// Refused logins (or the active checks, every 300 ms) open the breaker
	// after host_down_threshold = 2 failures; from then on the ring sends
	// the account to its next node. Until then logins get UNAVAILABLE.
	for deadline := time.Now().Add(5 * time.Second); ; {
		got := login()
		if got == "old" {
			break
		}
		if !strings.Contains(got, "UNAVAILABLE") {
			t.Fatalf("during the outage: %q", got)
		}
		if time.Now().After(deadline) {
			t.Fatal("the account never moved to its next node")
		}
	}
	users := map[string]string{"alice@example.com": "pw-alice", "bob@example.com": "pw-bob"}
	back, err := mockimap.Listen(addr, mockimap.Config{Name: "new", Users: users, AcceptProxyHeader: true})
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	deadline := time.Now().Add(6 * time.Second)
	for {
		got := login()
		if got == "new" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("account did not return to its node after it healed: %q", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// adminCall performs an authorized admin API request and returns the status
// and body.
type adminCall func(method, path string) (int, string)

// startAdminFixture starts the IMAP fixture with the admin API on.
func startAdminFixture(t *testing.T) (*fixture, adminCall, string, *http.Client) {
	t.Helper()
	return startAdminFixtureWith(t, "")
}

// adminToken is the admin fixture's bearer token.
var adminToken = strings.Repeat("k", 40)

// startAdminFixtureWith adds extra (further sections) to the admin
// fixture's configuration and lets prepare see the App before it runs.
// The admin API serves a listener the test bound on 127.0.0.1:0.
func startAdminFixtureWith(t *testing.T, extra string, prepare ...func(*App)) (*fixture, adminCall, string, *http.Client) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminAddr := ln.Addr().String()
	prepare = append([]func(*App){func(a *App) { a.adminLn = ln }}, prepare...)
	f := startFixtureFull(t, fmt.Sprintf("[admin]\nbind = %q\nbearer_token = %q\n%s", adminAddr, adminToken, extra), 0, "", prepare...)
	if got := waitAdmin(t, f.app); got != adminAddr {
		t.Fatalf("admin API on %s, want %s", got, adminAddr)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	call := func(method, path string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, "https://"+adminAddr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+adminToken)
		return doRequest(t, hc, req)
	}
	return f, call, adminAddr, hc
}

// waitAdmin waits until the App serves its admin API and returns where.
func waitAdmin(t *testing.T, a *App) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if addr := a.AdminAddr(); addr != "" {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatal("admin API never listened")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAdminAPI: a mapping flip through the admin API reaches the next login,
// and a kick ends a bridged IMAP session.
func TestAdminAPI(t *testing.T) {
	f, call, adminAddr, hc := startAdminFixture(t)
	if code, body := call("GET", "/mappings?identifier=alice@example.com"); code != 200 || !strings.Contains(body, `"new"`) {
		t.Fatalf("GET mapping: %d %s", code, body)
	}
	if code, body := call("PUT", "/mappings?identifier=alice@example.com&destination=old"); code != 200 {
		t.Fatalf("PUT mapping: %d %s", code, body)
	}
	c := dialGreeted(t, f.plain)
	c.mustLand("alice@example.com", "pw-alice", "old", "after the API flip alice")
	// The file was rewritten too: the flip survives a restart.
	if data, _ := os.ReadFile(f.mapping); !strings.Contains(strings.ToLower(string(data)), "alice@example.com old") {
		t.Fatalf("mapping file after PUT: %q", data)
	}
	if code, body := call("GET", "/connections?identifier=alice@example.com"); code != 200 || !strings.Contains(body, "bridged") {
		t.Fatalf("connections: %d %s", code, body)
	}
	if code, body := call("POST", "/connections/kick?identifier=alice@example.com"); code != 200 {
		t.Fatalf("kick: %d %s", code, body)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.r.ReadString('\n'); err == nil {
		// Whatever line arrives, the connection must then be closed.
		if _, err := c.r.ReadString('\n'); err == nil {
			t.Fatal("kicked session still open")
		}
	}
	if code, _ := call("GET", "/healthz"); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	req, _ := http.NewRequest("GET", "https://"+adminAddr+"/stats", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("stats without a token: %d", resp.StatusCode)
	}
}

// TestShutdownSaysGoodbye: a client waiting at the pre-auth prompt gets
// "* BYE" when the proxy stops, not a silent close.
func TestShutdownSaysGoodbye(t *testing.T) {
	f := startFixture(t, "")
	c := dialGreeted(t, f.plain)
	go func() { _ = f.app.eng.Stop(context.Background()) }()
	if l := c.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("on shutdown the client got %q", l)
	}
}

// TestBulkThroughBridge: a 6 MiB message crosses the bridge intact over a
// plaintext and an implicit-TLS client leg (the hand-off leaves gnet's
// closed copy behind and the duplicated socket working).
func TestBulkThroughBridge(t *testing.T) {
	users := map[string]string{"bob@example.com": "pw-bob"}
	const size = 6 << 20
	big := listenMock(t, func() (*mockimap.Server, error) {
		return mockimap.Listen("127.0.0.1:0", mockimap.Config{Name: "big", Users: users, MessageSize: size})
	})
	f := startFixture(t, destSection("big", "forwarding = \"none\"\nallow_plaintext_auth = true\n", "imap", portOf(big.Addr()), "plain"))
	if err := os.WriteFile(f.mapping, []byte("bob@example.com big\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.app.Reload(); err != nil {
		t.Fatal(err)
	}
	for _, leg := range []string{"plain", "tls"} {
		var conn net.Conn
		var err error
		if leg == "plain" {
			conn, err = net.Dial("tcp", f.plain)
		} else {
			conn, err = tls.Dial("tcp", f.implicit, &tls.Config{InsecureSkipVerify: true})
		}
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		c := &client{t: t, conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
		c.line()
		c.send("a LOGIN bob@example.com pw-bob\r\nb SELECT INBOX\r\nc FETCH 1 (BODY[])\r\n")
		c.until("a")
		c.until("b")
		head := c.line() // * 1 FETCH (BODY[] {N}
		open := strings.LastIndexByte(head, '{')
		var n int
		if open < 0 {
			t.Fatalf("%s: no literal in %q", leg, head)
		}
		if _, err := fmt.Sscanf(head[open:], "{%d}", &n); err != nil || n < size {
			t.Fatalf("%s: literal %q (%v), want ≥ %d bytes", leg, head, err, size)
		}
		got, err := io.CopyN(io.Discard, c.r, int64(n))
		if err != nil || got != int64(n) {
			t.Fatalf("%s: read %d of %d: %v", leg, got, n, err)
		}
		if _, l := c.until("c"); !strings.HasPrefix(l, "c OK") {
			t.Fatalf("%s: after the literal: %q", leg, l)
		}
		conn.Close()
	}
}

// TestNormalizationOptions: strip_detail and domain_aliases reach the router.
func TestNormalizationOptions(t *testing.T) {
	dir := t.TempDir()
	mapping := filepath.Join(dir, "m.txt")
	if err := os.WriteFile(mapping, []byte("alice@example.com new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := startFixtureWithMapping(t, fmt.Sprintf(`[mapping]
source = "file"
normalize = "lowercase"
strip_detail = true
domain_aliases = { "example.net" = "example.com" }
[mapping.file]
path = %q
`, mapping))
	for _, id := range []string{"Alice+news@example.com", "alice@EXAMPLE.net", "alice+x@example.net"} {
		res, err := f.app.Router().Resolve(context.Background(), id)
		if err != nil || res.Destination != "new" {
			t.Errorf("%s: %+v %v, want new", id, res, err)
		}
	}
}

// TestActiveChecksMarkNodeDown: with no login at all, the active checks find
// a stopped node and the next login of its account goes straight to the
// account's next node.
func TestActiveChecksMarkNodeDown(t *testing.T) {
	f := startFixtureWithMapping(t, "[cluster]\nnodes = [\"old\", \"new\"]\n")
	user, pass := accountOnNew(t)
	f.new.Close()
	deadline := time.Now().Add(5 * time.Second)
	for f.app.health.Up("new", "imap") {
		if time.Now().After(deadline) {
			t.Fatal("active checks never marked the stopped node down")
		}
		time.Sleep(50 * time.Millisecond)
	}
	c := dialGreeted(t, f.plain)
	c.mustLand(user, pass, "old", "first login after the checks")
}

// TestAdminDelayAndPreauthKick: POST /connections/delay holds an account's
// next login (a migration window) until the delay is lifted; a held login
// shows in GET /connections and POST /connections/kick ends it with the
// protocol's goodbye.
func TestAdminDelayAndPreauthKick(t *testing.T) {
	f, call, _, _ := startAdminFixture(t)
	if code, body := call("POST", "/connections/delay?identifier=Alice@Example.com&seconds=600"); code != 200 || !strings.Contains(body, `"until"`) {
		t.Fatalf("delay: %d %s", code, body)
	}
	c := dialGreeted(t, f.plain)
	c.send("a LOGIN alice@example.com pw-alice\r\n")
	_ = c.conn.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
	if l, err := c.r.ReadString('\n'); err == nil {
		t.Fatalf("a delayed login was answered: %q", l)
	}
	// bob is not delayed.
	b := dialGreeted(t, f.plain)
	b.mustLand("bob@example.com", "pw-bob", "old", "bob")
	// The login reaches the engine on its own loop, in its own time.
	waitHeld := func() {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			code, body := call("GET", "/connections?identifier=alice@example.com&state=preauth")
			if code == 200 && strings.Contains(body, `"preauth"`) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the held login is not listed: %d %s", code, body)
			}
		}
	}
	waitHeld()
	if code, body := call("POST", "/connections/delay?identifier=alice@example.com&seconds=0"); code != 200 {
		t.Fatalf("lift: %d %s", code, body)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, l := c.until("a"); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("after the delay was lifted: %q", l)
	}
	if got := c.whichBackend(); got != "new" {
		t.Fatalf("alice landed on %q", got)
	}

	// Held again, then kicked while held.
	if code, _ := call("POST", "/connections/delay?identifier=alice@example.com&seconds=600"); code != 200 {
		t.Fatal("delay again")
	}
	k := dialGreeted(t, f.plain)
	k.send("a LOGIN alice@example.com pw-alice\r\n")
	waitHeld()
	// Both go: alice's bridged session from above and the held login.
	if code, body := call("POST", "/connections/kick?identifier=alice@example.com"); code != 200 || !strings.Contains(body, `"kicked":2`) {
		t.Fatalf("kick of the held login: %d %s", code, body)
	}
	_ = k.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	// The held LOGIN is answered first, then the goodbye.
	if l := k.line(); !strings.HasPrefix(l, "a NO [UNAVAILABLE]") {
		t.Fatalf("a kicked held login got %q", l)
	}
	if l := k.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("a kicked pre-auth client got %q", l)
	}
	if _, err := k.r.ReadString('\n'); err == nil {
		t.Fatal("kicked connection still open")
	}
}

// scrapeMetrics reads GET /metrics through the admin API and flattens it
// to "name{label="v",...}" -> value (histograms as _count).
func scrapeMetrics(t *testing.T, call adminCall) map[string]float64 {
	t.Helper()
	code, body := call("GET", "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+`="`+l.GetValue()+`"`)
			}
			sort.Strings(ls)
			key := name + "{" + strings.Join(ls, ",") + "}"
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[strings.Replace(key, "{", "_count{", 1)] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// TestMetricsMoveWithSessions: the engine's counters in GET /metrics move
// as a scripted login, a refused login and a bridged session run.
func TestMetricsMoveWithSessions(t *testing.T) {
	f, call, _, _ := startAdminFixture(t)
	before := scrapeMetrics(t, call)
	c := dialGreeted(t, f.plain)
	c.mustLand("alice@example.com", "pw-alice", "new", "alice")
	w := dialGreeted(t, f.plain)
	if l := w.login("bob@example.com", "wrong"); !strings.HasPrefix(l, "a NO") {
		t.Fatalf("wrong password: %q", l)
	}
	c.send("z LOGOUT\r\n")
	c.until("z")
	c.conn.Close()
	want := map[string]float64{
		`switchyard_auth_total{outcome="success",protocol="imap"}`:                      1,
		`switchyard_auth_total{outcome="failure",protocol="imap"}`:                      1,
		`switchyard_connections_accepted_total{listener="plain",protocol="imap"}`:       2,
		`switchyard_sessions_total{bridge="splice",destination="new",protocol="imap"}`:  1,
		`switchyard_backend_dial_seconds_count{destination="new",outcome="ok"}`:         1,
		`switchyard_backend_auth_seconds_count{destination="new",protocol="imap"}`:      1,
		`switchyard_route_lookups_total{cache="miss",source="store"}`:                   1,
		`switchyard_connections_active{listener="plain",protocol="imap"}`:               1, // w is still in the reactor
		`switchyard_bridge_bytes_total{bridge="splice",direction="to_client"}`:          1, // at least
		`switchyard_sessions_active{bridge="splice",destination="new",protocol="imap"}`: 0,
	}
	var after map[string]float64
	var missing []string
	for i := 0; i < 50; i++ { // the session's end is reported by the bridge's goroutine
		after = scrapeMetrics(t, call)
		missing = missing[:0]
		for k, d := range want {
			got := after[k] - before[k]
			ok := got == d
			if strings.Contains(k, "bridge_bytes") {
				ok = got >= d
			}
			if !ok {
				missing = append(missing, fmt.Sprintf("%s moved by %v, want %v", k, got, d))
			}
		}
		if len(missing) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("metrics:\n%s", strings.Join(missing, "\n"))
}

// TestReloadAppliesDestinations: a configuration reload moves a
// destination to another address for the next login, keeps a bridged
// session, and reports the listener change it cannot apply.
func TestReloadAppliesDestinations(t *testing.T) {
	f := startFixture(t, "")
	kept := dialGreeted(t, f.plain)
	kept.mustLand("bob@example.com", "pw-bob", "old", "bob")
	next := *f.app.cfg
	next.Destination = map[string]config.Destination{}
	for id, d := range f.app.cfg.Destination {
		next.Destination[id] = d
	}
	old := next.Destination["old"]
	old.Protocol = map[config.Protocol]config.Endpoint{config.IMAP: {Port: atoi(t, portOf(f.new.Addr())), TLS: config.TLSPlain}}
	old.Forwarding = config.ForwardProxy // the "new" mock wants a PROXY header
	next.Destination["old"] = old
	next.Listener = map[string]config.Listener{}
	for id, l := range f.app.cfg.Listener {
		next.Listener[id] = l
	}
	pl := next.Listener["plain"]
	pl.PreauthTimeout = config.Duration(time.Minute)
	next.Listener["plain"] = pl
	f.app.SetConfigSource(func() (*config.Config, error) { return &next, nil })
	notes, err := f.app.ReloadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "listener.plain changed") {
		t.Fatalf("notes %q", notes)
	}
	c := dialGreeted(t, f.plain)
	c.mustLand("bob@example.com", "pw-bob", "new", "after the reload bob")
	if got := kept.whichBackend(); got != "old" {
		t.Fatalf("the session bridged before the reload now answers from %q", got)
	}
	// A broken configuration changes nothing.
	f.app.SetConfigSource(func() (*config.Config, error) { return nil, fmt.Errorf("bad file") })
	if _, err := f.app.ReloadConfig(); err == nil || !strings.Contains(err.Error(), "bad file") {
		t.Fatalf("reload of a bad file: %v", err)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReloadUnderLoad: reloads while logins run and sessions are bridged
// lose nothing: every login lands and every bridged session keeps working.
func TestReloadUnderLoad(t *testing.T) {
	f := startFixture(t, "")
	next := *f.app.cfg
	f.app.SetConfigSource(func() (*config.Config, error) { return &next, nil })
	const workers, rounds = 6, 15
	errs := hammer(f.plain, workers, rounds, 10*time.Second, func(_, i int, c net.Conn, r *bufio.Reader) error {
		_, _ = r.ReadString('\n')
		fmt.Fprintf(c, "a LOGIN bob@example.com pw-bob\r\nb NOOP\r\n")
		var last string
		var err error
		for !strings.HasPrefix(last, "b ") {
			if last, err = r.ReadString('\n'); err != nil {
				break
			}
		}
		if !strings.HasPrefix(last, "b OK") {
			return fmt.Errorf("round %d: %q %v", i, last, err)
		}
		return nil
	})
	kept := dialGreeted(t, f.plain)
	kept.landedOn("alice@example.com", "pw-alice")
	for i := 0; i < 20; i++ {
		if _, err := f.app.ReloadConfig(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := kept.whichBackend(); got != "new" {
		t.Fatalf("bridged session after the reloads: %q", got)
	}
}

// TestKickBothBridgeKinds: POST /connections/kick ends a bridged session
// whether the epoll engine or the portable bridge carries it, and whether
// the client leg is plaintext (splice) or TLS (copied through the loops).
func TestKickBothBridgeKinds(t *testing.T) {
	for _, bridge := range []string{"epoll", "portable"} {
		t.Run(bridge, func(t *testing.T) {
			if bridge == "portable" {
				t.Setenv("SWITCHYARD_BRIDGE", "portable")
			}
			f, call, _, _ := startAdminFixture(t)
			plain := dialGreeted(t, f.plain)
			if got := plain.landedOn("alice@example.com", "pw-alice"); got != "new" {
				t.Fatalf("alice landed on %q", got)
			}
			sec := dialTLS(t, f.implicit)
			sec.line()
			if got := sec.landedOn("alice@example.com", "pw-alice"); got != "new" {
				t.Fatalf("alice (TLS) landed on %q", got)
			}
			if code, body := call("POST", "/connections/kick?identifier=alice@example.com"); code != 200 || !strings.Contains(body, `"kicked":2`) {
				t.Fatalf("kick: %d %s", code, body)
			}
			for _, c := range []*client{plain, sec} {
				_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				for i := 0; ; i++ {
					if _, err := c.r.ReadString('\n'); err != nil {
						break // closed
					}
					if i > 3 {
						t.Fatal("a kicked session is still open")
					}
				}
			}
		})
	}
}
