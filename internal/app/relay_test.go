package app

import (
	"context"
	"fmt"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/bench/mocksmtp"
)

// The relay fixture: two mock LMTP backends "old" (the default) and "new"
// (alice is mapped to it), an lmtp listener routing every recipient, and
// an smtp listener passing everything through to a mock SMTP server.

type relayFixture struct {
	old, new *mocksmtp.Server
	mx       *mocksmtp.Server // pass-through destination (SMTP, XCLIENT)
	lmtp     string           // routing listener
	pass     string           // pass-through listener
	app      *App
}

var relayUsers = []string{"alice@example.com", "bob@example.com"}

func startRelayFixture(t *testing.T, oldCfg mocksmtp.Config, listenerExtra string) *relayFixture {
	t.Helper()
	f := &relayFixture{}
	oldCfg.Name, oldCfg.LMTP, oldCfg.NoAuth, oldCfg.Recipients = "old", true, true, relayUsers
	f.old = listenMock(t, func() (*mocksmtp.Server, error) { return mocksmtp.Listen("127.0.0.1:0", oldCfg) })
	f.new = listenMock(t, func() (*mocksmtp.Server, error) {
		return mocksmtp.Listen("127.0.0.1:0", mocksmtp.Config{Name: "new", LMTP: true, NoAuth: true, Recipients: relayUsers, XClient: []string{"ADDR", "PORT", "HELO"}})
	})
	f.mx = listenMock(t, func() (*mocksmtp.Server, error) {
		return mocksmtp.Listen("127.0.0.1:0", mocksmtp.Config{Name: "mx", NoAuth: true, XClient: []string{"ADDR", "PORT", "DESTADDR", "DESTPORT"}})
	})
	files := writeProxyFiles(t, "Alice@Example.com new\n")
	text := fmt.Sprintf(`
[server]
hostname = "proxy.test"
backend_timeout = "2s"
%s%s%s%s%s%s[routing]
default_destination = "old"
smtp_passthrough_destination = "mx"
%s`, files.certSection(), listenerSection("lmtp", "lmtp", "plain", "recipient_routing = true\n"+listenerExtra+"\n"), listenerSection("mx", "smtp", "plain", ""),
		destSection("old", "forwarding = \"none\"\n", "lmtp", portOf(f.old.Addr()), "plain"),
		destSection("new", "forwarding = \"xclient\"\n", "lmtp", portOf(f.new.Addr()), "plain"),
		destSection("mx", "forwarding = \"xclient\"\n", "smtp", portOf(f.mx.Addr()), "plain"),
		fileMapping(files.mapping, "normalize = \"lowercase\"\npositive_ttl = \"1s\"\nnegative_ttl = \"1s\"\n"))
	f.app = startApp(t, text)
	f.lmtp, f.pass = addrOf(t, f.app, "lmtp"), addrOf(t, f.app, "mx")
	return f
}

// mailFrom dials the LMTP listener, greets and opens a transaction from
// s@remote.test.
func (f *relayFixture) mailFrom(t *testing.T) *relayConn {
	t.Helper()
	c := dialRelay(t, f.lmtp)
	c.reply()
	c.cmd("LHLO client.test")
	c.cmd("MAIL FROM:<s@remote.test>")
	return c
}

// smallToBob sends a small message to bob in a transaction of its own;
// what ends the names of its steps, and the end of data must be answered
// with wantEnd.
func (c *relayConn) smallToBob(t *testing.T, what, wantEnd string) {
	t.Helper()
	c.cmd("MAIL FROM:<s@remote.test>")
	expectPrefix(t, "RCPT "+what, c.cmd("RCPT TO:<bob@example.com>"), "250")
	expectPrefix(t, "DATA "+what, c.cmd("DATA"), "354")
	c.send(strings.TrimSuffix(body("small", 100), "\r\n"))
	expectPrefix(t, "end of data "+what, c.reply(), wantEnd)
}

// relayConn is a line client that reads whole (multi-line) replies.
type relayConn struct {
	*client
	tp *textproto.Reader // over client.r
}

func dialRelay(t *testing.T, addr string) *relayConn {
	t.Helper()
	c := newClient(t, dialTCP(t, addr, 15*time.Second))
	return &relayConn{client: c, tp: textproto.NewReader(c.r)}
}

// reply reads one reply and returns "code text" of its last line, with
// every line joined by " | " before it for multi-line replies.
func (s *relayConn) reply() string {
	s.t.Helper()
	code, msg, err := s.tp.ReadResponse(0)
	if err != nil && code == 0 {
		s.t.Fatalf("reading a reply: %v", err)
	}
	return fmt.Sprintf("%d %s", code, strings.ReplaceAll(msg, "\n", " | "))
}

func (s *relayConn) send(lines ...string) {
	s.t.Helper()
	s.client.send(strings.Join(lines, "\r\n") + "\r\n")
}

// cmd sends one command and returns its reply.
func (s *relayConn) cmd(line string) string {
	s.t.Helper()
	s.send(line)
	return s.reply()
}

func expectPrefix(t *testing.T, what, got, want string) {
	t.Helper()
	if !strings.HasPrefix(got, want) {
		t.Fatalf("%s: got %q, want %q...", what, got, want)
	}
}

func body(subject string, n int) string {
	return "Subject: " + subject + "\r\n\r\n" + strings.Repeat("x", n) + "\r\n.\r\n"
}

// TestLMTPRoutesEachRecipient: the first recipient fixes the transaction's
// backend, a recipient of another backend gets 452 4.5.3, the retry in a
// new transaction reaches its own backend, each message arrives once.
func TestLMTPRoutesEachRecipient(t *testing.T) {
	f := startRelayFixture(t, mocksmtp.Config{}, "")
	c := dialRelay(t, f.lmtp)
	expectPrefix(t, "greeting", c.reply(), "220 proxy.test LMTP")
	lhlo := c.cmd("LHLO client.test")
	for _, ext := range []string{"PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES"} {
		if !strings.Contains(lhlo, ext) {
			t.Fatalf("LHLO reply lacks %s: %q", ext, lhlo)
		}
	}
	expectPrefix(t, "MAIL", c.cmd("MAIL FROM:<sender@remote.test>"), "250 2.1.0")
	expectPrefix(t, "RCPT alice", c.cmd("RCPT TO:<alice@example.com>"), "250")
	expectPrefix(t, "RCPT bob", c.cmd("RCPT TO:<bob@example.com>"), "452 4.5.3")
	expectPrefix(t, "RCPT nobody", c.cmd("RCPT TO:<nobody@example.com>"), "452 4.5.3") // default: old, not this transaction's
	expectPrefix(t, "DATA", c.cmd("DATA"), "354")
	c.send(strings.TrimSuffix(body("one", 10), "\r\n"))
	expectPrefix(t, "end of data (alice)", c.reply(), "250 2.0.0 <alice@example.com> delivered on new")

	// The sender retries bob (and nobody) in a new transaction.
	expectPrefix(t, "MAIL 2", c.cmd("MAIL FROM:<sender@remote.test>"), "250")
	expectPrefix(t, "RCPT bob 2", c.cmd("RCPT TO:<bob@example.com>"), "250")
	if got, want := c.cmd("RCPT TO:<nobody@example.com>"), "550 5.1.1 <nobody@example.com>: User unknown"; got != want {
		t.Fatalf("unknown recipient: got %q, want the backend's %q", got, want)
	}
	expectPrefix(t, "DATA 2", c.cmd("DATA"), "354")
	c.send(strings.TrimSuffix(body("one", 10), "\r\n"))
	expectPrefix(t, "end of data (bob)", c.reply(), "250 2.0.0 <bob@example.com> delivered on old")
	expectPrefix(t, "QUIT", c.cmd("QUIT"), "221")

	for _, tc := range []struct {
		s    *mocksmtp.Server
		rcpt string
	}{{f.new, "alice@example.com"}, {f.old, "bob@example.com"}} {
		msgs := tc.s.Messages()
		if len(msgs) != 1 || strings.Join(msgs[0].Rcpts, ",") != tc.rcpt || !strings.Contains(msgs[0].Data, "Subject: one") {
			t.Fatalf("%s holds %+v, want one message for %s", tc.s.Name(), msgs, tc.rcpt)
		}
	}
	// XCLIENT went to "new" (forwarding = xclient) with the client's
	// address and HELO name; "old" (forwarding = none) got none.
	if xc := f.new.Messages()[0].XClient; xc["ADDR"] != "127.0.0.1" || xc["HELO"] != "client.test" {
		t.Fatalf("XCLIENT to new: %v", xc)
	}
	if xc := f.old.Messages()[0].XClient; len(xc) != 0 {
		t.Fatalf("XCLIENT to old: %v", xc)
	}
}

// TestLMTPPipelined: a whole pipelined transaction in one write gets its
// replies in order.
func TestLMTPPipelined(t *testing.T) {
	f := startRelayFixture(t, mocksmtp.Config{}, "")
	c := dialRelay(t, f.lmtp)
	c.reply()
	c.send("LHLO client.test", "MAIL FROM:<s@remote.test>", "RCPT TO:<bob@example.com>", "RCPT TO:<nobody@example.com>", "RCPT TO:<alice@example.com>", "DATA")
	for _, want := range []string{"250", "250 2.1.0", "250", "550 5.1.1", "452 4.5.3", "354"} {
		expectPrefix(t, "pipelined", c.reply(), want)
	}
	c.send(strings.TrimSuffix(body("piped", 100), "\r\n"), "QUIT")
	expectPrefix(t, "end of data", c.reply(), "250 2.0.0 <bob@example.com> delivered on old")
	expectPrefix(t, "QUIT", c.reply(), "221")
	if n := len(f.old.Messages()); n != 1 {
		t.Fatalf("old holds %d messages", n)
	}
}

// TestLMTPBackendLostMidData: the backend goes away in the middle of the
// body: the sender gets a 4xx after its end of data, nothing is stored,
// and a retry delivers the message once.
func TestLMTPBackendLostMidData(t *testing.T) {
	f := startRelayFixture(t, mocksmtp.Config{DropAfterBodyBytes: 4000}, "")
	c := f.mailFrom(t)
	expectPrefix(t, "RCPT", c.cmd("RCPT TO:<bob@example.com>"), "250")
	expectPrefix(t, "DATA", c.cmd("DATA"), "354")
	c.send(strings.TrimSuffix(body("big", 20000), "\r\n"))
	expectPrefix(t, "end of data after the backend was lost", c.reply(), "451 4.4.2")
	if n := len(f.old.Messages()); n != 0 {
		t.Fatalf("a cut message was stored: %d", n)
	}
	// The session goes on: a new transaction opens a new leg.
	c.smallToBob(t, "retry", "250 2.0.0 <bob@example.com> delivered on old")
	if msgs := f.old.Messages(); len(msgs) != 1 || !strings.Contains(msgs[0].Data, "Subject: small") {
		t.Fatalf("old holds %+v", msgs)
	}
}

// TestLMTPMessageSizeLimit: a message over max_message_size is refused
// with 552 5.3.4 after its end and never reaches the mailbox.
func TestLMTPMessageSizeLimit(t *testing.T) {
	f := startRelayFixture(t, mocksmtp.Config{}, "max_message_size = 3000\n")
	c := dialRelay(t, f.lmtp)
	c.reply()
	if l := c.cmd("LHLO client.test"); !strings.Contains(l, "SIZE 3000") {
		t.Fatalf("LHLO: %q", l)
	}
	expectPrefix(t, "MAIL SIZE=", c.cmd("MAIL FROM:<s@remote.test> SIZE=5000"), "552 5.3.4")
	c.cmd("MAIL FROM:<s@remote.test>")
	c.cmd("RCPT TO:<bob@example.com>")
	expectPrefix(t, "DATA", c.cmd("DATA"), "354")
	c.send(strings.TrimSuffix(body("huge", 10000), "\r\n"))
	expectPrefix(t, "end of data", c.reply(), "552 5.3.4")
	// A small message after it, once delivered, fences what the backend
	// got: it must hold that one only (no sleep to wait for a stray one).
	c.smallToBob(t, "after", "250 ")
	if msgs := f.old.Messages(); len(msgs) != 1 || !strings.Contains(msgs[0].Data, "Subject: small") {
		t.Fatalf("an oversized message was stored: %d messages", len(msgs))
	}
}

// TestLMTPDrainFinishesTheTransaction: a shutdown lets the transaction in
// flight end with the backend's verdict, then says 421 and closes.
func TestLMTPDrainFinishesTheTransaction(t *testing.T) {
	f := startRelayFixture(t, mocksmtp.Config{}, "")
	c := f.mailFrom(t)
	c.cmd("RCPT TO:<bob@example.com>")
	expectPrefix(t, "DATA", c.cmd("DATA"), "354")
	idle := dialRelay(t, f.lmtp)
	idle.reply()
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- f.app.eng.Stop(ctx)
	}()
	expectPrefix(t, "idle session at shutdown", idle.reply(), "421 4.3.0")
	c.send(strings.TrimSuffix(body("last", 100), "\r\n"))
	expectPrefix(t, "end of data during the drain", c.reply(), "250 2.0.0 <bob@example.com> delivered on old")
	// Then at once, unasked (RFC 5321 section 3.8), the goodbye and the close.
	expectPrefix(t, "after the transaction", c.reply(), "421 4.3.0")
	if _, err := c.tp.ReadLine(); err == nil {
		t.Fatal("the connection stayed open after the 421")
	}
	if err := <-stopped; err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// TestSMTPPassthrough: an smtp listener in pass-through mode bridges to
// the fixed destination after XCLIENT, whatever the mapping says; with the
// destination down the sender gets 421 4.3.0.
func TestSMTPPassthrough(t *testing.T) {
	f := startRelayFixture(t, mocksmtp.Config{}, "")
	c := dialRelay(t, f.pass)
	expectPrefix(t, "greeting", c.reply(), "220 mx")
	c.cmd("EHLO client.test")
	c.cmd("MAIL FROM:<s@remote.test>")
	expectPrefix(t, "RCPT", c.cmd("RCPT TO:<alice@example.com>"), "250")
	expectPrefix(t, "DATA", c.cmd("DATA"), "354")
	c.send(strings.TrimSuffix(body("through", 10), "\r\n"))
	expectPrefix(t, "end of data", c.reply(), "250 2.0.0 Ok: queued as")
	xc := f.mx.XClients()
	if len(xc) != 1 || xc[0]["ADDR"] != "127.0.0.1" {
		t.Fatalf("XCLIENT at the pass-through destination: %v", xc)
	}
	f.mx.Close()
	d := dialRelay(t, f.pass)
	expectPrefix(t, "destination down", d.reply(), "421 4.3.0")
}

// TestLMTPDelayedRecipientDeferred: while an account is delayed (its
// mailbox is being moved), mail to it gets a temporary failure and stays in
// the sender's queue; other recipients are unaffected.
func TestLMTPDelayedRecipientDeferred(t *testing.T) {
	f := startRelayFixture(t, mocksmtp.Config{}, "")
	f.app.eng.Delay("bob@example.com", time.Minute)
	c := f.mailFrom(t)
	expectPrefix(t, "RCPT to a delayed account", c.cmd("RCPT TO:<Bob@Example.com>"), "451 4.4.3")
	expectPrefix(t, "RCPT to another", c.cmd("RCPT TO:<alice@example.com>"), "250")
	f.app.eng.Delay("bob@example.com", 0)
	c.cmd("RSET")
	c.cmd("MAIL FROM:<s@remote.test>")
	expectPrefix(t, "RCPT after the delay", c.cmd("RCPT TO:<bob@example.com>"), "250")
}
