//go:build linux

package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/e2e/harness"
	"github.com/switchyard-mail/switchyard/e2e/peers"
)

// lmtpEnv is switchyard's LMTP listener routing recipients between two
// Dovecot LMTP services: "old" (the default destination, told the client
// address with XCLIENT) and "new" (told with a PROXY v2 header, on its
// haproxy listener). alice@test and carol@test are mapped to new.
type lmtpEnv struct {
	old, new *peers.Dovecot
	sy       *harness.Switchyard
	addr     string // switchyard's lmtp listener
	// unknown is Dovecot's own reply to RCPT TO:<nobody@test>, as a
	// client talking to it directly gets it.
	unknown string
}

// uniqueSubject makes a Subject no other message in the run has.
func uniqueSubject(what string) string {
	return fmt.Sprintf("%s %d", what, time.Now().UnixNano())
}

func TestLMTP(t *testing.T) {
	harness.Gate(t)
	harness.RequireBinary(t, "python3")
	e := &lmtpEnv{
		old: peers.StartDovecot(t, "old", peers.DovecotOptions{LMTP: true}),
		new: peers.StartDovecot(t, "new", peers.DovecotOptions{LMTP: true}),
	}
	// Without switchyard: what the proxy relies on holds, and what the
	// backends answer by themselves.
	if !t.Run("backends", func(t *testing.T) { testLMTPBackends(t, e) }) {
		t.Fatal("the backends do not work on their own; nothing to proxy")
	}

	mapping := mappingFile(t, "# identifier destination", "alice@test new", "carol@test new")
	e.sy = harness.StartSwitchyardConfig(t, harness.SwitchyardConfig{
		// No passthrough destination: recipient routing is the default.
		Listeners: []harness.SYListener{{ID: "lmtp", Protocol: "lmtp", TLS: "plain"}},
		Destinations: []harness.SYDestination{
			{ID: "old", Host: "127.0.0.1", Forwarding: "xclient",
				Endpoints: []harness.SYEndpoint{{Protocol: "lmtp", Port: port(t, e.old.LMTPAddr), TLS: "plain"}}},
			// The endpoint's forwarding overrides the destination's.
			{ID: "new", Host: "127.0.0.1", Forwarding: "none",
				Endpoints: []harness.SYEndpoint{{Protocol: "lmtp", Port: port(t, e.new.LMTPProxyAddr), TLS: "plain", Forwarding: "proxy"}}},
		},
		DefaultDestination: "old",
		MappingFile:        mapping,
	})
	e.addr = e.sy.Addr(t, "lmtp")

	t.Run("lhlo", func(t *testing.T) {
		e.sy.LogOnFailure(t)
		expectEHLO(t, e.addr, "LHLO", []string{"SIZE 52428800"}, "STARTTLS")
	})
	for _, drv := range SMTPDrivers {
		drv := drv
		t.Run("split/"+drv.Name, func(t *testing.T) { testLMTPSplit(t, e, drv) })
	}
	t.Run("same backend", func(t *testing.T) { testLMTPSameBackend(t, e) })
	t.Run("unknown recipient", func(t *testing.T) { testLMTPUnknown(t, e) })
	// Last: it stops and restarts old.
	t.Run("backend lost mid-DATA", func(t *testing.T) { testLMTPBackendLost(t, e) })
}

// testLMTPBackends talks to the Dovecots directly: delivery and the
// unknown-user reply, XCLIENT accepted from loopback (the proxy's
// address) and the PROXY listener, each shown by the Received header
// Dovecot writes.
func testLMTPBackends(t *testing.T, e *lmtpEnv) {
	t.Run("deliver", func(t *testing.T) {
		subject := uniqueSubject("lmtp direct")
		res, err := PythonSMTP(t, SMTPSend{Addr: e.old.LMTPAddr, LMTP: true, To: []string{"dave@test", "nobody@test"}, Subject: subject})
		if err != nil {
			t.Fatalf("%v\n%s", err, res.Output)
		}
		if len(res.Transactions) != 1 {
			t.Fatalf("want 1 transaction, got %+v", res.Transactions)
		}
		tx := res.Transactions[0]
		if r, _ := tx.RcptReply("dave@test"); !strings.HasPrefix(r, "250 ") {
			t.Fatalf("RCPT dave@test: %q", r)
		}
		e.unknown, _ = tx.RcptReply("nobody@test")
		if !strings.HasPrefix(e.unknown, "550 5.1.1 ") {
			t.Fatalf("RCPT nobody@test: got %q, want Dovecot's 550 5.1.1", e.unknown)
		}
		if len(tx.Final) != 1 || !strings.HasPrefix(tx.Final[0], "250 ") {
			t.Fatalf("after the message: %q, want one 250", tx.Final)
		}
		ExpectCopies(t, subject, 5*time.Second, Copies{e.old, "dave@test", 1}, Copies{e.new, "dave@test", 0})
	})
	t.Run("xclient", func(t *testing.T) {
		c := DialRaw(t, e.old.LMTPAddr, "")
		SMTPExpect(t, c, "", "220 ")
		if r := SMTPExpect(t, c, "LHLO proxy.test", "250"); !strings.Contains(r, "\nXCLIENT ") {
			t.Fatalf("Dovecot does not offer XCLIENT to 127.0.0.1: %q", r)
		}
		SMTPExpect(t, c, "XCLIENT ADDR=127.0.0.9 PORT=4242", "220 ")
		subject := uniqueSubject("lmtp xclient")
		RawDeliver(t, c, "LHLO laptop.test", "carol@test", subject)
		expectReceivedFrom(t, e.old, "carol@test", subject, "127.0.0.9")
	})
	t.Run("proxy listener", func(t *testing.T) {
		c := DialRaw(t, e.new.LMTPProxyAddr, "")
		c.Write(string(ProxyV2Header("127.0.0.8:4343", e.new.LMTPProxyAddr)))
		SMTPExpect(t, c, "", "220 ")
		subject := uniqueSubject("lmtp proxy")
		RawDeliver(t, c, "LHLO laptop.test", "carol@test", subject)
		expectReceivedFrom(t, e.new, "carol@test", subject, "127.0.0.8")
	})
}

// expectReceivedFrom checks that the one message with subject in user's
// INBOX on d carries, in the Received header Dovecot's LMTP wrote (the
// topmost), the client address ip.
func expectReceivedFrom(t *testing.T, d *peers.Dovecot, user, subject, ip string) {
	t.Helper()
	var hs []mail.Header
	err := harness.Eventually(5*time.Second, func() error {
		var err error
		hs, err = WithSubject(d, user, subject)
		if err == nil && len(hs) != 1 {
			err = fmt.Errorf("%d messages with Subject %q in %s's INBOX on %s, want 1", len(hs), subject, user, d.Name)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	rcvd := hs[0]["Received"]
	if len(rcvd) == 0 {
		t.Fatalf("no Received header in %s's message on %s", user, d.Name)
	}
	if !strings.Contains(rcvd[0], "(["+ip+"])") {
		t.Fatalf("%s's message on %s was received from the wrong client: %q, want [%s]", user, d.Name, rcvd[0], ip)
	}
}

// lmtpBackend is where the mapping sends a user.
func (e *lmtpEnv) backend(user string) (*peers.Dovecot, *peers.Dovecot) {
	if user == "alice@test" || user == "carol@test" {
		return e.new, e.old
	}
	return e.old, e.new
}

// testLMTPSplit sends one message to a user on each backend in one
// transaction: the first recipient fixes the transaction's backend and is
// accepted by it, the second gets 452 4.5.3 and is sent by the client in a
// second transaction. Each copy lands once, in the recipient's own
// mailbox, received from the client's address (XCLIENT to old, PROXY to
// new).
func testLMTPSplit(t *testing.T, e *lmtpEnv, drv SMTPDriver) {
	e.sy.LogOnFailure(t)
	first, second := "alice@test", "bob@test"
	if drv.Name == "swaks" {
		first, second = second, first
	}
	subject := uniqueSubject("lmtp split " + drv.Name)
	res, err := drv.Run(t, SMTPSend{Addr: e.addr, LMTP: true, Source: SenderSource, To: []string{first, second}, Subject: subject, Retry: true})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	expectSplit(t, res, first, second, "250 ", "250 ", res.Output)
	for _, u := range []string{first, second} {
		on, off := e.backend(u)
		ExpectCopies(t, subject, 5*time.Second, Copies{on, u, 1}, Copies{off, u, 0})
		expectReceivedFrom(t, on, u, subject, SenderSource)
	}
}

// expectSplit checks the two transactions of a split delivery: first
// accepted (reply starting with acceptPrefix) and second deferred with
// 452 4.5.3 in the first, second accepted in the next, and each message
// accepted (finalPrefix).
func expectSplit(t *testing.T, res SMTPResult, first, second, acceptPrefix, finalPrefix, output string) {
	t.Helper()
	if len(res.Transactions) != 2 {
		t.Fatalf("want 2 transactions (the second for the recipient deferred in the first), got %d: %+v\n%s", len(res.Transactions), res.Transactions, output)
	}
	tx := res.Transactions[0]
	if r, _ := tx.RcptReply(first); !strings.HasPrefix(r, acceptPrefix) {
		t.Fatalf("first transaction, RCPT %s: got %q, want %q...\n%s", first, r, acceptPrefix, output)
	}
	if r, _ := tx.RcptReply(second); !strings.HasPrefix(r, "452 4.5.3") {
		t.Fatalf("first transaction, RCPT %s (on the other backend): got %q, want \"452 4.5.3 ...\"\n%s", second, r, output)
	}
	if len(tx.Final) != 1 || !strings.HasPrefix(tx.Final[0], finalPrefix) {
		t.Fatalf("first transaction, after the message: got %q, want one %q...\n%s", tx.Final, finalPrefix, output)
	}
	tx = res.Transactions[1]
	if len(tx.Rcpts) != 1 {
		t.Fatalf("second transaction: recipients %+v, want only %s", tx.Rcpts, second)
	}
	if r, _ := tx.RcptReply(second); !strings.HasPrefix(r, acceptPrefix) {
		t.Fatalf("second transaction, RCPT %s: got %q, want %q...\n%s", second, r, acceptPrefix, output)
	}
	if len(tx.Final) != 1 || !strings.HasPrefix(tx.Final[0], finalPrefix) {
		t.Fatalf("second transaction, after the message: got %q, want one %q...\n%s", tx.Final, finalPrefix, output)
	}
}

// testLMTPSameBackend: two recipients on one backend go in one
// transaction, and the client gets one reply per recipient after the
// message, in RCPT order (LMTP).
func testLMTPSameBackend(t *testing.T, e *lmtpEnv) {
	e.sy.LogOnFailure(t)
	subject := uniqueSubject("lmtp same backend")
	res, err := PythonSMTP(t, SMTPSend{Addr: e.addr, LMTP: true, Source: SenderSource, To: []string{"alice@test", "carol@test"}, Subject: subject, Retry: true})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	if len(res.Transactions) != 1 {
		t.Fatalf("want 1 transaction, got %+v", res.Transactions)
	}
	tx := res.Transactions[0]
	for _, u := range []string{"alice@test", "carol@test"} {
		if r, _ := tx.RcptReply(u); !strings.HasPrefix(r, "250 ") {
			t.Fatalf("RCPT %s: %q", u, r)
		}
	}
	if len(tx.Final) != 2 || !strings.HasPrefix(tx.Final[0], "250 ") || !strings.Contains(tx.Final[0], "<alice@test>") ||
		!strings.HasPrefix(tx.Final[1], "250 ") || !strings.Contains(tx.Final[1], "<carol@test>") {
		t.Fatalf("after the message: got %q, want Dovecot's 250 for <alice@test>, then for <carol@test>", tx.Final)
	}
	ExpectCopies(t, subject, 5*time.Second, Copies{e.new, "alice@test", 1}, Copies{e.new, "carol@test", 1},
		Copies{e.old, "alice@test", 0}, Copies{e.old, "carol@test", 0})
}

// testLMTPUnknown: a recipient the backend does not know is refused with
// the backend's own reply, and the valid recipient of the same
// transaction still gets the message.
func testLMTPUnknown(t *testing.T, e *lmtpEnv) {
	e.sy.LogOnFailure(t)
	if e.unknown == "" {
		t.Fatal("the backends subtest did not record Dovecot's own reply")
	}
	subject := uniqueSubject("lmtp unknown")
	res, err := PythonSMTP(t, SMTPSend{Addr: e.addr, LMTP: true, Source: SenderSource, To: []string{"nobody@test", "bob@test"}, Subject: subject})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	if len(res.Transactions) != 1 {
		t.Fatalf("want 1 transaction, got %+v", res.Transactions)
	}
	tx := res.Transactions[0]
	if r, _ := tx.RcptReply("nobody@test"); r != e.unknown {
		t.Fatalf("RCPT nobody@test: got %q, want Dovecot's own %q", r, e.unknown)
	}
	if r, _ := tx.RcptReply("bob@test"); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("RCPT bob@test: %q", r)
	}
	if len(tx.Final) != 1 || !strings.HasPrefix(tx.Final[0], "250 ") {
		t.Fatalf("after the message: got %q, want one 250 (for bob only)", tx.Final)
	}
	ExpectCopies(t, subject, 5*time.Second, Copies{e.old, "bob@test", 1})
}

// testLMTPBackendLost stops the backend while the client is in the middle
// of the message: the proxy must say nothing until the client has sent
// all of it, then answer 4xx; nothing partial is stored; once the backend
// is back the client's retry delivers exactly one copy.
func testLMTPBackendLost(t *testing.T, e *lmtpEnv) {
	e.sy.LogOnFailure(t)
	subject := uniqueSubject("lmtp lost")
	var body strings.Builder
	for i := 0; i < 800; i++ {
		fmt.Fprintf(&body, "line %04d of a message that loses its backend halfway through its DATA\r\n", i)
	}
	msg := smtpMessage(SMTPSend{To: []string{"bob@test"}, Subject: subject, Body: body.String()})
	half := len(msg) / 2

	c := DialRaw(t, e.addr, SenderSource)
	SMTPExpect(t, c, "", "220 ")
	SMTPEnvelope(t, c, "LHLO laptop.test", "bob@test")
	c.Write(msg[:half])
	time.Sleep(500 * time.Millisecond) // the first half reaches Dovecot
	e.old.Stop(t)

	// Nothing may be said to the client before its message ends.
	c.ReadTimeout = time.Second
	if l, err := c.TryReadLine(); err == nil || !isTimeout(err) {
		t.Fatalf("the proxy spoke in the middle of the message: %q (%v)", l, err)
	}
	c.ReadTimeout = 20 * time.Second
	c.Write(msg[half:] + ".\r\n")
	r, err := SMTPReply(c)
	if err != nil {
		t.Fatalf("after the end of the message: %v", err)
	}
	if !strings.HasPrefix(r, "4") {
		t.Fatalf("after the end of the message, with the backend gone: got %q, want a temporary failure (4xx)", r)
	}
	t.Logf("backend lost mid-DATA: the client got %q", r)

	e.old.Restart(t)
	ExpectCopies(t, subject, 2*time.Second, Copies{e.old, "bob@test", 0})
	// The client retries the whole message until it is accepted.
	var last SMTPResult
	err = harness.Eventually(20*time.Second, func() error {
		res, err := PythonSMTP(t, SMTPSend{Addr: e.addr, LMTP: true, Source: SenderSource, To: []string{"bob@test"}, Subject: subject, Body: body.String(), Timeout: 10 * time.Second})
		last = res
		if err != nil {
			return err
		}
		if len(res.Transactions) != 1 || len(res.Transactions[0].Final) != 1 || !strings.HasPrefix(res.Transactions[0].Final[0], "250 ") {
			return fmt.Errorf("not delivered yet: %+v", res.Transactions)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("retry after the backend came back: %v\n%s", err, last.Output)
	}
	ExpectCopies(t, subject, 5*time.Second, Copies{e.old, "bob@test", 1}, Copies{e.new, "bob@test", 0})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
