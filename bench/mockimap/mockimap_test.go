package mockimap_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/switchyard-mail/switchyard/bench/imapclient"
	"github.com/switchyard-mail/switchyard/bench/internal/benchtest"
	"github.com/switchyard-mail/switchyard/bench/mockimap"
)

var users = map[string]string{"alice": "wonder land", "bob": "pw\"with\\quotes", "user0": "secret"}

func start(t *testing.T, cfg mockimap.Config) *mockimap.Server {
	t.Helper()
	if cfg.Users == nil {
		cfg.Users = users
	}
	return benchtest.Listen(t, mockimap.Listen, cfg)
}

func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

func dial(t *testing.T, s *mockimap.Server) (*imapclient.Client, string) {
	t.Helper()
	c := imapclient.New(dialRaw(t, s.Addr()))
	g, err := c.Greeting()
	if err != nil {
		t.Fatal(err)
	}
	return c, g
}

func isStatus(err error, status, text string) bool {
	var se *imapclient.StatusError
	return errors.As(err, &se) && se.Status == status && strings.Contains(se.Text, text)
}

func TestGreetingCapabilityNoopUnknown(t *testing.T) {
	s := start(t, mockimap.Config{Name: "old"})
	c, g := dial(t, s)
	want := "OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE AUTH=PLAIN AUTH=LOGIN] mockimap old ready"
	if g != want {
		t.Fatalf("greeting %q, want %q", g, want)
	}
	caps, err := c.Capability()
	if err != nil || strings.Join(caps, " ") != "IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE AUTH=PLAIN AUTH=LOGIN" {
		t.Fatalf("caps %v %v", caps, err)
	}
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(false, "FROBNICATE now"); !isStatus(err, "BAD", "Unknown command") {
		t.Fatalf("unknown command: %v", err)
	}
	if _, err := c.Exec(false, "SELECT INBOX"); !isStatus(err, "BAD", "log in first") {
		t.Fatalf("SELECT before login: %v", err)
	}
	if _, err := c.Exec(false, "FETCH 1 BODY[]"); !isStatus(err, "BAD", "") {
		t.Fatalf("FETCH before login: %v", err)
	}
	r, err := c.ID("name", "test", "x-originating-ip", "192.0.2.7")
	if err != nil || len(r.Untagged) != 1 || r.Untagged[0] != `ID ("name" "mockimap")` {
		t.Fatalf("ID: %+v %v", r, err)
	}
	if err := c.Logout(time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestStateRefusals pins the BAD answers of commands sent in the wrong
// state, before and after the checks that come first for some of them.
func TestStateRefusals(t *testing.T) {
	s := start(t, mockimap.Config{Name: "st"})
	loggedOut, _ := dial(t, s)
	loggedIn := login(t, s)
	for _, tc := range []struct {
		c          *imapclient.Client
		line, want string
	}{
		{loggedOut, "ENABLE X", "ENABLE not allowed now: log in first."},
		{loggedOut, "IDLE", "IDLE not allowed now: log in first."},
		{loggedOut, "STATUS INBOX (MESSAGES)", "STATUS not allowed now: log in first."},
		{loggedOut, "CHECK", "CHECK not allowed now: no mailbox selected."},
		{loggedOut, "UID FETCH 1 FLAGS", "UID not allowed now: no mailbox selected."},
		{loggedIn, "LOGIN a b", "LOGIN not allowed now: already logged in."},
		{loggedIn, "AUTHENTICATE PLAIN", "AUTHENTICATE not allowed now: already logged in."},
		{loggedIn, "FETCH 1 FLAGS", "FETCH not allowed now: no mailbox selected."},
		{loggedIn, "UNSELECT", "UNSELECT not allowed now: no mailbox selected."},
	} {
		if _, err := tc.c.Exec(false, tc.line); !isStatus(err, "BAD", tc.want) {
			t.Errorf("%s: %v, want BAD %s", tc.line, err, tc.want)
		}
	}
}

func TestLoginForms(t *testing.T) {
	s := start(t, mockimap.Config{Name: "new"})
	// Atoms.
	c, _ := dial(t, s)
	if err := c.WriteRaw([]byte("a1 LOGIN user0 secret\r\n")); err != nil {
		t.Fatal(err)
	}
	if l, _ := c.ReadLine(); l != "a1 OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE IDLE] Logged in" {
		t.Fatalf("atom login: %q", l)
	}
	if _, err := c.Exec(false, "LOGIN user0 secret"); !isStatus(err, "BAD", "already logged in") {
		t.Fatalf("second login: %v", err)
	}
	// Quoted strings with escapes (the client quotes).
	c, _ = dial(t, s)
	if err := c.Login("bob", users["bob"]); err != nil {
		t.Fatal(err)
	}
	// Synchronizing literals.
	c, _ = dial(t, s)
	if err := c.SendLiteralLogin("alice", "wonder land"); err != nil {
		t.Fatal(err)
	}
	// Non-synchronizing literals, sent in one write.
	c, _ = dial(t, s)
	c.WriteRaw([]byte("x LOGIN {5+}\r\nalice {11+}\r\nwonder land\r\n"))
	if l, _ := c.ReadLine(); !strings.HasPrefix(l, "x OK [CAPABILITY IMAP4rev1") || !strings.HasSuffix(l, "] Logged in") {
		t.Fatalf("literal+ login: %q", l)
	}
	// Wrong password.
	c, _ = dial(t, s)
	c.WriteRaw([]byte("t9 LOGIN alice wrong\r\n"))
	if l, _ := c.ReadLine(); l != "t9 NO [AUTHENTICATIONFAILED] Authentication failed." {
		t.Fatalf("bad password: %q", l)
	}
	if err := c.Login("nobody", "x"); !isStatus(err, "NO", "[AUTHENTICATIONFAILED]") {
		t.Fatalf("unknown user: %v", err)
	}
	if s.Logins() != 4 || s.FailedLogins() != 2 {
		t.Fatalf("logins %d failures %d", s.Logins(), s.FailedLogins())
	}
	if _, err := c.Exec(false, "LOGIN onlyone"); !isStatus(err, "BAD", "") {
		t.Fatalf("LOGIN with one argument: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	s := start(t, mockimap.Config{Name: "old"})
	c, _ := dial(t, s)
	if err := c.AuthPlain("alice", "wonder land", true); err != nil {
		t.Fatal(err)
	}
	c, _ = dial(t, s)
	if err := c.AuthPlain("alice", "wonder land", false); err != nil {
		t.Fatal(err)
	}
	c, _ = dial(t, s)
	if err := c.AuthLogin("bob", users["bob"]); err != nil {
		t.Fatal(err)
	}
	c, _ = dial(t, s)
	if err := c.AuthPlain("alice", "nope", true); !isStatus(err, "NO", "[AUTHENTICATIONFAILED] Authentication failed.") {
		t.Fatalf("bad password: %v", err)
	}
	// authzid different from authcid is refused; equal is fine.
	if _, err := c.Exec(false, "AUTHENTICATE PLAIN Ym9iAGFsaWNlAHdvbmRlciBsYW5k"); !isStatus(err, "NO", "AUTHENTICATIONFAILED") {
		t.Fatalf("foreign authzid: %v", err)
	}
	// Cancel and bad base64.
	c.WriteRaw([]byte("c1 AUTHENTICATE PLAIN\r\n"))
	if l, _ := c.ReadLine(); l != "+ " {
		t.Fatalf("continuation %q", l)
	}
	c.WriteRaw([]byte("*\r\n"))
	if l, _ := c.ReadLine(); l != "c1 BAD AUTHENTICATE cancelled." {
		t.Fatalf("cancel: %q", l)
	}
	if _, err := c.Exec(false, "AUTHENTICATE PLAIN !!!"); !isStatus(err, "BAD", "base64") {
		t.Fatalf("bad base64: %v", err)
	}
	if _, err := c.Exec(false, "AUTHENTICATE CRAM-MD5"); !isStatus(err, "NO", "Unsupported") {
		t.Fatalf("unsupported mechanism: %v", err)
	}
	if _, err := c.Exec(false, "AUTHENTICATE PLAIN YWxpY2UAYWxpY2UAd29uZGVyIGxhbmQ="); err != nil {
		t.Fatalf("authzid == authcid: %v", err)
	}
	if s.Logins() != 4 {
		t.Fatalf("logins %d", s.Logins())
	}
}

func login(t *testing.T, s *mockimap.Server) *imapclient.Client {
	t.Helper()
	c, _ := dial(t, s)
	if err := c.Login("user0", "secret"); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSelectFetchMarker(t *testing.T) {
	s := start(t, mockimap.Config{Name: "new"})
	c := login(t, s)
	if _, err := c.Exec(false, "FETCH 1 BODY[]"); !isStatus(err, "BAD", "no mailbox selected") {
		t.Fatalf("FETCH without SELECT: %v", err)
	}
	r, err := c.Select("INBOX")
	if err != nil || r.Text != "[READ-WRITE] SELECT completed" || !contains(r.Untagged, "1 EXISTS") {
		t.Fatalf("SELECT: %+v %v", r, err)
	}
	for _, item := range []string{"BODY[]", "BODY.PEEK[]", "RFC822"} {
		r, err := c.Fetch(false, "1", item, true)
		if err != nil || len(r.Literals) != 1 {
			t.Fatalf("FETCH %s: %+v %v", item, r, err)
		}
		msg := string(r.Literals[0])
		if !strings.Contains(msg, "\r\nSubject: Marker: you are on new\r\n") || !strings.Contains(msg, "\r\n\r\nbackend=new\r\n") {
			t.Fatalf("FETCH %s: message %q", item, msg)
		}
		name := strings.Replace(item, ".PEEK", "", 1)
		if want := fmt.Sprintf("1 FETCH (%s {%d}\r\n%s)", name, len(msg), msg); r.Untagged[0] != want {
			t.Fatalf("FETCH %s: %q", item, r.Untagged[0])
		}
	}
	r, err = c.Fetch(true, "1:*", "(FLAGS RFC822.SIZE BODY.PEEK[HEADER])", true)
	if err != nil || r.Text != "UID FETCH completed" || !strings.HasPrefix(r.Untagged[0], `1 FETCH (UID 1 FLAGS (\Seen) RFC822.SIZE `) {
		t.Fatalf("UID FETCH: %+v %v", r, err)
	}
	if h := string(r.Literals[0]); !strings.HasSuffix(h, "\r\n\r\n") || strings.Contains(h, "backend=") {
		t.Fatalf("header section %q", h)
	}
	r, err = c.Fetch(false, "1", "BODY[TEXT]<0.7>", true)
	if err != nil || string(r.Literals[0]) != "backend" || !strings.HasPrefix(r.Untagged[0], "1 FETCH (BODY[TEXT]<0> {7}") {
		t.Fatalf("partial: %+v %v", r, err)
	}
	r, err = c.Fetch(false, "2", "BODY[]", true)
	if err != nil || len(r.Untagged) != 0 {
		t.Fatalf("FETCH 2: %+v %v", r, err)
	}
	for _, bad := range []string{"FETCH 1 ENVELOPE", "FETCH x BODY[]", "FETCH 0 UID", "FETCH 1 (BODY[HEADER.FIELDS (SUBJECT)])", "UID SEARCH ALL"} {
		if _, err := c.Exec(false, bad); !isStatus(err, "BAD", "") {
			t.Fatalf("%s: %v", bad, err)
		}
	}
	r, err = c.Exec(true, "EXAMINE inbox")
	if err != nil || r.Text != "[READ-ONLY] EXAMINE completed" {
		t.Fatalf("EXAMINE: %+v %v", r, err)
	}
	if _, err := c.Exec(false, "SELECT Archive"); !isStatus(err, "NO", "NONEXISTENT") {
		t.Fatalf("SELECT Archive: %v", err)
	}
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}

func TestBulkMessageSizes(t *testing.T) {
	for _, size := range []int{0, 100, 400, 401, 5000, 1 << 20, 3<<20 + 17} {
		s := start(t, mockimap.Config{Name: "bulk", MessageSize: size})
		c := login(t, s)
		c.Select("INBOX")
		r, err := c.Fetch(false, "1", "BODY.PEEK[]", true)
		if err != nil {
			t.Fatal(err)
		}
		msg := r.Literals[0]
		if size > 400 && (len(msg) < size || len(msg) > size+1) {
			t.Fatalf("size %d: got %d bytes", size, len(msg))
		}
		if !bytes.HasSuffix(msg, []byte("\r\n")) || bytes.Contains(bytes.ReplaceAll(msg, []byte("\r\n"), nil), []byte("\r")) ||
			bytes.Contains(bytes.ReplaceAll(msg, []byte("\r\n"), nil), []byte("\n")) {
			t.Fatalf("size %d: bare CR/LF or no final CRLF", size)
		}
		rs, err := c.Fetch(false, "1", "RFC822.SIZE", true)
		if err != nil || rs.Untagged[0] != fmt.Sprintf("1 FETCH (RFC822.SIZE %d)", len(msg)) {
			t.Fatalf("size %d: %v %v", size, rs.Untagged, err)
		}
		// A range in the middle matches the whole.
		if len(msg) > 1000 {
			p, err := c.Fetch(false, "1", fmt.Sprintf("BODY.PEEK[]<%d.%d>", len(msg)/2, 777), true)
			if err != nil || !bytes.Equal(p.Literals[0], msg[len(msg)/2:len(msg)/2+777]) {
				t.Fatalf("size %d: partial fetch differs (%v)", size, err)
			}
		}
		// Skipped rather than kept: only counted.
		r2, err := c.Fetch(false, "1", "BODY.PEEK[]", false)
		if err != nil || r2.LiteralBytes != int64(len(msg)) {
			t.Fatalf("size %d: discard %d %v", size, r2.LiteralBytes, err)
		}
		s.Close()
	}
}

func TestIdleListStatusPipelining(t *testing.T) {
	s := start(t, mockimap.Config{Name: "old"})
	c := login(t, s)
	if err := c.Idle(); err != nil {
		t.Fatal(err)
	}
	if err := c.IdleDone(); err != nil {
		t.Fatal(err)
	}
	r, err := c.Exec(true, `LIST "" "*"`)
	if err != nil || len(r.Untagged) != 1 || r.Untagged[0] != `LIST (\HasNoChildren) "/" INBOX` {
		t.Fatalf("LIST: %+v %v", r, err)
	}
	r, _ = c.Exec(true, `LIST "" "Arch%"`)
	if len(r.Untagged) != 0 {
		t.Fatalf("LIST Arch%%: %v", r.Untagged)
	}
	r, _ = c.Exec(true, `LIST "" ""`)
	if len(r.Untagged) != 1 || r.Untagged[0] != `LIST (\Noselect) "/" ""` {
		t.Fatalf("LIST \"\": %v", r.Untagged)
	}
	r, err = c.Exec(true, "STATUS INBOX (MESSAGES UIDNEXT)")
	if err != nil || r.Untagged[0] != "STATUS INBOX (MESSAGES 1 UIDNEXT 2)" {
		t.Fatalf("STATUS: %+v %v", r, err)
	}
	r, err = c.Exec(true, "ENABLE CONDSTORE")
	if err != nil || r.Untagged[0] != "ENABLED" {
		t.Fatalf("ENABLE: %+v %v", r, err)
	}
	// Five commands in one write, answered in order.
	c.WriteRaw([]byte("p1 NOOP\r\np2 SELECT INBOX\r\np3 FETCH 1 (UID)\r\np4 CLOSE\r\np5 LOGOUT\r\n"))
	var tagged []string
	for i := 0; i < 20 && len(tagged) < 5; i++ {
		l, err := c.ReadLine()
		if err != nil {
			t.Fatal(err)
		}
		if l[0] == 'p' {
			tagged = append(tagged, l[:2])
		}
	}
	if strings.Join(tagged, ",") != "p1,p2,p3,p4,p5" {
		t.Fatalf("pipelined answers %v", tagged)
	}
	if _, err := c.ReadLine(); err == nil {
		t.Fatal("connection still open after LOGOUT")
	}
}

func TestLimits(t *testing.T) {
	s := start(t, mockimap.Config{Name: "old"})
	c, _ := dial(t, s)
	// A synchronizing literal beyond 64 KiB is refused and the session goes on.
	c.WriteRaw([]byte("l1 LOGIN {70000}\r\n"))
	if l, _ := c.ReadLine(); l != "l1 BAD Literal too large." {
		t.Fatalf("big literal: %q", l)
	}
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(false, `LOGIN "unterminated`); !isStatus(err, "BAD", "Syntax") {
		t.Fatalf("syntax: %v", err)
	}
	// A line beyond 64 KiB ends the session.
	c.WriteRaw(append(append([]byte("l2 NOOP "), bytes.Repeat([]byte("x"), 70<<10)...), "\r\n"...))
	if l, _ := c.ReadLine(); l != "* BYE Command too long." {
		t.Fatalf("long line: %q", l)
	}
	if _, err := c.ReadLine(); err == nil {
		t.Fatal("still open after a too-long line")
	}
}

func TestSessionsAndClose(t *testing.T) {
	s := start(t, mockimap.Config{Name: "old"})
	var cs []*imapclient.Client
	for i := 0; i < 5; i++ {
		c, _ := dial(t, s)
		cs = append(cs, c)
	}
	if n := s.Sessions(); n != 5 {
		t.Fatalf("sessions %d", n)
	}
	cs[0].Logout(time.Second)
	waitFor(t, func() bool { return s.Sessions() == 4 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs[1:] {
		if _, err := c.ReadLine(); err == nil {
			t.Fatal("connection survived Close")
		}
	}
	if s.Sessions() != 0 {
		t.Fatal("sessions after Close")
	}
	if _, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		t.Fatal("still listening after Close")
	}
	s.Close()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not reached in 2 s")
}

func tlsPair(t *testing.T) (*tls.Config, *tls.Config) {
	t.Helper()
	srv, pool, err := mockimap.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	return srv, &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

func TestStartTLS(t *testing.T) {
	st, ct := tlsPair(t)
	s := start(t, mockimap.Config{Name: "old", TLS: st, Capabilities: []string{"IMAP4rev1", "LOGINDISABLED", "AUTH=PLAIN"}})
	c, g := dial(t, s)
	if g != "OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=PLAIN STARTTLS] mockimap old ready" {
		t.Fatalf("greeting %q", g)
	}
	if err := c.Login("user0", "secret"); !isStatus(err, "NO", "PRIVACYREQUIRED") {
		t.Fatalf("LOGIN in clear with LOGINDISABLED: %v", err)
	}
	if err := c.StartTLS(ct); err != nil {
		t.Fatal(err)
	}
	caps, _ := c.Capability()
	if strings.Join(caps, " ") != "IMAP4rev1 AUTH=PLAIN" {
		t.Fatalf("caps after STARTTLS %v", caps)
	}
	if _, err := c.Exec(false, "STARTTLS"); !isStatus(err, "BAD", "") {
		t.Fatalf("second STARTTLS: %v", err)
	}
	// No SASL-IR advertised: an initial response is refused, the
	// continuation form works.
	if err := c.AuthPlain("user0", "secret", true); !isStatus(err, "BAD", "Initial response") {
		t.Fatalf("IR without SASL-IR: %v", err)
	}
	if err := c.AuthPlain("user0", "secret", false); err != nil {
		t.Fatal(err)
	}
	if a := s.LastClientAddr("user0"); a != c.Conn().LocalAddr().String() {
		t.Fatalf("client addr %q, want %q", a, c.Conn().LocalAddr())
	}
}

func TestStartTLSInjectionDropped(t *testing.T) {
	st, _ := tlsPair(t)
	s := start(t, mockimap.Config{Name: "old", TLS: st})
	conn := dialRaw(t, s.Addr())
	br := bufio.NewReader(conn)
	br.ReadString('\n')
	conn.Write([]byte("s1 STARTTLS\r\ns2 LOGIN user0 secret\r\n"))
	if l, _ := br.ReadString('\n'); l != "s1 OK Begin TLS negotiation now\r\n" {
		t.Fatalf("go-ahead %q", l)
	}
	if _, err := br.ReadString('\n'); err == nil {
		t.Fatal("connection kept after bytes following STARTTLS")
	}
	if s.Logins() != 0 {
		t.Fatal("injected login ran")
	}
}

func TestImplicitTLSWithProxyHeader(t *testing.T) {
	st, ct := tlsPair(t)
	s := start(t, mockimap.Config{Name: "new", TLS: st, ImplicitTLS: true, AcceptProxyHeader: true})
	raw := dialRaw(t, s.Addr())
	h := proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: net.ParseIP("198.51.100.9"), Port: 40000}, raw.RemoteAddr())
	if _, err := h.WriteTo(raw); err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(raw, ct)
	c := imapclient.New(tc)
	g, err := c.Greeting()
	if err != nil || strings.Contains(g, "STARTTLS") {
		t.Fatalf("greeting %q %v", g, err)
	}
	if err := c.Login("alice", "wonder land"); err != nil {
		t.Fatal(err)
	}
	if a := s.LastClientAddr("alice"); a != "198.51.100.9:40000" {
		t.Fatalf("client addr %q", a)
	}
	// Bad certificate trust: handshake fails.
	raw2 := dialRaw(t, s.Addr())
	tc2 := tls.Client(raw2, &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "localhost"})
	if err := tc2.Handshake(); err == nil {
		t.Fatal("handshake with an untrusted certificate succeeded")
	}
}

func TestProxyHeaderOptionalAndID(t *testing.T) {
	s := start(t, mockimap.Config{Name: "old", AcceptProxyHeader: true, ProxyHeaderTimeout: 100 * time.Millisecond})
	// v1 header, then ID overrides it.
	raw := dialRaw(t, s.Addr())
	raw.Write([]byte("PROXY TCP4 203.0.113.5 127.0.0.1 5555 143\r\n"))
	c := imapclient.New(raw)
	if _, err := c.Greeting(); err != nil {
		t.Fatal(err)
	}
	if err := c.Login("alice", "wonder land"); err != nil {
		t.Fatal(err)
	}
	if a := s.LastClientAddr("alice"); a != "203.0.113.5:5555" {
		t.Fatalf("from PROXY v1: %q", a)
	}
	if _, err := c.ID("x-originating-ip", "2001:db8::1", "x-originating-port", "6000", "x-session-id", "abc"); err != nil {
		t.Fatal(err)
	}
	if a := s.LastClientAddr("alice"); a != "[2001:db8::1]:6000" {
		t.Fatalf("from ID after login: %q", a)
	}
	if id := s.LastID("alice"); id["x-session-id"] != "abc" {
		t.Fatalf("LastID %v", id)
	}
	// No header: greeted after the timeout (timed from before the dial:
	// the server's clock starts at accept, so it cannot be sooner; how
	// late on a busy machine is not asserted), the TCP peer is recorded.
	start := time.Now()
	c2, _ := dial(t, s)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("greeting without header after %v, before the 100 ms ProxyHeaderTimeout", d)
	}
	if err := c2.Login("bob", users["bob"]); err != nil {
		t.Fatal(err)
	}
	if a := s.LastClientAddr("bob"); a != c2.Conn().LocalAddr().String() {
		t.Fatalf("TCP peer %q, want %q", a, c2.Conn().LocalAddr())
	}
	if s.LastClientAddr("nobody") != "" || s.LastID("nobody") != nil {
		t.Fatal("data for a user who never logged in")
	}
	// A broken header drops the connection.
	raw3 := dialRaw(t, s.Addr())
	raw3.Write([]byte("PROXY TCP4 nonsense\r\n"))
	if _, err := bufio.NewReader(raw3).ReadString('\n'); err == nil {
		t.Fatal("greeted after a broken PROXY header")
	}
}

func TestCapabilitiesHonoured(t *testing.T) {
	s := start(t, mockimap.Config{Name: "min", Capabilities: []string{"IMAP4rev1", "AUTH=PLAIN"}})
	c, _ := dial(t, s)
	if _, err := c.ID(); !isStatus(err, "BAD", "Unknown") {
		t.Fatalf("ID not advertised: %v", err)
	}
	if err := c.AuthLogin("user0", "secret"); !isStatus(err, "NO", "Unsupported") {
		t.Fatalf("AUTH=LOGIN not advertised: %v", err)
	}
	c.WriteRaw([]byte("n1 LOGIN {5+}\r\nuser0 secret\r\n"))
	if l, _ := c.ReadLine(); l != "n1 BAD LITERAL+ is not supported." {
		t.Fatalf("{n+} without LITERAL+: %q", l)
	}
	if err := c.Login("user0", "secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(false, "IDLE"); !isStatus(err, "BAD", "Unknown") {
		t.Fatalf("IDLE not advertised: %v", err)
	}
	if _, err := mockimap.Listen("127.0.0.1:0", mockimap.Config{ImplicitTLS: true}); err == nil {
		t.Fatal("ImplicitTLS without TLS accepted")
	}
}
