//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/e2e/harness"
	"github.com/switchyard-mail/switchyard/e2e/peers"
)

// imapEnv is one switchyard in front of two Dovecots: "old" (the default
// destination, told the client address with IMAP ID) and "new" (told with
// a PROXY v2 header on its haproxy=yes listener). alice@test is mapped to
// new; everybody else goes to old.
type imapEnv struct {
	loginEnv
	idle string // the listener for many idle clients
}

var imapSuite = loginSuite{
	proto: "imap", id: "imap", implicit: true,
	backends: func(p dovecotPair) (string, string) { return p.old.IMAPAddr, p.new.IMAPProxyAddr },
	tune: func(c *harness.SwitchyardConfig) {
		// 2000 idle clients from one address: above the per-address default.
		c.Listeners = append(c.Listeners, harness.SYListener{ID: "imap-idle", Protocol: "imap", TLS: "plain",
			PreauthTimeout: "2s", MaxConnections: 5000, MaxConnectionsPerIP: 5000})
		c.AllowPlainAuthWithoutTLS = true
		c.IMAPSASL = []string{"PLAIN", "LOGIN"}
	},
}

func startIMAPEnv(t *testing.T) *imapEnv {
	t.Helper()
	e := &imapEnv{loginEnv: startLoginEnv(t, imapSuite)}
	e.idle = e.sy.Addr(t, "imap-idle")
	return e
}

// TestIMAP runs real IMAP clients through switchyard to two real Dovecots.
func TestIMAP(t *testing.T) {
	harness.Gate(t)
	runSteps(t, startIMAPEnv(t), []step[*imapEnv]{
		{"routing", testIMAPRouting},
		{"client-address", testIMAPClientAddress},
		{"proxy-listener", testIMAPProxyListener},
		{"wrong-password", testIMAPWrongPassword},
		{"flip", testIMAPFlip},
		{"bad-input", testIMAPBadInput},
		{"idle-connections", testIMAPIdleConnections},
		// Last: it stops and restarts a backend.
		{"backend-down", testIMAPBackendDown},
	})
}

// Every client, every way in: alice lands on new, bob on old.
func testIMAPRouting(t *testing.T, e *imapEnv) {
	// Each listener with LOGIN and AUTHENTICATE PLAIN; the plaintext one
	// with AUTHENTICATE LOGIN too.
	ways := slices.Insert(e.ways("login", "plain"), 2, loginWay{e.plain, "plain", "sasl-login"})
	for _, drv := range IMAPDrivers {
		for _, w := range ways {
			for user, backend := range routedUsers {
				o := IMAPLogin{Addr: w.addr, User: user, Password: pw(user), TLS: w.tls, Auth: w.auth}
				if !drv.Supports(o) {
					continue
				}
				t.Run(w.name(drv.Name, user), func(t *testing.T) {
					e.sy.LogOnFailure(t)
					// Dovecot logged the login on that backend.
					e.expectLogin(t, backend, o.User, "", func() (IMAPResult, error) { return drv.Run(t, o) })
				})
			}
		}
	}
}

// The backends log the client's address, not switchyard's: through ID
// x-originating-ip on old and through the PROXY v2 header on new.
func testIMAPClientAddress(t *testing.T, e *imapEnv) {
	cases := []struct {
		name, user, backend, addr, tls, source string
		run                                    func(testing.TB, IMAPLogin) (IMAPResult, error)
	}{
		{"python-plain-id", "bob@test", "old", e.plain, "plain", "127.0.0.7", PythonIMAP},
		{"python-plain-proxyv2", "alice@test", "new", e.plain, "plain", "127.0.0.7", PythonIMAP},
		{"curl-imaps-id", "bob@test", "old", e.implicit, "implicit", "127.0.0.8", CurlIMAP},
		{"curl-imaps-proxyv2", "alice@test", "new", e.implicit, "implicit", "127.0.0.8", CurlIMAP},
		{"python-starttls-id", "bob@test", "old", e.starttls, "starttls", "127.0.0.10", PythonIMAP},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.sy.LogOnFailure(t)
			e.expectLogin(t, c.backend, c.user, c.source, func() (IMAPResult, error) {
				return c.run(t, IMAPLogin{Addr: c.addr, User: c.user, Password: pw(c.user), TLS: c.tls, Auth: "plain", Source: c.source})
			})
		})
	}
}

// A listener with proxy_protocol = "required" believes the PROXY header of
// a trusted sender and passes that address on to the backend.
func testIMAPProxyListener(t *testing.T, e *imapEnv) {
	e.testPPListener(t, []ppCase{
		{"v1-to-old-via-id", "bob@test", "old", "203.0.113.9", false},
		{"v1-to-new-via-proxy", "alice@test", "new", "203.0.113.9", false},
		{"v2-to-old-via-id", "bob@test", "old", "203.0.113.10", true},
	}, func(t *testing.T, conn *RawConn, c ppCase) {
		conn.Greeting()
		_, tagged := conn.Command("a1", "LOGIN "+Quote(c.user)+" "+Quote(pw(c.user)))
		if !strings.HasPrefix(tagged, "a1 OK") {
			t.Fatalf("LOGIN through the PROXY listener: %q", tagged)
		}
		expectSubject(t, conn, c.backend)
	})
	t.Run("no-header-refused", func(t *testing.T) {
		e.sy.LogOnFailure(t)
		conn := DialRaw(t, e.pp, "")
		conn.Write("a1 LOGIN " + Quote("bob@test") + " " + Quote(pw("bob@test")) + "\r\n")
		lines := conn.ExpectClosed(10 * time.Second)
		for _, l := range lines {
			if strings.HasPrefix(l, "a1 OK") || strings.HasPrefix(l, "* OK") {
				t.Fatalf("a proxy_protocol=required listener served a client without a header: %q", lines)
			}
		}
	})
}

// expectSubject examines INBOX on an authenticated RawConn and checks the
// marker of backend.
func expectSubject(t testing.TB, c *RawConn, backend string) {
	t.Helper()
	if _, tagged := c.Command("x1", "EXAMINE INBOX"); !strings.HasPrefix(tagged, "x1 OK") {
		t.Fatalf("EXAMINE INBOX: %q", tagged)
	}
	untagged, tagged := c.Command("x2", "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	if !strings.HasPrefix(tagged, "x2 OK") {
		t.Fatalf("FETCH: %q", tagged)
	}
	want := "Subject: " + peers.Marker(backend)
	if !strings.Contains(strings.Join(untagged, "\n"), want) {
		t.Fatalf("FETCH returned %q, want %q", untagged, want)
	}
}

// A wrong password gets NO from the backend, relayed; the client is not
// bridged (a following SELECT is refused by switchyard, not answered by
// Dovecot) and may try again on the same connection.
func testIMAPWrongPassword(t *testing.T, e *imapEnv) {
	e.testRetry(t, []retryCase{
		{"bob@test", "old", "127.0.0.11"},
		{"alice@test", "new", "127.0.0.12"},
	}, func(t *testing.T, conn *RawConn, c retryCase, d *peers.Dovecot, mark harness.LogMark) {
		conn.Greeting()
		_, tagged := conn.Command("a1", "LOGIN "+Quote(c.user)+" "+Quote("not-"+pw(c.user)))
		if !strings.HasPrefix(tagged, "a1 NO") {
			t.Fatalf("wrong password: got %q, want a1 NO", tagged)
		}
		if strings.Contains(tagged, "[UNAVAILABLE]") {
			t.Fatalf("wrong password reported as an unavailable backend: %q", tagged)
		}
		untagged, tagged := conn.Command("a2", "SELECT INBOX")
		if !strings.HasPrefix(tagged, "a2 BAD") && !strings.HasPrefix(tagged, "a2 NO") {
			t.Fatalf("SELECT after a failed login: got %q, want a2 BAD/NO from switchyard", tagged)
		}
		for _, l := range untagged {
			if strings.Contains(l, "EXISTS") || strings.Contains(l, "FLAGS") {
				t.Fatalf("SELECT after a failed login reached a mailbox: %q", untagged)
			}
		}
		d.AssertNoLogin(t, mark, c.user)
		// The same connection can still log in.
		_, tagged = conn.Command("a3", "LOGIN "+Quote(c.user)+" "+Quote(pw(c.user)))
		if !strings.HasPrefix(tagged, "a3 OK") {
			t.Fatalf("retry with the right password: %q", tagged)
		}
		expectSubject(t, conn, c.backend)
	})
}

// Editing the mapping file moves an account's next login: after SIGHUP,
// and without it (the file watcher), for in-place writes and renames.
func testIMAPFlip(t *testing.T, e *imapEnv) {
	user := "carol@test"
	t.Cleanup(func() { harness.WriteMapping(t, e.mapping, baseMapping...) })
	expect := func(t *testing.T, backend string) {
		t.Helper()
		err := harness.Eventually(5*time.Second, func() error {
			s, err := IMAPSubject(e.plain, "", user, pw(user))
			if err != nil {
				return err
			}
			if s != peers.Marker(backend) {
				return fmt.Errorf("%s landed on %q", user, s)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s should move to %s: %v", user, backend, err)
		}
	}
	expect(t, "old")
	flipped := append(append([]string{}, baseMapping...), user+" new")

	t.Run("sighup", func(t *testing.T) {
		e.sy.LogOnFailure(t)
		harness.WriteMapping(t, e.mapping, flipped...)
		e.sy.Reload(t)
		expect(t, "new")
	})
	t.Run("watch-rename", func(t *testing.T) {
		e.sy.LogOnFailure(t)
		harness.ReplaceMapping(t, e.mapping, baseMapping...)
		expect(t, "old")
	})
	t.Run("watch-in-place", func(t *testing.T) {
		e.sy.LogOnFailure(t)
		harness.WriteMapping(t, e.mapping, flipped...)
		expect(t, "new")
	})
	t.Run("watch-back", func(t *testing.T) {
		e.sy.LogOnFailure(t)
		harness.WriteMapping(t, e.mapping, baseMapping...)
		expect(t, "old")
		// alice did not move with carol.
		s, err := IMAPSubject(e.plain, "", "alice@test", pw("alice@test"))
		if err != nil || s != peers.Marker("new") {
			t.Fatalf("alice: %q, %v; want %q", s, err, peers.Marker("new"))
		}
	})
}

func testIMAPBadInput(t *testing.T, e *imapEnv) {
	t.Run("long-line", func(t *testing.T) {
		e.sy.LogOnFailure(t)
		c := DialRaw(t, e.plain, "")
		c.Greeting()
		// 1 MiB without a line end, written while we read: switchyard may
		// answer and close before it has all of it.
		go func() {
			_ = c.Conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			_, _ = c.Conn.Write(bytes.Repeat([]byte("x"), 1<<20))
		}()
		lines := c.ExpectClosed(10 * time.Second)
		if len(lines) == 0 || !strings.HasPrefix(lines[0], "* BAD") {
			t.Fatalf("over-long line: got %q before close, want \"* BAD ...\"", lines)
		}
	})
	for name, lit := range map[string]string{"sync": "{1000000000}", "nonsync": "{1000000000+}"} {
		lit := lit
		t.Run("long-literal-"+name, func(t *testing.T) {
			e.sy.LogOnFailure(t)
			c := DialRaw(t, e.plain, "")
			c.Greeting()
			c.Write("a1 LOGIN " + lit + "\r\n")
			l, err := c.TryReadLine()
			if err != nil {
				t.Fatalf("over-long literal %s: no answer: %v", lit, err)
			}
			if strings.HasPrefix(l, "+") {
				t.Fatalf("over-long literal %s: switchyard asked for it: %q", lit, l)
			}
			if !strings.HasPrefix(l, "a1 BAD") && !strings.HasPrefix(l, "* BAD") {
				t.Fatalf("over-long literal %s: got %q, want BAD", lit, l)
			}
		})
	}
	t.Run("starttls-injection", func(t *testing.T) {
		e.sy.LogOnFailure(t)
		conn, err := net.DialTimeout("tcp", e.starttls, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
		// Read byte by byte so that nothing after "a1 OK" is buffered here.
		readLine := func() string {
			var b []byte
			one := make([]byte, 1)
			for {
				if _, err := io.ReadFull(conn, one); err != nil {
					t.Fatalf("read: %v (got %q)", err, b)
				}
				if one[0] == '\n' {
					return strings.TrimRight(string(b), "\r")
				}
				b = append(b, one[0])
			}
		}
		if g := readLine(); !strings.HasPrefix(g, "* OK") {
			t.Fatalf("greeting %q", g)
		}
		inject := "a2 LOGIN " + Quote("bob@test") + " " + Quote(pw("bob@test")) + "\r\n"
		if _, err := io.WriteString(conn, "a1 STARTTLS\r\n"+inject); err != nil {
			t.Fatal(err)
		}
		for {
			l := readLine()
			if strings.HasPrefix(l, "a1 ") {
				if !strings.HasPrefix(l, "a1 OK") {
					t.Fatalf("STARTTLS: %q", l)
				}
				break
			}
			if strings.HasPrefix(l, "a2 ") {
				t.Fatalf("the injected command was answered before the TLS handshake: %q", l)
			}
		}
		tc := tls.Client(conn, e.cert.ClientTLS("mail.test"))
		if err := tc.Handshake(); err != nil {
			t.Fatalf("TLS handshake after STARTTLS (with injected bytes): %v", err)
		}
		r := &RawConn{t: t, Conn: tc, R: bufio.NewReader(tc), ReadTimeout: 10 * time.Second}
		untagged, tagged := r.Command("a3", "NOOP")
		for _, l := range untagged {
			if strings.HasPrefix(l, "a2 ") {
				t.Fatalf("the injected command was answered after the TLS handshake: %q", l)
			}
		}
		if !strings.HasPrefix(tagged, "a3 OK") {
			t.Fatalf("NOOP after STARTTLS: %q", tagged)
		}
		// The injected LOGIN was not executed: still not authenticated.
		if _, tagged := r.Command("a4", "EXAMINE INBOX"); strings.HasPrefix(tagged, "a4 OK") {
			t.Fatalf("the injected LOGIN took effect: EXAMINE answered %q", tagged)
		}
	})
	t.Run("one-byte-at-a-time", func(t *testing.T) {
		e.sy.LogOnFailure(t)
		c := DialRaw(t, e.plain, "")
		c.Greeting()
		login := "a1 LOGIN " + Quote("bob@test") + " " + Quote(pw("bob@test")) + "\r\n"
		for i := 0; i < len(login); i++ {
			c.Write(login[i : i+1])
			time.Sleep(5 * time.Millisecond)
		}
		tagged := ""
		for tagged == "" {
			l := c.ReadLine()
			if strings.HasPrefix(l, "a1 ") {
				tagged = l
			}
		}
		if !strings.HasPrefix(tagged, "a1 OK") {
			t.Fatalf("LOGIN sent one byte at a time: %q", tagged)
		}
		expectSubject(t, c, "old")
	})
}

// 2000 connections that never send a byte are all closed after the
// listener's preauth_timeout (2s), and switchyard's memory stays bounded.
func testIMAPIdleConnections(t *testing.T, e *imapEnv) {
	e.sy.LogOnFailure(t)
	const n = 2000
	const rssBoundKiB = 200 * 1024
	pid := e.sy.Proc.PID()
	fdsBefore, err := harness.OpenFDs(pid)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		greeting string
		openFor  time.Duration
		err      error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	opened := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			start := time.Now() // before the dial: switchyard's clock starts at accept
			c, err := net.DialTimeout("tcp", e.idle, 10*time.Second)
			<-sem
			if err != nil {
				results[i].err = err
				opened <- struct{}{}
				return
			}
			defer c.Close()
			// Only so that a connection never closed ends the test.
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			r := bufio.NewReader(c)
			g, err := r.ReadString('\n')
			results[i].greeting = g
			opened <- struct{}{}
			if err != nil {
				results[i].err = fmt.Errorf("no greeting: %w", err)
				return
			}
			_, err = io.Copy(io.Discard, r)
			results[i].openFor = time.Since(start)
			if err != nil {
				results[i].err = fmt.Errorf("not closed by switchyard: %w", err)
			}
		}(i)
	}
	for i := 0; i < n; i++ {
		<-opened
	}
	rss := e.sy.RSSKiB(t)
	t.Logf("%d idle connections open: switchyard RSS %d KiB", n, rss)
	wg.Wait()

	var failed []string
	for i, r := range results {
		switch {
		case r.err != nil:
			failed = append(failed, fmt.Sprintf("#%d: %v", i, r.err))
		case !strings.HasPrefix(r.greeting, "* OK"):
			failed = append(failed, fmt.Sprintf("#%d: greeting %q", i, r.greeting))
		case r.openFor < 2*time.Second:
			// A deadline never fires early: this cannot flake. How late
			// the close comes on a busy machine is not asserted.
			failed = append(failed, fmt.Sprintf("#%d: closed after %v, before the 2s preauth_timeout", i, r.openFor))
		}
	}
	if len(failed) > 0 {
		if len(failed) > 10 {
			failed = append(failed[:10], fmt.Sprintf("... and %d more", len(failed)-10))
		}
		t.Fatalf("%d idle connections:\n%s", n, strings.Join(failed, "\n"))
	}
	if rss > rssBoundKiB {
		t.Fatalf("switchyard RSS with %d idle connections: %d KiB, want < %d KiB", n, rss, rssBoundKiB)
	}
	// Every descriptor is given back.
	err = harness.Eventually(5*time.Second, func() error {
		fds, err := harness.OpenFDs(pid)
		if err != nil {
			return err
		}
		if fds > fdsBefore+16 {
			return fmt.Errorf("switchyard holds %d descriptors, %d before the idle connections", fds, fdsBefore)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A stopped backend gets NO [UNAVAILABLE]; accounts elsewhere are not
// affected; when it comes back, its accounts log in again.
func testIMAPBackendDown(t *testing.T, e *imapEnv) {
	e.sy.LogOnFailure(t)
	e.new.Stop(t)
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			e.new.Restart(t)
		}
	})
	c := DialRaw(t, e.plain, "")
	c.Greeting()
	_, tagged := c.Command("a1", "LOGIN "+Quote("alice@test")+" "+Quote(pw("alice@test")))
	if !strings.HasPrefix(tagged, "a1 NO [UNAVAILABLE]") {
		t.Fatalf("login to a stopped backend: got %q, want \"a1 NO [UNAVAILABLE] ...\"", tagged)
	}
	res, err := PythonIMAP(t, IMAPLogin{Addr: e.plain, User: "alice@test", Password: pw("alice@test")})
	if err == nil || !strings.Contains(err.Error(), "UNAVAILABLE") {
		t.Fatalf("python imaplib against a stopped backend: %v %q; want an UNAVAILABLE error", err, res.Output)
	}
	if s, err := IMAPSubject(e.plain, "", "bob@test", pw("bob@test")); err != nil || s != peers.Marker("old") {
		t.Fatalf("bob while new is down: %q, %v", s, err)
	}
	e.new.Restart(t)
	restarted = true
	err = harness.Eventually(20*time.Second, func() error {
		s, err := IMAPSubject(e.plain, "", "alice@test", pw("alice@test"))
		if err != nil {
			return err
		}
		if s != peers.Marker("new") {
			return fmt.Errorf("alice landed on %q", s)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("alice after new came back: %v", err)
	}
}
