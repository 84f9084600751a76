package app

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/bench/mocksmtp"
)

// Submission through the whole proxy, in process, against two mock SMTP
// backends: "old" advertises XCLIENT (forwarding = "xclient"), "new" does
// not. The e2e package repeats the important ones against real Postfix.

type subFixture struct {
	old, new                  *mocksmtp.Server
	plain, starttls, implicit string
	mapping                   string
}

func startSubmission(t *testing.T, allowPlain bool) *subFixture {
	t.Helper()
	users := map[string]string{"alice@example.com": "pw-alice", "bob@example.com": "pw-bob"}
	f := &subFixture{}
	f.old = listenMock(t, func() (*mocksmtp.Server, error) {
		return mocksmtp.Listen("127.0.0.1:0", mocksmtp.Config{Name: "old", Users: users,
			XClient: []string{"NAME", "ADDR", "PROTO", "HELO", "PORT", "LOGIN", "DESTADDR", "DESTPORT"}})
	})
	f.new = listenMock(t, func() (*mocksmtp.Server, error) {
		return mocksmtp.Listen("127.0.0.1:0", mocksmtp.Config{Name: "new", Users: users})
	})
	files := writeProxyFiles(t, "Alice@Example.com new\n")
	f.mapping = files.mapping
	a := startApp(t, proxySpec{
		protocol: "submission",
		server:   "hostname = \"proxy.example\"\n",
		files:    files,
		listeners: []listenerSpec{
			{name: "plain", tls: "plain", extra: "preauth_timeout = \"2s\"\n"},
			starttlsListener,
			implicitListener,
		},
		old:     xclientTo(f.old),
		new:     destSpec{forwarding: "none", port: portOf(f.new.Addr()), extra: "hide_auth_errors = true\n"},
		mapping: fileMapping(files.mapping, "normalize = \"lowercase\"\n"),
		caps:    fmt.Sprintf("allow_plain_auth_without_tls = %v\n", allowPlain),
	}.toml())
	f.plain, f.starttls, f.implicit = addrOf(t, a, "plain"), addrOf(t, a, "starttls"), addrOf(t, a, "implicit")
	return f
}

// smtpConn is a raw line-oriented SMTP client for tests.
type smtpConn struct{ *client }

func dialSMTP(t *testing.T, addr string, implicitTLS bool) *smtpConn {
	t.Helper()
	open := dial
	if implicitTLS {
		open = dialTLS
	}
	s := &smtpConn{open(t, addr)}
	if g := s.reply(); !strings.HasPrefix(g, "220 proxy.example ESMTP") {
		t.Fatalf("greeting %q", g)
	}
	return s
}

// reply reads one whole reply and returns it, lines joined by "|".
func (s *smtpConn) reply() string {
	s.t.Helper()
	var lines []string
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("read: %v (got %q after %q)", err, l, lines)
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(lines, "|")
		}
	}
}

// cmd sends one command and returns the reply, which must start with want.
func (s *smtpConn) cmd(line, want string) string {
	s.t.Helper()
	s.send(line + "\r\n")
	r := s.reply()
	if !strings.HasPrefix(r, want) {
		s.t.Fatalf("%s: got %q, want %q...", strings.Fields(line + " x")[0], r, want)
	}
	return r
}

func (s *smtpConn) startTLS() {
	s.t.Helper()
	s.cmd("STARTTLS", "220 2.0.0")
	s.upgradeTLS()
}

func plainIR(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

// sendMessage runs MAIL/RCPT/DATA and returns the final reply.
func (s *smtpConn) sendMessage(from string) string {
	s.t.Helper()
	s.cmd("MAIL FROM:<"+from+">", "250")
	s.cmd("RCPT TO:<rcpt@example.net>", "250")
	s.cmd("DATA", "354")
	return s.cmd("Subject: hi\r\n\r\nbody\r\n.", "250 2.0.0")
}

func TestSubmissionPlainXClientAndRouting(t *testing.T) {
	f := startSubmission(t, true)
	c := dialSMTP(t, f.plain, false)
	ehlo := c.cmd("EHLO laptop.example", "250-proxy.example")
	if !strings.Contains(ehlo, "AUTH PLAIN LOGIN OAUTHBEARER XOAUTH2") || strings.Contains(ehlo, "XCLIENT") {
		t.Fatalf("EHLO: %s", ehlo)
	}
	c.cmd("AUTH PLAIN "+plainIR("bob@example.com", "pw-bob"), "235 2.7.0")
	if r := c.sendMessage("bob@example.com"); !strings.Contains(r, "on old") {
		t.Fatalf("landed: %s", r)
	}
	c.cmd("QUIT", "221")
	msgs := f.old.Messages()
	if len(msgs) != 1 {
		t.Fatalf("old has %d messages", len(msgs))
	}
	x := msgs[0].XClient
	local := c.conn.LocalAddr().(*net.TCPAddr)
	if x["ADDR"] != "127.0.0.1" || x["PORT"] != fmt.Sprint(local.Port) || x["HELO"] != "laptop.example" ||
		x["PROTO"] != "ESMTP" || x["DESTPORT"] != portOf(f.plain) || x["DESTADDR"] != "127.0.0.1" {
		t.Fatalf("XCLIENT attributes: %v", x)
	}
	if _, ok := x["LOGIN"]; ok {
		t.Fatal("XCLIENT LOGIN sent")
	}
	if msgs[0].Helo != "laptop.example" || msgs[0].User != "bob@example.com" {
		t.Fatalf("message: %+v", msgs[0])
	}

	// Alice is mapped to "new", which gets no XCLIENT.
	c = dialSMTP(t, f.plain, false)
	c.cmd("HELO laptop", "250 proxy.example")
	c.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6")
	c.cmd(base64.StdEncoding.EncodeToString([]byte("alice@example.com")), "334 UGFzc3dvcmQ6")
	c.cmd(base64.StdEncoding.EncodeToString([]byte("pw-alice")), "235 ")
	if r := c.sendMessage("alice@example.com"); !strings.Contains(r, "on new") {
		t.Fatalf("landed: %s", r)
	}
	if n := len(f.new.XClients()); n != 0 {
		t.Fatalf("new got %d XCLIENT", n)
	}
}

func TestSubmissionPipelinedAuthAndMail(t *testing.T) {
	f := startSubmission(t, true)
	c := dialSMTP(t, f.plain, false)
	c.send("EHLO c\r\nAUTH PLAIN " + plainIR("bob@example.com", "pw-bob") + "\r\nMAIL FROM:<bob@example.com>\r\nRCPT TO:<x@y>\r\n")
	for _, want := range []string{"250-proxy.example", "235 ", "250 2.1.0", "250 2.1.5"} {
		if r := c.reply(); !strings.HasPrefix(r, want) {
			t.Fatalf("got %q want %q", r, want)
		}
	}
}

func TestSubmissionWrongPasswordIsNotBridged(t *testing.T) {
	f := startSubmission(t, true)
	c := dialSMTP(t, f.plain, false)
	c.cmd("EHLO c", "250")
	c.cmd("AUTH PLAIN "+plainIR("bob@example.com", "nope"), "535 5.7.8 Error: authentication failed: on old")
	c.cmd("MAIL FROM:<bob@example.com>", "530 5.7.0")
	// hide_auth_errors on "new": the generic refusal.
	c.cmd("AUTH PLAIN "+plainIR("alice@example.com", "nope"), "535 5.7.8 Authentication credentials invalid")
	c.cmd("AUTH PLAIN "+plainIR("bob@example.com", "nope"), "535 ")
	if r := c.reply(); !strings.HasPrefix(r, "421 4.7.0 proxy.example") {
		t.Fatalf("after three failures: %q", r)
	}
	if _, err := c.r.ReadString('\n'); err == nil {
		t.Fatal("connection open after three failures")
	}
}

func TestSubmissionRefusals(t *testing.T) {
	f := startSubmission(t, false)
	c := dialSMTP(t, f.starttls, false)
	c.cmd("MAIL FROM:<a@b>", "530 5.7.0")
	ehlo := c.cmd("EHLO c", "250-proxy.example")
	if strings.Contains(ehlo, "AUTH") || !strings.Contains(ehlo, "STARTTLS") {
		t.Fatalf("EHLO before TLS: %s", ehlo)
	}
	c.cmd("AUTH PLAIN "+plainIR("bob@example.com", "pw-bob"), "538 5.7.11")
	c.startTLS()
	c.cmd("AUTH PLAIN "+plainIR("bob@example.com", "pw-bob"), "503 5.5.1") // EHLO again first
	ehlo = c.cmd("EHLO c", "250-proxy.example")
	if !strings.Contains(ehlo, "AUTH PLAIN") || strings.Contains(ehlo, "STARTTLS") {
		t.Fatalf("EHLO after TLS: %s", ehlo)
	}
	c.cmd("AUTH PLAIN", "334 ")
	c.cmd("*", "501 5.0.0")
	c.cmd("AUTH PLAIN "+plainIR("bob@example.com", "pw-bob"), "235 ")
	c.sendMessage("bob@example.com")
}

func TestSubmissionImplicitTLSAndNetSMTP(t *testing.T) {
	f := startSubmission(t, false)
	c := dialSMTP(t, f.implicit, true)
	c.cmd("EHLO c", "250-proxy.example")
	c.cmd("AUTH PLAIN "+plainIR("bob@example.com", "pw-bob"), "235 ")
	c.sendMessage("bob@example.com")

	// The standard library's client over STARTTLS.
	cl, err := smtp.Dial(f.starttls)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Hello("stdlib.example"); err != nil {
		t.Fatal(err)
	}
	if err := cl.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	if err := cl.Auth(smtp.PlainAuth("", "bob@example.com", "pw-bob", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := cl.Mail("bob@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := cl.Rcpt("x@example.net"); err != nil {
		t.Fatal(err)
	}
	w, err := cl.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, "Subject: stdlib\r\n\r\nhello\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Quit(); err != nil {
		t.Fatal(err)
	}
	if n := len(f.old.Messages()); n != 2 {
		t.Fatalf("old has %d messages", n)
	}
	if h := f.old.Messages()[1].XClient["HELO"]; h != "stdlib.example" {
		t.Fatalf("HELO after STARTTLS: %q", h)
	}
}

func TestSubmissionStoppedBackend(t *testing.T) {
	f := startSubmission(t, true)
	f.old.Close()
	c := dialSMTP(t, f.plain, false)
	c.cmd("EHLO c", "250")
	c.cmd("AUTH PLAIN "+plainIR("bob@example.com", "pw-bob"), "454 4.7.0 Temporary authentication failure")
	c.cmd("NOOP", "250 2.0.0")
}

func TestSubmissionOneByteAtATime(t *testing.T) {
	f := startSubmission(t, true)
	c := dialSMTP(t, f.plain, false)
	for _, b := range []byte("EHLO c\r\nAUTH PLAIN " + plainIR("bob@example.com", "pw-bob") + "\r\n") {
		c.send(string([]byte{b}))
		time.Sleep(time.Millisecond)
	}
	if r := c.reply(); !strings.HasPrefix(r, "250-proxy.example") {
		t.Fatal(r)
	}
	if r := c.reply(); !strings.HasPrefix(r, "235 ") {
		t.Fatal(r)
	}
	c.sendMessage("bob@example.com")
}

func TestSubmissionPreauthTimeout(t *testing.T) {
	f := startSubmission(t, true)
	c := dialSMTP(t, f.plain, false)
	c.cmd("EHLO c", "250")
	if r := c.reply(); !strings.HasPrefix(r, "421 4.4.2 proxy.example") {
		t.Fatalf("timeout reply %q", r)
	}
}
