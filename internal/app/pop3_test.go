package app

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/bench/mockpop3"
	"github.com/switchyard-mail/switchyard/internal/testnet"
)

// pop3Fixture is the whole proxy in front of two mock POP3 backends: "old"
// (the default; XCLIENT forwarding, USER/PASS only, PIPELINING) and "new"
// (PROXY v2, SASL PLAIN). alice@example.com is mapped to new.
type pop3Fixture struct {
	old, new                           *mockpop3.Server
	plain, starttls, implicit, proxied string
	app                                *App
}

var pop3Users = map[string]string{"alice@example.com": "pw-alice", "bob@example.com": "pw-bob", "carol@example.com": "pw-carol"}

func startPOP3Fixture(t *testing.T) *pop3Fixture {
	t.Helper()
	f := &pop3Fixture{}
	locked := map[string]bool{"carol@example.com": true}
	f.old = listenMock(t, func() (*mockpop3.Server, error) {
		return mockpop3.Listen("127.0.0.1:0", mockpop3.Config{Name: "old", Users: pop3Users, Locked: locked, XClient: true, NoSASL: true, Pipelining: true})
	})
	f.new = listenMock(t, func() (*mockpop3.Server, error) {
		return mockpop3.Listen("127.0.0.1:0", mockpop3.Config{Name: "new", Users: pop3Users, AcceptProxyHeader: true})
	})
	files := writeProxyFiles(t, "alice@example.com new\n")
	f.app = startApp(t, proxySpec{
		protocol: "pop3",
		files:    files,
		listeners: []listenerSpec{
			{name: "plain", tls: "plain", extra: "max_auth_attempts = 3\n"},
			starttlsListener,
			implicitListener,
			proxiedListener,
		},
		old:     xclientTo(f.old),
		new:     proxyTo(f.new),
		mapping: fileMapping(files.mapping, "normalize = \"lowercase\"\n"),
		caps:    "allow_plain_auth_without_tls = true\nsasl = [\"PLAIN\", \"LOGIN\"]\n",
	}.toml())
	f.plain, f.starttls = addrOf(t, f.app, "plain"), addrOf(t, f.app, "starttls")
	f.implicit, f.proxied = addrOf(t, f.app, "implicit"), addrOf(t, f.app, "proxied")
	return f
}

// expectOK reads one line and fails unless it starts with prefix.
func (c *client) expect(prefix string) string {
	c.t.Helper()
	l := c.line()
	if !strings.HasPrefix(l, prefix) {
		c.t.Fatalf("got %q, want %q...", l, prefix)
	}
	return l
}

// pop3Marker retrieves message 1 of an authenticated POP3 session and
// returns the backend named in its subject.
func (c *client) pop3Marker() string {
	c.t.Helper()
	c.send("RETR 1\r\n")
	c.expect("+OK")
	backend := ""
	for {
		l := c.line()
		if l == "." {
			break
		}
		if i := strings.Index(l, "you are on "); i >= 0 {
			backend = l[i+len("you are on "):]
		}
	}
	if backend == "" {
		c.t.Fatal("no marker in message 1")
	}
	return backend
}

// dialPOP3 dials addr and reads the +OK greeting.
func dialPOP3(t *testing.T, addr string) *client {
	t.Helper()
	c := dial(t, addr)
	c.expect("+OK")
	return c
}

func (c *client) pop3Login(user, pass string) string {
	c.t.Helper()
	c.send("USER " + user + "\r\n")
	c.expect("+OK")
	c.send("PASS " + pass + "\r\n")
	c.expect("+OK")
	return c.pop3Marker()
}

func TestPOP3RoutingAndForwarding(t *testing.T) {
	f := startPOP3Fixture(t)
	c := dialPOP3(t, f.plain)
	if got := c.pop3Login("alice@example.com", "pw-alice"); got != "new" {
		t.Fatalf("alice landed on %q, want new", got)
	}
	c2 := dialPOP3(t, f.plain)
	if got := c2.pop3Login("bob@example.com", "pw-bob"); got != "old" {
		t.Fatalf("bob landed on %q, want old", got)
	}
	// The real client address: through XCLIENT on old, PROXY v2 on new,
	// taken from the inbound PROXY header of a trusted load balancer.
	for _, tc := range []struct{ user, pass, backend, claim string }{
		{"bob@example.com", "pw-bob", "old", "203.0.113.9"},
		{"alice@example.com", "pw-alice", "new", "203.0.113.10"},
	} {
		c := dial(t, f.proxied)
		c.send(fmt.Sprintf("PROXY TCP4 %s 127.0.0.1 40000 110\r\n", tc.claim))
		c.expect("+OK")
		if got := c.pop3Login(tc.user, tc.pass); got != tc.backend {
			t.Fatalf("%s landed on %q", tc.user, got)
		}
		srv := map[string]*mockpop3.Server{"old": f.old, "new": f.new}[tc.backend]
		if a := srv.LastClientAddr(tc.user); a != tc.claim+":40000" {
			t.Fatalf("%s saw %s from %q, want %s:40000", tc.backend, tc.user, a, tc.claim)
		}
	}
}

func TestPOP3PipelinedAndSASL(t *testing.T) {
	f := startPOP3Fixture(t)
	// USER, PASS and transaction commands in one segment: the pipelined
	// commands reach the backend after the replayed login, in order.
	c := dialPOP3(t, f.plain)
	c.send("CAPA\r\nUSER bob@example.com\r\nPASS pw-bob\r\nSTAT\r\n")
	c.expect("+OK Capability")
	for c.line() != "." {
	}
	c.expect("+OK")
	c.expect("+OK Logged in.")
	c.expect("+OK 1 ")
	send := func(s string) func(*client) { return func(c *client) { c.send(s) } }
	for _, tc := range []struct {
		name, backend string
		login         func(*client) // up to the "+OK Logged in."
	}{
		{"auth-plain-ir", "new", send("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHB3LWFsaWNl\r\n")},
		{"auth-plain-ir-to-user-pass", "old", send("AUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBwdy1ib2I=\r\n")},
		{"auth-login-multistep", "new", func(c *client) {
			c.send("AUTH LOGIN\r\n")
			c.expect("+ VXNlcm5hbWU6")
			c.send("YWxpY2VAZXhhbXBsZS5jb20=\r\n")
			c.expect("+ UGFzc3dvcmQ6")
			c.send("cHctYWxpY2U=\r\n")
		}},
		{"bytewise", "old", func(c *client) {
			for _, b := range []byte("USER bob@example.com\r\nPASS pw-bob\r\n") {
				c.send(string([]byte{b}))
				time.Sleep(time.Millisecond)
			}
			c.expect("+OK")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialPOP3(t, f.plain)
			tc.login(c)
			c.expect("+OK Logged in.")
			if got := c.pop3Marker(); got != tc.backend {
				t.Fatalf("landed on %q", got)
			}
		})
	}
}

func TestPOP3Refusals(t *testing.T) {
	f := startPOP3Fixture(t)
	c := dialPOP3(t, f.plain)
	c.send("USER alice@example.com\r\nPASS wrong\r\nSTAT\r\n")
	c.expect("+OK")
	c.expect("-ERR [AUTH]")
	c.expect("-ERR Not logged in.") // answered by switchyard: not bridged
	c.send("USER carol@example.com\r\nPASS pw-carol\r\n")
	c.expect("+OK")
	c.expect("-ERR [IN-USE]")
	if got := c.pop3Login("alice@example.com", "pw-alice"); got != "new" {
		t.Fatalf("retry landed on %q", got)
	}
	// Three refusals close the connection.
	c = dialPOP3(t, f.plain)
	c.send("AUTH PLAIN AGJvYkBleGFtcGxlLmNvbQB4\r\nAUTH PLAIN AGJvYkBleGFtcGxlLmNvbQB4\r\nAUTH PLAIN AGJvYkBleGFtcGxlLmNvbQB4\r\nNOOP\r\n")
	for i := 0; i < 3; i++ {
		c.expect("-ERR [AUTH]")
	}
	if l, err := c.r.ReadString('\n'); err == nil {
		t.Fatalf("still open after 3 refusals: %q", l)
	}
	// APOP is refused without closing.
	c = dialPOP3(t, f.plain)
	c.send("APOP bob@example.com 0123456789abcdef0123456789abcdef\r\nQUIT\r\n")
	c.expect("-ERR APOP")
	c.expect("+OK")
	// A stopped backend is a temporary failure.
	f.new.Close()
	c = dialPOP3(t, f.plain)
	c.send("USER alice@example.com\r\nPASS pw-alice\r\n")
	c.expect("+OK")
	c.expect("-ERR [SYS/TEMP]")
}

func TestPOP3TLS(t *testing.T) {
	f := startPOP3Fixture(t)
	c := dialPOP3(t, f.starttls)
	c.send("CAPA\r\n")
	c.expect("+OK")
	var caps []string
	for l := c.line(); l != "."; l = c.line() {
		caps = append(caps, l)
	}
	if !strings.Contains(strings.Join(caps, " "), "STLS") {
		t.Fatalf("CAPA before TLS: %q", caps)
	}
	// Plaintext pipelined after STLS is discarded, not executed.
	c.send("STLS\r\nUSER injected\r\n")
	c.expect("+OK Begin TLS")
	c.upgradeTLS()
	c.send("PASS pw-bob\r\n")
	c.expect("-ERR No username given.")
	if got := c.pop3Login("bob@example.com", "pw-bob"); got != "old" {
		t.Fatalf("STLS: landed on %q", got)
	}
	c2 := dialTLS(t, f.implicit)
	c2.expect("+OK")
	if got := c2.pop3Login("alice@example.com", "pw-alice"); got != "new" {
		t.Fatalf("implicit TLS: landed on %q", got)
	}
}

// utf8Backend is a scripted RFC 6856 POP3 server: it advertises UTF8 and
// SASL PLAIN, takes any AUTH PLAIN, and records every command line it
// gets, so a test can see what the proxy replayed.
type utf8Backend struct {
	l    net.Listener
	mu   sync.Mutex
	cmds [][]string // per connection, in order
}

func startUTF8Backend(t *testing.T) *utf8Backend {
	t.Helper()
	l := testnet.Listen(t)
	b := &utf8Backend{l: l}
	testnet.Serve(l, func(c net.Conn) { go b.serve(c) })
	return b
}

func (b *utf8Backend) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	b.mu.Lock()
	b.cmds = append(b.cmds, nil)
	conn := len(b.cmds) - 1
	b.mu.Unlock()
	r := bufio.NewReader(c)
	fmt.Fprint(c, "+OK utf8 backend ready\r\n")
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		l = strings.TrimRight(l, "\r\n")
		b.mu.Lock()
		b.cmds[conn] = append(b.cmds[conn], l)
		b.mu.Unlock()
		switch kw, _, _ := strings.Cut(l, " "); strings.ToUpper(kw) {
		case "CAPA":
			fmt.Fprint(c, "+OK\r\nUSER\r\nUTF8\r\nSASL PLAIN\r\n.\r\n")
		case "UTF8":
			fmt.Fprint(c, "+OK UTF8 enabled\r\n")
		case "AUTH":
			fmt.Fprint(c, "+OK Logged in.\r\n")
		case "RETR":
			fmt.Fprint(c, "+OK\r\nSubject: Marker: you are on utf8\r\n\r\nhi\r\n.\r\n")
		case "QUIT":
			fmt.Fprint(c, "+OK\r\n")
			return
		default:
			fmt.Fprint(c, "-ERR unexpected\r\n")
		}
	}
}

// commands returns what connection i sent (i < 0 counts from the end).
func (b *utf8Backend) commands(t *testing.T, i int) []string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if i < 0 {
		i += len(b.cmds)
	}
	if i < 0 || i >= len(b.cmds) {
		t.Fatalf("backend saw %d connections, want #%d", len(b.cmds), i)
	}
	return append([]string(nil), b.cmds[i]...)
}

// pop3Capa sends CAPA and returns the capability lines.
func (c *client) pop3Capa() []string {
	c.t.Helper()
	c.send("CAPA\r\n")
	c.expect("+OK")
	var caps []string
	for l := c.line(); l != "."; l = c.line() {
		caps = append(caps, l)
	}
	return caps
}

// RFC 6856 through the whole proxy: switchyard offers UTF8, says +OK to
// it before login, and repeats it to a backend that advertises UTF8 (only
// for a client that sent it); a backend without UTF8 still takes the login.
func TestPOP3UTF8(t *testing.T) {
	utf8 := startUTF8Backend(t)
	old := listenMock(t, func() (*mockpop3.Server, error) {
		return mockpop3.Listen("127.0.0.1:0", mockpop3.Config{Name: "old", Users: pop3Users, Pipelining: true})
	})
	files := writeProxyFiles(t, "alice@example.com new\n")
	spec := proxySpec{
		protocol: "pop3",
		// No active health checks: their connections to the scripted
		// backend would be counted as sessions.
		server:    "health_check_interval = \"0s\"\n",
		files:     files,
		listeners: []listenerSpec{{name: "plain", tls: "plain"}},
		old:       destSpec{forwarding: "none", port: portOf(old.Addr())},
		new:       destSpec{forwarding: "none", port: portOf(utf8.l.Addr().String())},
		mapping:   fileMapping(files.mapping, ""),
		caps:      "allow_plain_auth_without_tls = true\n",
	}
	plain := addrOf(t, startApp(t, spec.toml()), "plain")

	c := dialPOP3(t, plain)
	if caps := c.pop3Capa(); !slices.Contains(caps, "UTF8") {
		t.Fatalf("CAPA %q lacks UTF8", caps)
	}
	// UTF8, USER and PASS pipelined: the UTF8 reaches the backend before
	// the credentials.
	c.send("UTF8\r\nUSER alice@example.com\r\nPASS pw-alice\r\n")
	c.expect("+OK UTF8 enabled.")
	c.expect("+OK")
	c.expect("+OK Logged in.")
	if got := c.pop3Marker(); got != "utf8" {
		t.Fatalf("alice landed on %q", got)
	}
	want := []string{"CAPA", "UTF8", "AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHB3LWFsaWNl", "RETR 1"}
	if got := utf8.commands(t, -1); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("backend got %q, want %q", got, want)
	}

	// Without the client's UTF8 the backend gets none.
	c = dialPOP3(t, plain)
	c.send("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHB3LWFsaWNl\r\n")
	c.expect("+OK Logged in.")
	if got := c.pop3Marker(); got != "utf8" {
		t.Fatalf("alice landed on %q", got)
	}
	if got := utf8.commands(t, -1); slices.Contains(got, "UTF8") {
		t.Fatalf("backend got UTF8 from a client that did not send it: %q", got)
	}

	// A backend without UTF8 (the mock) is not sent it; the login works.
	c = dialPOP3(t, plain)
	c.send("UTF8\r\nUTF8\r\n")
	c.expect("+OK UTF8 enabled.")
	c.expect("+OK UTF8 already enabled.")
	if got := c.pop3Login("bob@example.com", "pw-bob"); got != "old" {
		t.Fatalf("bob landed on %q", got)
	}

	// disable_utf8: not offered, refused, not replayed.
	spec.caps = "allow_plain_auth_without_tls = true\ndisable_utf8 = true\n"
	plain2 := addrOf(t, startApp(t, spec.toml()), "plain")
	c = dialPOP3(t, plain2)
	if caps := c.pop3Capa(); slices.Contains(caps, "UTF8") {
		t.Fatalf("disable_utf8: CAPA %q offers UTF8", caps)
	}
	c.send("UTF8\r\n")
	c.expect("-ERR UTF8 is not available.")
	if got := c.pop3Login("alice@example.com", "pw-alice"); got != "utf8" {
		t.Fatalf("alice landed on %q", got)
	}
	if got := utf8.commands(t, -1); slices.Contains(got, "UTF8") {
		t.Fatalf("backend got UTF8 although the proxy refused it: %q", got)
	}
}
