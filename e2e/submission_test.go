//go:build linux

package e2e

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/e2e/harness"
	"github.com/switchyard-mail/switchyard/e2e/peers"
)

// submissionEnv is one switchyard in front of two Postfix submission
// services that authenticate through one Dovecot: "old" (the default
// destination, told the client address with XCLIENT) and "new" (told with
// a PROXY v2 header). alice@test is mapped to new.
type submissionEnv struct {
	old, new *peers.Postfix
	dovecot  *peers.Dovecot
	sy       *harness.Switchyard
	mapping  string

	plain, starttls, implicit string
}

// clientSource is the address the test clients bind to, so that the
// client address a backend logs (127.0.0.7) differs from the proxy's
// (127.0.0.1).
const clientSource = "127.0.0.7"

func startSubmissionEnv(t *testing.T) *submissionEnv {
	t.Helper()
	harness.RequireBinary(t, "dovecot")
	harness.RequireBinary(t, "postfix")
	e := &submissionEnv{}
	oldDir, newDir := peers.PostfixSocketDir(t, "old"), peers.PostfixSocketDir(t, "new")
	oldSock, newSock := filepath.Join(oldDir, "dovecot-auth"), filepath.Join(newDir, "dovecot-auth")
	e.dovecot = peers.StartDovecot(t, "sasl", peers.DovecotOptions{Extra: peers.DovecotAuthListener(oldSock, newSock)})
	if err := harness.Eventually(5*time.Second, func() error {
		for _, s := range []string{oldSock, newSock} {
			c, err := net.Dial("unix", s)
			if err != nil {
				return err
			}
			c.Close()
		}
		return nil
	}); err != nil {
		t.Fatalf("dovecot auth socket: %v", err)
	}
	e.old = peers.StartPostfix(t, "old", oldDir, peers.PostfixOptions{AuthSocket: oldSock})
	e.new = peers.StartPostfix(t, "new", newDir, peers.PostfixOptions{AuthSocket: newSock, ProxyProtocol: true})

	cert, mapping := proxyCertMapping(t, "alice@test new")
	e.mapping = mapping
	e.sy = harness.StartSwitchyardConfig(t, harness.SwitchyardConfig{
		Cert: &cert,
		Listeners: []harness.SYListener{
			{ID: "submission-plain", Protocol: "submission", TLS: "plain"},
			{ID: "submission", Protocol: "submission", TLS: "starttls"},
			{ID: "submissions", Protocol: "submission", TLS: "implicit"},
		},
		Destinations:       oldNewDestinations("submission", port(t, e.old.SubmissionAddr), port(t, e.new.SubmissionAddr)),
		DefaultDestination: "old",
		MappingFile:        e.mapping,
		Extra:              "\n[capabilities.submission]\nallow_plain_auth_without_tls = true\n",
	})
	e.plain, e.starttls, e.implicit = e.sy.Addr(t, "submission-plain"), e.sy.Addr(t, "submission"), e.sy.Addr(t, "submissions")
	return e
}

// swaks sends one message and returns its transcript; it fails the test
// unless swaks succeeds.
func swaks(t *testing.T, addr, user, pass string, args ...string) string {
	t.Helper()
	bin := harness.RequireBinary(t, "swaks")
	all := append([]string{"--server", addr, "--local-interface", clientSource, "--helo", "laptop.test",
		"--from", user, "--to", "rcpt@example.net", "--auth-user", user, "--auth-password", pass,
		"--timeout", "15", "--header", "Subject: switchyard e2e"}, args...)
	out, err := exec.Command(bin, all...).CombinedOutput()
	if err != nil {
		t.Fatalf("swaks %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if !strings.Contains(string(out), "250 2.0.0 Ok: queued as") {
		t.Fatalf("swaks: message not queued\n%s", out)
	}
	return string(out)
}

func TestSubmission(t *testing.T) {
	harness.Gate(t)
	e := startSubmissionEnv(t)
	defer e.sy.LogOnFailure(t)

	clients := []struct {
		name string
		addr string
		args []string
	}{
		{"swaks PLAIN STARTTLS", e.starttls, []string{"--auth", "PLAIN", "--tls"}},
		{"swaks LOGIN STARTTLS", e.starttls, []string{"--auth", "LOGIN", "--tls"}},
		{"swaks PLAIN implicit TLS", e.implicit, []string{"--auth", "PLAIN", "--tls-on-connect"}},
		{"swaks LOGIN implicit TLS", e.implicit, []string{"--auth", "LOGIN", "--tls-on-connect"}},
		{"swaks PLAIN plaintext", e.plain, []string{"--auth", "PLAIN"}},
	}
	for _, c := range clients {
		t.Run(c.name+" via XCLIENT", func(t *testing.T) {
			mark := e.old.Mark()
			swaks(t, c.addr, "bob@test", peers.DefaultUsers["bob@test"], c.args...)
			got := e.old.WaitClient(t, mark, "bob@test")
			if got.Addr != clientSource {
				t.Fatalf("postfix old logged client %s, want %s (XCLIENT)\n%s", got.Addr, clientSource, got.Line)
			}
		})
		t.Run(c.name+" via PROXY", func(t *testing.T) {
			mark, oldMark := e.new.Mark(), e.old.Mark()
			swaks(t, c.addr, "alice@test", peers.DefaultUsers["alice@test"], c.args...)
			got := e.new.WaitClient(t, mark, "alice@test")
			if got.Addr != clientSource {
				t.Fatalf("postfix new logged client %s, want %s (PROXY v2)\n%s", got.Addr, clientSource, got.Line)
			}
			e.old.AssertNoClient(t, oldMark, "alice@test")
		})
	}

	t.Run("smtptest", func(t *testing.T) { testSubmissionSMTPTest(t, e) })

	t.Run("python smtplib", func(t *testing.T) {
		py := harness.RequireBinary(t, "python3")
		host, p, _ := net.SplitHostPort(e.starttls)
		script := `
import smtplib, ssl, sys
ctx = ssl._create_unverified_context()
s = smtplib.SMTP(sys.argv[1], int(sys.argv[2]), local_hostname="py.test", source_address=(sys.argv[3], 0), timeout=15)
s.starttls(context=ctx)
s.login("carol@test", "carol-pw")
s.sendmail("carol@test", ["rcpt@example.net"], "Subject: smtplib\r\n\r\nhello\r\n")
s.quit()
`
		mark := e.old.Mark()
		if out, err := exec.Command(py, "-c", script, host, p, clientSource).CombinedOutput(); err != nil {
			t.Fatalf("smtplib: %v\n%s", err, out)
		}
		if got := e.old.WaitClient(t, mark, "carol@test"); got.Addr != clientSource {
			t.Fatalf("client %s: %s", got.Addr, got.Line)
		}
	})

	t.Run("wrong password is relayed and not bridged", func(t *testing.T) {
		mark := e.old.Mark()
		c := dialSubmission(t, e.starttls)
		SMTPExpect(t, c, "EHLO laptop.test", "250")
		SMTPExpect(t, c, "STARTTLS", "220 ")
		c = startClientTLS(t, c)
		SMTPExpect(t, c, "EHLO laptop.test", "250")
		SMTPExpect(t, c, "AUTH PLAIN "+plainIR("dave@test", "wrong"), "535 5.7.8")
		SMTPExpect(t, c, "MAIL FROM:<dave@test>", "530 5.7.0")
		SMTPExpect(t, c, "AUTH PLAIN "+plainIR("dave@test", peers.DefaultUsers["dave@test"]), "235 ")
		SMTPExpect(t, c, "MAIL FROM:<dave@test>", "250")
		SMTPExpect(t, c, "RCPT TO:<rcpt@example.net>", "250")
		SMTPExpect(t, c, "DATA", "354")
		SMTPExpect(t, c, "Subject: retry\r\n\r\nok\r\n.", "250 2.0.0 Ok: queued")
		if n := len(e.old.Clients(mark)); n != 1 {
			t.Fatalf("postfix logged %d messages, want 1", n)
		}
	})

	t.Run("flip", func(t *testing.T) { testSubmissionFlip(t, e) })

	// Last: it stops and restarts a backend.
	t.Run("stopped backend", func(t *testing.T) {
		e.old.Stop(t)
		c := dialSubmission(t, e.plain)
		SMTPExpect(t, c, "EHLO laptop.test", "250")
		SMTPExpect(t, c, "AUTH PLAIN "+plainIR("bob@test", peers.DefaultUsers["bob@test"]), "454 4.7.0 Temporary authentication failure")
		SMTPExpect(t, c, "MAIL FROM:<bob@test>", "530 5.7.0")
		e.old.Restart(t)
		if err := harness.Eventually(10*time.Second, func() error {
			cmd := exec.Command(harness.RequireBinary(t, "swaks"), "--server", e.plain, "--from", "bob@test", "--to", "rcpt@example.net",
				"--auth", "PLAIN", "--auth-user", "bob@test", "--auth-password", peers.DefaultUsers["bob@test"], "--timeout", "5")
			out, err := cmd.CombinedOutput()
			if err != nil {
				return &swaksError{string(out)}
			}
			return nil
		}); err != nil {
			t.Fatalf("after restart: %v", err)
		}
	})
}

// Cyrus smtptest (STARTTLS or implicit TLS, AUTH PLAIN) submits a
// message: the mapped Postfix queues it under the client's SASL login and
// the other one never sees it. smtptest cannot choose its source address,
// so the forwarded client address is left to the swaks cases.
func testSubmissionSMTPTest(t *testing.T, e *submissionEnv) {
	for _, c := range []struct {
		addr, tls, user string
		to, other       *peers.Postfix
	}{
		{e.starttls, "starttls", "alice@test", e.new, e.old},
		{e.starttls, "starttls", "bob@test", e.old, e.new},
		{e.implicit, "implicit", "alice@test", e.new, e.old},
		{e.implicit, "implicit", "carol@test", e.old, e.new},
	} {
		t.Run(c.tls+"/"+c.user, func(t *testing.T) {
			e.sy.LogOnFailure(t)
			mark, otherMark := c.to.Mark(), c.other.Mark()
			out, err := SMTPTest(t, CyrusLogin{Addr: c.addr, User: c.user, Password: peers.DefaultUsers[c.user], Mech: "PLAIN", TLS: c.tls,
				Script: SMTPTestMessage(c.user, "rcpt@example.net", "smtptest "+c.tls)})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "TLS connection established") {
				t.Fatalf("smtptest did not use TLS:\n%s", out)
			}
			if !strings.Contains(out, "250 2.0.0 Ok: queued as") {
				t.Fatalf("smtptest: message not queued:\n%s", out)
			}
			got := c.to.WaitClient(t, mark, c.user)
			if got.Method != "PLAIN" {
				t.Fatalf("postfix %s logged sasl_method=%q, want PLAIN: %s", c.to.Name, got.Method, got.Line)
			}
			c.other.AssertNoClient(t, otherMark, c.user)
		})
	}
}

// Editing the mapping file and sending SIGHUP moves an account's next
// login: dave's message is accepted by old, his line is added, and his next
// message is accepted by new (and not by old), per their logs.
func testSubmissionFlip(t *testing.T, e *submissionEnv) {
	e.sy.LogOnFailure(t)
	user := "dave@test"
	t.Cleanup(func() {
		harness.WriteMapping(t, e.mapping, "alice@test new")
		e.sy.Reload(t)
	})
	bin := harness.RequireBinary(t, "swaks")
	send := func(to, other *peers.Postfix) error {
		mark, otherMark := to.Mark(), other.Mark()
		out, err := exec.Command(bin, "--server", e.plain, "--local-interface", clientSource, "--helo", "laptop.test",
			"--from", user, "--to", "rcpt@example.net", "--auth", "PLAIN", "--auth-user", user,
			"--auth-password", peers.DefaultUsers[user], "--timeout", "15", "--header", "Subject: flip").CombinedOutput()
		if err != nil {
			return &swaksError{string(out)}
		}
		if !strings.Contains(string(out), "250 2.0.0 Ok: queued as") {
			return &swaksError{string(out)}
		}
		return harness.Eventually(5*time.Second, func() error {
			for _, c := range other.Clients(otherMark) {
				if c.User == user {
					return fmt.Errorf("postfix %s accepted %s's message, want %s: %s", other.Name, user, to.Name, c.Line)
				}
			}
			for _, c := range to.Clients(mark) {
				if c.User == user {
					if c.Addr != clientSource {
						return fmt.Errorf("postfix %s logged client %s, want %s: %s", to.Name, c.Addr, clientSource, c.Line)
					}
					return nil
				}
			}
			return fmt.Errorf("no message from %s in postfix %s's log yet", user, to.Name)
		})
	}
	if err := send(e.old, e.new); err != nil {
		t.Fatalf("before the flip: %v", err)
	}
	harness.WriteMapping(t, e.mapping, "alice@test new", user+" new")
	e.sy.Reload(t)
	if err := harness.Eventually(10*time.Second, func() error { return send(e.new, e.old) }); err != nil {
		t.Fatalf("after the flip: %v", err)
	}
}

type swaksError struct{ out string }

func (e *swaksError) Error() string { return "swaks failed:\n" + e.out }

// dialSubmission connects from clientSource for the cases no real client
// can show (what happens after a refused AUTH) and reads the greeting.
func dialSubmission(t *testing.T, addr string) *RawConn {
	t.Helper()
	c := DialRaw(t, addr, clientSource)
	SMTPExpect(t, c, "", "220 ")
	return c
}
