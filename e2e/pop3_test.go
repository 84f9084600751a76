//go:build linux

package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/e2e/harness"
	"github.com/switchyard-mail/switchyard/e2e/peers"
)

// pop3Env is one switchyard in front of two Dovecots serving POP3: "old"
// (the default destination, told the client address with XCLIENT) and
// "new" (told with a PROXY v2 header on its haproxy=yes listener).
// alice@test is mapped to new; everybody else goes to old.
type pop3Env struct{ loginEnv }

var pop3Suite = loginSuite{
	proto: "pop3", id: "pop3", implicit: true,
	dovecot:  peers.DovecotOptions{POP3: true},
	backends: func(p dovecotPair) (string, string) { return p.old.POP3Addr, p.new.POP3ProxyAddr },
	extra:    plainLogins("pop3"),
}

func startPOP3Env(t *testing.T) *pop3Env { return &pop3Env{startLoginEnv(t, pop3Suite)} }

// TestPOP3 runs real POP3 clients through switchyard to two real Dovecots.
func TestPOP3(t *testing.T) {
	harness.Gate(t)
	runSteps(t, startPOP3Env(t), []step[*pop3Env]{
		{"routing", testPOP3Routing},
		{"client-address", testPOP3ClientAddress},
		{"proxy-listener", testPOP3ProxyListener},
		{"wrong-password", testPOP3WrongPassword},
		{"bad-input", testPOP3BadInput},
		{"utf8", testPOP3UTF8},
		{"flip", testPOP3Flip},
		// Last: it stops and restarts a backend.
		{"backend-down", testPOP3BackendDown},
	})
}

// Every client, every way in: alice lands on new, bob on old.
func testPOP3Routing(t *testing.T, e *pop3Env) {
	drivers := []struct {
		name string
		run  func(testing.TB, POP3Login) (IMAPResult, error)
	}{{"python-poplib", PythonPOP3}, {"curl", CurlPOP3}, {"pop3test", POP3Test}}
	for _, drv := range drivers {
		for _, w := range e.ways("user", "plain") {
			for user, backend := range routedUsers {
				t.Run(w.name(drv.name, user), func(t *testing.T) {
					e.sy.LogOnFailure(t)
					l := e.expectLogin(t, backend, user, "", func() (IMAPResult, error) {
						return drv.run(t, POP3Login{Addr: w.addr, User: user, Password: pw(user), TLS: w.tls, Auth: w.auth})
					})
					if l.Proto != "pop3-login" {
						t.Fatalf("login logged by %s, want pop3-login: %s", l.Proto, l.Line)
					}
				})
			}
		}
	}
}

// The backends log the client's address, not switchyard's: through XCLIENT
// on old and through the PROXY v2 header on new.
func testPOP3ClientAddress(t *testing.T, e *pop3Env) {
	for _, c := range []struct {
		name, user, backend, addr, tls, auth, source string
		run                                          func(testing.TB, POP3Login) (IMAPResult, error)
	}{
		{"python-user-xclient", "bob@test", "old", e.plain, "plain", "user", "127.0.0.7", PythonPOP3},
		{"python-plain-xclient", "carol@test", "old", e.plain, "plain", "plain", "127.0.0.8", PythonPOP3},
		{"python-plain-proxyv2", "alice@test", "new", e.plain, "plain", "plain", "127.0.0.9", PythonPOP3},
		{"curl-pop3s-xclient", "bob@test", "old", e.implicit, "implicit", "plain", "127.0.0.10", CurlPOP3},
		{"curl-pop3s-proxyv2", "alice@test", "new", e.implicit, "implicit", "user", "127.0.0.11", CurlPOP3},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.sy.LogOnFailure(t)
			e.expectLogin(t, c.backend, c.user, c.source, func() (IMAPResult, error) {
				return c.run(t, POP3Login{Addr: c.addr, User: c.user, Password: pw(c.user), TLS: c.tls, Auth: c.auth, Source: c.source})
			})
		})
	}
}

// pop3Retr retrieves message 1 on an authenticated raw connection and
// checks the marker of backend.
func pop3Retr(t testing.TB, c *RawConn, backend string) {
	t.Helper()
	c.Write("RETR 1\r\n")
	if l := c.ReadLine(); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("RETR 1: %q", l)
	}
	var msg []string
	for l := c.ReadLine(); l != "."; l = c.ReadLine() {
		msg = append(msg, l)
	}
	if want := "Subject: " + peers.Marker(backend); !strings.Contains(strings.Join(msg, "\n"), want) {
		t.Fatalf("message 1 is %q, want %q", msg, want)
	}
}

// A listener with proxy_protocol = "required" believes the PROXY header of
// a trusted sender and passes that address on.
func testPOP3ProxyListener(t *testing.T, e *pop3Env) {
	e.testPPListener(t, []ppCase{
		{"v1-to-old-via-xclient", "bob@test", "old", "203.0.113.9", false},
		{"v2-to-new-via-proxy", "alice@test", "new", "203.0.113.10", true},
	}, func(t *testing.T, conn *RawConn, c ppCase) {
		expectLine(t, conn, "+OK")
		// USER and PASS pipelined in one segment.
		conn.Write("USER " + c.user + "\r\nPASS " + pw(c.user) + "\r\n")
		expectLine(t, conn, "+OK")
		expectLine(t, conn, "+OK")
		pop3Retr(t, conn, c.backend)
	})
}

// A wrong password gets Dovecot's -ERR [AUTH], relayed; the client is not
// bridged (STAT is refused by switchyard) and may try again.
func testPOP3WrongPassword(t *testing.T, e *pop3Env) {
	e.testRetry(t, []retryCase{
		{"bob@test", "old", "127.0.0.12"},
		{"alice@test", "new", "127.0.0.13"},
	}, func(t *testing.T, conn *RawConn, c retryCase, d *peers.Dovecot, mark harness.LogMark) {
		expectLine(t, conn, "+OK")
		conn.Write("USER " + c.user + "\r\nPASS not-" + pw(c.user) + "\r\nSTAT\r\n")
		expectLine(t, conn, "+OK")
		if l := expectLine(t, conn, "-ERR"); !strings.Contains(l, "[AUTH]") {
			t.Fatalf("wrong password: %q, want -ERR [AUTH]", l)
		}
		expectLine(t, conn, "-ERR Not logged in.")
		d.AssertNoLogin(t, mark, c.user)
		conn.Write("AUTH PLAIN " + plainIR(c.user, pw(c.user)) + "\r\n")
		expectLine(t, conn, "+OK")
		pop3Retr(t, conn, c.backend)
		d.AssertLoginRIP(t, mark, c.user, c.source)
	})
}

// Bad input: STLS injection, APOP, over-long lines, one byte at a time.
func testPOP3BadInput(t *testing.T, e *pop3Env) {
	t.Run("stls-injection", func(t *testing.T) {
		e.sy.LogOnFailure(t)
		conn := DialRaw(t, e.starttls, "")
		expectLine(t, conn, "+OK")
		conn.Write("STLS\r\nUSER bob@test\r\n")
		expectLine(t, conn, "+OK")
		tc := startClientTLS(t, conn)
		tc.Write("PASS " + pw("bob@test") + "\r\n")
		expectLine(t, tc, "-ERR No username given.")
	})
	t.Run("apop", func(t *testing.T) {
		conn := DialRaw(t, e.plain, "")
		expectLine(t, conn, "+OK")
		conn.Write("APOP bob@test c4c9334bac560ecc979e58001b3e22fb\r\nNOOP\r\n")
		expectLine(t, conn, "-ERR APOP")
		expectLine(t, conn, "+OK")
	})
	t.Run("long-line", func(t *testing.T) {
		conn := DialRaw(t, e.plain, "")
		expectLine(t, conn, "+OK")
		conn.Write("USER " + strings.Repeat("x", 70000) + "\r\n")
		lines := conn.ExpectClosed(10 * time.Second)
		if len(lines) == 0 || !strings.HasPrefix(lines[0], "-ERR") {
			t.Fatalf("over-long line: %q", lines)
		}
	})
	t.Run("bytewise", func(t *testing.T) {
		conn := DialRaw(t, e.plain, "")
		expectLine(t, conn, "+OK")
		for _, b := range []byte("USER bob@test\r\nPASS " + pw("bob@test") + "\r\n") {
			conn.Write(string([]byte{b}))
			time.Sleep(time.Millisecond)
		}
		expectLine(t, conn, "+OK")
		expectLine(t, conn, "+OK")
		pop3Retr(t, conn, "old")
	})
}

// RFC 6856 UTF8: switchyard offers it and says +OK before the login.
// Dovecot 2.3 does not advertise UTF8 (its pop3-login answers "-ERR
// Unknown command"), so switchyard does not repeat it there: the login is
// replayed as usual and the client reads its mail.
func testPOP3UTF8(t *testing.T, e *pop3Env) {
	t.Run("python-poplib", func(t *testing.T) {
		for _, w := range []struct{ addr, tls, auth, user, backend string }{
			{e.plain, "plain", "user", "alice@test", "new"},
			{e.starttls, "starttls", "plain", "bob@test", "old"},
			{e.implicit, "implicit", "user", "carol@test", "old"},
		} {
			t.Run(w.tls+"/"+w.auth, func(t *testing.T) {
				e.sy.LogOnFailure(t)
				l := e.expectLogin(t, w.backend, w.user, "", func() (IMAPResult, error) {
					return PythonPOP3(t, POP3Login{Addr: w.addr, User: w.user, Password: pw(w.user), TLS: w.tls, Auth: w.auth, UTF8: true})
				})
				if l.Proto != "pop3-login" {
					t.Fatalf("login logged by %s: %s", l.Proto, l.Line)
				}
			})
		}
	})
	t.Run("raw-pipelined", func(t *testing.T) {
		e.sy.LogOnFailure(t)
		mark := e.new.Mark()
		conn := DialRaw(t, e.plain, "127.0.0.14")
		expectLine(t, conn, "+OK")
		conn.Write("CAPA\r\n")
		expectLine(t, conn, "+OK")
		var caps []string
		for l := conn.ReadLine(); l != "."; l = conn.ReadLine() {
			caps = append(caps, l)
		}
		if !slices.Contains(caps, "UTF8") {
			t.Fatalf("CAPA %q lacks UTF8", caps)
		}
		conn.Write("UTF8\r\nUSER alice@test\r\nPASS " + pw("alice@test") + "\r\n")
		expectLine(t, conn, "+OK UTF8 enabled.")
		expectLine(t, conn, "+OK")
		expectLine(t, conn, "+OK Logged in.")
		pop3Retr(t, conn, "new")
		e.new.AssertLoginRIP(t, mark, "alice@test", "127.0.0.14")
	})
}

// Editing the mapping file and sending SIGHUP moves an account's next
// login: dave lands on old, his line is added, his next login lands on new
// (the marker message and new's log say so), and alice stays where she was.
func testPOP3Flip(t *testing.T, e *pop3Env) {
	e.sy.LogOnFailure(t)
	user := "dave@test"
	t.Cleanup(func() {
		harness.WriteMapping(t, e.mapping, baseMapping...)
		e.sy.Reload(t)
	})
	login := func(backend string) error {
		d := e.dovecot(backend)
		mark := d.Mark()
		res, err := PythonPOP3(t, POP3Login{Addr: e.plain, User: user, Password: pw(user), Auth: "plain"})
		if err != nil {
			return err
		}
		if res.Subject != peers.Marker(backend) {
			return fmt.Errorf("%s landed on %q, want %q", user, res.Subject, peers.Marker(backend))
		}
		for _, l := range d.Logins(mark) {
			if l.User == user && l.Proto == "pop3-login" {
				return nil
			}
		}
		return fmt.Errorf("no pop3-login of %s in %s's log yet", user, backend)
	}
	if err := harness.Eventually(5*time.Second, func() error { return login("old") }); err != nil {
		t.Fatalf("before the flip: %v", err)
	}
	harness.WriteMapping(t, e.mapping, append(append([]string{}, baseMapping...), user+" new")...)
	e.sy.Reload(t)
	if err := harness.Eventually(5*time.Second, func() error { return login("new") }); err != nil {
		t.Fatalf("after the flip: %v", err)
	}
	res, err := PythonPOP3(t, POP3Login{Addr: e.plain, User: "alice@test", Password: pw("alice@test")})
	ExpectMarker(t, res, err, "new")
	// And back.
	harness.WriteMapping(t, e.mapping, baseMapping...)
	e.sy.Reload(t)
	if err := harness.Eventually(5*time.Second, func() error { return login("old") }); err != nil {
		t.Fatalf("after flipping back: %v", err)
	}
}

// A stopped backend gets -ERR [SYS/TEMP]; once restarted it serves again.
func testPOP3BackendDown(t *testing.T, e *pop3Env) {
	e.sy.LogOnFailure(t)
	e.new.Stop(t)
	conn := DialRaw(t, e.plain, "")
	expectLine(t, conn, "+OK")
	conn.Write("USER alice@test\r\nPASS " + pw("alice@test") + "\r\n")
	expectLine(t, conn, "+OK")
	expectLine(t, conn, "-ERR [SYS/TEMP]")
	e.new.Restart(t)
	err := harness.Eventually(10*time.Second, func() error {
		res, err := PythonPOP3(t, POP3Login{Addr: e.plain, User: "alice@test", Password: pw("alice@test")})
		if err != nil {
			return err
		}
		if res.Subject != peers.Marker("new") {
			return fmt.Errorf("subject %q", res.Subject)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
}
