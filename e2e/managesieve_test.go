//go:build linux

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/e2e/harness"
	"github.com/switchyard-mail/switchyard/e2e/peers"
)

// sieveEnv is one switchyard in front of two Dovecots serving ManageSieve:
// "old" (default, told the client address with XCLIENT) and "new" (PROXY
// v2 on its haproxy=yes listener). alice@test is mapped to new.
type sieveEnv struct{ loginEnv }

// sieveSuite has no implicit TLS listener: ManageSieve has none.
var sieveSuite = loginSuite{
	proto: "managesieve", id: "sieve",
	dovecot:  peers.DovecotOptions{ManageSieve: true},
	backends: func(p dovecotPair) (string, string) { return p.old.SieveAddr, p.new.SieveProxyAddr },
	extra:    plainLogins("managesieve"),
}

func startSieveEnv(t *testing.T) *sieveEnv { return &sieveEnv{startLoginEnv(t, sieveSuite)} }

// TestManageSieve runs sieve-connect and raw sessions through switchyard
// to two real Dovecots (Pigeonhole).
func TestManageSieve(t *testing.T) {
	harness.Gate(t)
	runSteps(t, startSieveEnv(t), []step[*sieveEnv]{
		{"sieve-connect", testSieveConnect},
		{"sivtest", testSivTest},
		{"client-address", testSieveClientAddress},
		{"wrong-password", testSieveWrongPassword},
		{"flip", testSieveFlip},
		{"backend-down", testSieveBackendDown},
	})
}

// sieveConnect runs sieve-connect with the password on stdin.
func sieveConnect(t testing.TB, addr, user, password string, args ...string) (string, error) {
	t.Helper()
	bin := harness.RequireBinary(t, "sieve-connect")
	host, p, _ := strings.Cut(addr, ":")
	all := append([]string{"--server", host, "--port", p, "--user", user, "--passwordfd", "0",
		"--notlsverify", "--authmech", "PLAIN"}, args...)
	stdout, stderr, err := harness.RunBounded(20*time.Second, []byte(password+"\n"), bin, all...)
	if err != nil {
		return stdout + stderr, fmt.Errorf("sieve-connect %s: %v: %s%s", strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout + stderr, nil
}

// sieve-connect uploads, lists and activates a script through STARTTLS;
// the script lands in the mapped backend's home directory.
func testSieveConnect(t *testing.T, e *sieveEnv) {
	for user, backend := range routedUsers {
		e.onBackend(t, user, backend, func(t *testing.T, d *peers.Dovecot, mark harness.LogMark) {
			script := filepath.Join(t.TempDir(), "e2e.sieve")
			if err := os.WriteFile(script, []byte("require \"fileinto\";\nfileinto \"INBOX\";\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			name := "e2e-" + strings.Split(user, "@")[0]
			if _, err := sieveConnect(t, e.starttls, user, pw(user), "--upload", "--localsieve", script, "--remotesieve", name); err != nil {
				t.Fatal(err)
			}
			out, err := sieveConnect(t, e.starttls, user, pw(user), "--list")
			if err != nil || !strings.Contains(out, name) {
				t.Fatalf("list: %v: %q", err, out)
			}
			if _, err := sieveConnect(t, e.starttls, user, pw(user), "--activate", "--remotesieve", name); err != nil {
				t.Fatal(err)
			}
			stored := filepath.Join(d.Dir, "home", user, "sieve", name+".sieve")
			if _, err := os.Stat(stored); err != nil {
				t.Fatalf("script not on %s: %v", backend, err)
			}
			if l := d.WaitLogin(t, mark, user); l.Proto != "managesieve-login" {
				t.Fatalf("login logged by %s: %s", l.Proto, l.Line)
			}
		})
	}
}

// Cyrus sivtest (STARTTLS, or none where the listener allows it; SASL
// PLAIN) uploads a script with PUTSCRIPT and lists it: the script lands in
// the mapped backend's home and only there, and that backend logs the
// login.
func testSivTest(t *testing.T, e *sieveEnv) {
	for _, c := range []struct{ addr, tls, user, backend, other string }{
		{e.starttls, "starttls", "alice@test", "new", "old"},
		{e.starttls, "starttls", "bob@test", "old", "new"},
		{e.plain, "plain", "alice@test", "new", "old"},
		{e.plain, "plain", "carol@test", "old", "new"},
	} {
		e.onBackend(t, c.tls+"/"+c.user, c.backend, func(t *testing.T, d *peers.Dovecot, mark harness.LogMark) {
			name := "sivtest-" + c.tls
			out, err := SivTest(t, CyrusLogin{Addr: c.addr, User: c.user, Password: pw(c.user), Mech: "PLAIN", TLS: c.tls,
				Script: "PUTSCRIPT \"" + name + "\" " + SieveLiteral("require \"fileinto\";\nkeep;\n") + "\r\nLISTSCRIPTS\r\n"})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, `OK "PUTSCRIPT completed."`) || !strings.Contains(out, `"`+name+`"`) {
				t.Fatalf("sivtest: PUTSCRIPT or LISTSCRIPTS failed:\n%s", out)
			}
			if c.tls == "starttls" && !strings.Contains(out, "TLS connection established") {
				t.Fatalf("sivtest did not start TLS:\n%s", out)
			}
			home := func(backend string) string {
				return filepath.Join(e.dovecot(backend).Dir, "home", c.user, "sieve", name+".sieve")
			}
			if _, err := os.Stat(home(c.backend)); err != nil {
				t.Fatalf("script not on %s: %v", c.backend, err)
			}
			if _, err := os.Stat(home(c.other)); err == nil {
				t.Fatalf("script also on %s", c.other)
			}
			if l := d.WaitLogin(t, mark, c.user); l.Proto != "managesieve-login" || l.Method != "PLAIN" {
				t.Fatalf("login logged by %s with %s, want managesieve-login PLAIN: %s", l.Proto, l.Method, l.Line)
			}
		})
	}
}

func sieveGreeting(t testing.TB, c *RawConn) []string {
	t.Helper()
	var caps []string
	for {
		l := c.ReadLine()
		if strings.HasPrefix(l, "OK") {
			return caps
		}
		if strings.HasPrefix(l, "NO") || strings.HasPrefix(l, "BYE") {
			t.Fatalf("greeting: %q", l)
		}
		caps = append(caps, l)
	}
}

// The backends log the client's address: via XCLIENT on old, PROXY v2 on
// new; and a PROXY header on switchyard's listener is believed.
func testSieveClientAddress(t *testing.T, e *sieveEnv) {
	for _, c := range []struct {
		name, user, backend, source, claim string
		literal                            bool
	}{
		{"xclient-quoted-ir", "bob@test", "old", "127.0.0.7", "", false},
		{"proxyv2-literal-ir", "alice@test", "new", "127.0.0.8", "", true},
		{"pp-listener-xclient", "carol@test", "old", "", "203.0.113.9", false},
		{"pp-listener-proxyv2", "alice@test", "new", "", "203.0.113.10", true},
	} {
		e.onBackend(t, c.name, c.backend, func(t *testing.T, d *peers.Dovecot, mark harness.LogMark) {
			addr, want := e.plain, c.source
			if c.claim != "" {
				addr, want = e.pp, c.claim
			}
			conn := DialRaw(t, addr, c.source)
			if c.claim != "" {
				conn.Write(ProxyV1Header(c.claim+":40001", e.pp))
			}
			sieveGreeting(t, conn)
			ir := plainIR(c.user, pw(c.user))
			if c.literal {
				conn.Write(fmt.Sprintf("AUTHENTICATE \"PLAIN\" {%d+}\r\n%s\r\n", len(ir), ir))
			} else {
				conn.Write("AUTHENTICATE \"PLAIN\" \"" + ir + "\"\r\n")
			}
			expectLine(t, conn, "OK")
			conn.Write("LISTSCRIPTS\r\n")
			for l := conn.ReadLine(); !strings.HasPrefix(l, "OK"); l = conn.ReadLine() {
				if strings.HasPrefix(l, "NO") {
					t.Fatalf("LISTSCRIPTS: %q", l)
				}
			}
			d.AssertLoginRIP(t, mark, c.user, want)
		})
	}
}

// A wrong password gets Dovecot's NO, relayed; the session is not bridged
// and may retry (multi-step LOGIN, quoted and literal responses).
func testSieveWrongPassword(t *testing.T, e *sieveEnv) {
	e.sy.LogOnFailure(t)
	d := e.old
	mark := d.Mark()
	conn := DialRaw(t, e.plain, "")
	sieveGreeting(t, conn)
	conn.Write("AUTHENTICATE \"PLAIN\" \"" + plainIR("bob@test", "wrong") + "\"\r\nLISTSCRIPTS\r\n")
	if l := expectLine(t, conn, "NO"); strings.Contains(l, "TRYLATER") {
		t.Fatalf("wrong password reported as unavailable: %q", l)
	}
	expectLine(t, conn, `NO "Not authenticated."`)
	d.AssertNoLogin(t, mark, "bob@test")
	conn.Write("AUTHENTICATE \"LOGIN\"\r\n")
	expectLine(t, conn, `"VXNlcm5hbWU6"`)
	conn.Write(`"` + b64("bob@test") + "\"\r\n")
	expectLine(t, conn, `"UGFzc3dvcmQ6"`)
	p := b64(pw("bob@test"))
	conn.Write(fmt.Sprintf("{%d+}\r\n%s\r\n", len(p), p))
	expectLine(t, conn, "OK")
	d.WaitLogin(t, mark, "bob@test")
}

// Editing the mapping file and sending SIGHUP moves an account's next
// login: dave's script goes to old's home, his line is added, and the next
// script sieve-connect uploads lands in new's home, with the login in new's
// log.
func testSieveFlip(t *testing.T, e *sieveEnv) {
	e.sy.LogOnFailure(t)
	user := "dave@test"
	t.Cleanup(func() {
		harness.WriteMapping(t, e.mapping, baseMapping...)
		e.sy.Reload(t)
	})
	script := filepath.Join(t.TempDir(), "flip.sieve")
	if err := os.WriteFile(script, []byte("keep;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	upload := func(backend, name string) error {
		d := e.dovecot(backend)
		mark := d.Mark()
		if _, err := sieveConnect(t, e.starttls, user, pw(user), "--upload", "--localsieve", script, "--remotesieve", name); err != nil {
			return err
		}
		stored := filepath.Join(d.Dir, "home", user, "sieve", name+".sieve")
		if _, err := os.Stat(stored); err != nil {
			return fmt.Errorf("script %s not on %s: %v", name, backend, err)
		}
		for _, l := range d.Logins(mark) {
			if l.User == user && l.Proto == "managesieve-login" {
				return nil
			}
		}
		return fmt.Errorf("no managesieve-login of %s in %s's log yet", user, backend)
	}
	if err := harness.Eventually(5*time.Second, func() error { return upload("old", "flip-before") }); err != nil {
		t.Fatalf("before the flip: %v", err)
	}
	harness.WriteMapping(t, e.mapping, append(append([]string{}, baseMapping...), user+" new")...)
	e.sy.Reload(t)
	if err := harness.Eventually(5*time.Second, func() error { return upload("new", "flip-after") }); err != nil {
		t.Fatalf("after the flip: %v", err)
	}
	// The script uploaded before the flip stayed on old.
	if _, err := os.Stat(filepath.Join(e.new.Dir, "home", user, "sieve", "flip-before.sieve")); err == nil {
		t.Fatalf("flip-before.sieve is on new: it was uploaded before the flip")
	}
}

// A stopped backend gets NO (TRYLATER).
func testSieveBackendDown(t *testing.T, e *sieveEnv) {
	e.sy.LogOnFailure(t)
	e.new.Stop(t)
	conn := DialRaw(t, e.plain, "")
	sieveGreeting(t, conn)
	conn.Write("AUTHENTICATE \"PLAIN\" \"" + plainIR("alice@test", pw("alice@test")) + "\"\r\n")
	expectLine(t, conn, "NO (TRYLATER)")
	e.new.Restart(t)
}
