//go:build linux

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/e2e/harness"
	"github.com/switchyard-mail/switchyard/e2e/peers"
)

// smtpEnv is switchyard on port-25 duty in front of two Postfix MX
// services, each delivering over LMTP to its own Dovecot: "old" (the
// default destination, told the client address with XCLIENT) and "new"
// (told with a PROXY v2 header, which its smtpd requires). alice@test and
// carol@test are mapped to new. Three smtp listeners: "mx" and "mx-tls"
// (STARTTLS terminated at the proxy) route each recipient; "mx-bridge"
// bridges whole connections to old (routing.smtp_passthrough_destination).
// A sender Postfix relays through "mx".
type smtpEnv struct {
	dcOld, dcNew *peers.Dovecot
	mxOld, mxNew *peers.Postfix
	sender       *peers.Postfix
	sy           *harness.Switchyard

	mx, mxTLS, bridge string // switchyard's listeners
	// unknown is Postfix's own reply to RCPT TO:<nobody@test>.
	unknown string
}

func TestSMTP(t *testing.T) {
	harness.Gate(t)
	for _, bin := range []string{"postfix", "postqueue", "python3", "swaks"} {
		harness.RequireBinary(t, bin)
	}
	e := &smtpEnv{
		dcOld: peers.StartDovecot(t, "old", peers.DovecotOptions{LMTP: true}),
		dcNew: peers.StartDovecot(t, "new", peers.DovecotOptions{LMTP: true}),
	}
	e.mxOld = peers.StartPostfix(t, "mx-old", peers.PostfixSocketDir(t, "mx-old"), peers.PostfixOptions{Role: peers.PostfixMX, LMTPAddr: e.dcOld.LMTPAddr})
	e.mxNew = peers.StartPostfix(t, "mx-new", peers.PostfixSocketDir(t, "mx-new"), peers.PostfixOptions{Role: peers.PostfixMX, LMTPAddr: e.dcNew.LMTPAddr, ProxyProtocol: true})
	if !t.Run("backends", func(t *testing.T) { testSMTPBackends(t, e) }) {
		t.Fatal("the backends do not work on their own; nothing to proxy")
	}

	cert, mapping := proxyCertMapping(t, "# identifier destination", "alice@test new", "carol@test new")
	routing := true
	e.sy = harness.StartSwitchyardConfig(t, harness.SwitchyardConfig{
		Cert: &cert,
		Listeners: []harness.SYListener{
			{ID: "mx", Protocol: "smtp", TLS: "plain", RecipientRouting: &routing, MaxMessageSize: "20MiB"},
			{ID: "mx-tls", Protocol: "smtp", TLS: "starttls", RecipientRouting: &routing},
			{ID: "mx-bridge", Protocol: "smtp", TLS: "plain"},
		},
		Destinations: []harness.SYDestination{
			{ID: "old", Host: "127.0.0.1", Forwarding: "xclient",
				Endpoints: []harness.SYEndpoint{{Protocol: "smtp", Port: port(t, e.mxOld.SMTPAddr), TLS: "plain"}}},
			{ID: "new", Host: "127.0.0.1", Forwarding: "proxy",
				Endpoints: []harness.SYEndpoint{{Protocol: "smtp", Port: port(t, e.mxNew.SMTPAddr), TLS: "plain"}}},
		},
		DefaultDestination:         "old",
		SMTPPassthroughDestination: "old",
		MappingFile:                mapping,
	})
	e.mx, e.mxTLS, e.bridge = e.sy.Addr(t, "mx"), e.sy.Addr(t, "mx-tls"), e.sy.Addr(t, "mx-bridge")
	e.sender = peers.StartPostfix(t, "sender", peers.PostfixSocketDir(t, "sender"), peers.PostfixOptions{Role: peers.PostfixSender, RelayHost: e.mx})

	t.Run("ehlo", func(t *testing.T) {
		e.sy.LogOnFailure(t)
		// max_message_size = "20MiB" on mx, the default 50MiB on mx-tls.
		expectEHLO(t, e.mx, "EHLO", []string{"SIZE 20971520"}, "STARTTLS")
		expectEHLO(t, e.mxTLS, "EHLO", []string{"SIZE 52428800", "STARTTLS"}, "")
	})
	for _, drv := range SMTPDrivers {
		drv := drv
		t.Run("split/"+drv.Name, func(t *testing.T) { testSMTPSplit(t, e, drv) })
	}
	t.Run("postfix relaying through switchyard", func(t *testing.T) { testSMTPSenderPostfix(t, e) })
	t.Run("unknown recipient", func(t *testing.T) { testSMTPUnknown(t, e) })
	for _, drv := range SMTPDrivers {
		drv := drv
		t.Run("starttls/"+drv.Name, func(t *testing.T) { testSMTPStartTLS(t, e, drv) })
	}
	t.Run("passthrough", func(t *testing.T) { testSMTPPassthrough(t, e) })
	// Last: it stops old's Postfix.
	t.Run("passthrough destination down", func(t *testing.T) { testSMTPPassthroughDown(t, e) })
}

// testSMTPBackends talks to the Postfix MXs directly: delivery into the
// Dovecot behind each (new only with a PROXY header), and the
// unknown-user reply.
func testSMTPBackends(t *testing.T, e *smtpEnv) {
	t.Run("deliver", func(t *testing.T) {
		subject := uniqueSubject("smtp direct")
		res, err := Swaks(t, SMTPSend{Addr: e.mxOld.SMTPAddr, To: []string{"dave@test", "nobody@test"}, Subject: subject})
		if err != nil {
			t.Fatalf("%v\n%s", err, res.Output)
		}
		tx := res.Transactions[0]
		if r, _ := tx.RcptReply("dave@test"); !strings.HasPrefix(r, "250 ") {
			t.Fatalf("RCPT dave@test: %q\n%s", r, res.Output)
		}
		e.unknown, _ = tx.RcptReply("nobody@test")
		if !strings.HasPrefix(e.unknown, "550 5.1.1 ") || !strings.Contains(e.unknown, "User unknown in virtual mailbox table") {
			t.Fatalf("RCPT nobody@test: got %q, want Postfix's 550 5.1.1 ... User unknown in virtual mailbox table\n%s", e.unknown, res.Output)
		}
		if len(tx.Final) != 1 || QueueID(tx.Final[0]) == "" {
			t.Fatalf("after the message: %q, want Postfix's \"250 2.0.0 Ok: queued as ...\"\n%s", tx.Final, res.Output)
		}
		ExpectCopies(t, subject, 20*time.Second, Copies{e.dcOld, "dave@test", 1}, Copies{e.dcNew, "dave@test", 0})
	})
	t.Run("proxy header", func(t *testing.T) {
		mark := e.mxNew.Mark()
		c := DialRaw(t, e.mxNew.SMTPAddr, "")
		c.Write(string(ProxyV2Header("127.0.0.8:4343", e.mxNew.SMTPAddr)))
		SMTPExpect(t, c, "", "220 ")
		subject := uniqueSubject("smtp proxy")
		id := QueueID(RawDeliver(t, c, "EHLO laptop.test", "dave@test", subject))
		expectPostfixClient(t, e.mxNew, mark, id, "127.0.0.8")
		ExpectCopies(t, subject, 20*time.Second, Copies{e.dcNew, "dave@test", 1}, Copies{e.dcOld, "dave@test", 0})
	})
}

// expectPostfixClient waits until p logs the client of queue ID id
// (smtpd's "client=" line) and checks it is ip.
func expectPostfixClient(t *testing.T, p *peers.Postfix, mark harness.LogMark, id, ip string) {
	t.Helper()
	if id == "" {
		t.Fatal("no queue ID in the reply to the message")
	}
	var got peers.PostfixClient
	err := harness.Eventually(5*time.Second, func() error {
		for _, c := range p.Clients(mark) {
			if c.QueueID == id {
				got = c
				return nil
			}
		}
		return fmt.Errorf("postfix %s logged no client for queue ID %s", p.Name, id)
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, harness.TailFile(p.LogPath, 20))
	}
	if got.Addr != ip {
		t.Fatalf("postfix %s logged the client of %s as %s, want %s\n%s", p.Name, id, got.Addr, ip, got.Line)
	}
}

// backend is where the mapping sends a user: its MX, its Dovecot, and
// the other Dovecot.
func (e *smtpEnv) backend(user string) (*peers.Postfix, *peers.Dovecot, *peers.Dovecot) {
	if user == "alice@test" || user == "carol@test" {
		return e.mxNew, e.dcNew, e.dcOld
	}
	return e.mxOld, e.dcOld, e.dcNew
}

// settle waits until both MXs have handed everything to Dovecot.
func (e *smtpEnv) settle(t *testing.T) {
	t.Helper()
	e.mxOld.WaitQueueEmpty(t, 20*time.Second)
	e.mxNew.WaitQueueEmpty(t, 20*time.Second)
}

// testSMTPSplit: one transaction to a user on each backend; the second
// recipient gets 452 4.5.3 and the client sends it again in a new
// transaction. Each MX logs the client's own address (XCLIENT to old,
// PROXY to new), and each copy lands once in the recipient's mailbox.
func testSMTPSplit(t *testing.T, e *smtpEnv, drv SMTPDriver) {
	e.sy.LogOnFailure(t)
	first, second := "alice@test", "bob@test"
	if drv.Name == "swaks" {
		first, second = second, first
	}
	marks := map[*peers.Postfix]harness.LogMark{e.mxOld: e.mxOld.Mark(), e.mxNew: e.mxNew.Mark()}
	subject := uniqueSubject("smtp split " + drv.Name)
	res, err := drv.Run(t, SMTPSend{Addr: e.mx, Source: SenderSource, To: []string{first, second}, Subject: subject, Retry: true})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	expectSplit(t, res, first, second, "250 ", "250 2.0.0 Ok: queued as ", res.Output)
	for i, u := range []string{first, second} {
		mx, _, _ := e.backend(u)
		expectPostfixClient(t, mx, marks[mx], QueueID(res.Transactions[i].Final[0]), SenderSource)
	}
	e.settle(t)
	for _, u := range []string{first, second} {
		_, on, off := e.backend(u)
		ExpectCopies(t, subject, 5*time.Second, Copies{on, u, 1}, Copies{off, u, 0})
	}
}

// testSMTPSenderPostfix: a real MTA relays a message for a user on each
// backend through switchyard. It gets 452 4.5.3 for one of them, defers
// it and delivers it on a later attempt: each copy lands once.
func testSMTPSenderPostfix(t *testing.T, e *smtpEnv) {
	e.sy.LogOnFailure(t)
	mark := e.sender.Mark()
	subject := uniqueSubject("smtp via postfix")
	res, err := Swaks(t, SMTPSend{Addr: e.sender.SMTPAddr, To: []string{"alice@test", "bob@test"}, Subject: subject})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	if tx := res.Transactions[0]; len(tx.Final) != 1 || QueueID(tx.Final[0]) == "" {
		t.Fatalf("the sender Postfix did not queue the message: %+v\n%s", tx, res.Output)
	}
	e.sender.WaitQueueEmpty(t, 60*time.Second)
	e.settle(t)
	for _, u := range []string{"alice@test", "bob@test"} {
		_, on, off := e.backend(u)
		ExpectCopies(t, subject, 5*time.Second, Copies{on, u, 1}, Copies{off, u, 0})
	}

	// Its log: each recipient sent once; one of them deferred with the
	// proxy's 452 4.5.3 before.
	sent := map[string]int{}
	deferred := map[string]bool{}
	for _, d := range e.sender.Deliveries(mark) {
		switch d.Status {
		case "sent":
			sent[d.To]++
		case "deferred":
			if !strings.Contains(d.Detail, "452 4.5.3") {
				t.Errorf("the sender Postfix deferred %s for another reason: %s", d.To, d.Line)
			}
			if sent[d.To] > 0 {
				t.Errorf("the sender Postfix deferred %s after sending it: %s", d.To, d.Line)
			}
			deferred[d.To] = true
		default:
			t.Errorf("the sender Postfix logged %s for %s: %s", d.Status, d.To, d.Line)
		}
	}
	if sent["alice@test"] != 1 || sent["bob@test"] != 1 {
		t.Errorf("the sender Postfix sent alice@test %d times and bob@test %d times, want once each", sent["alice@test"], sent["bob@test"])
	}
	if len(deferred) != 1 {
		t.Errorf("the sender Postfix deferred %v, want exactly one of the two recipients (with 452 4.5.3)", deferred)
	}
	if t.Failed() {
		t.Logf("--- the sender Postfix's log ---\n%s", harness.TailFile(e.sender.LogPath, 30))
	}
}

// testSMTPUnknown: a recipient the MX does not know is refused with the
// MX's own reply, word for word.
func testSMTPUnknown(t *testing.T, e *smtpEnv) {
	e.sy.LogOnFailure(t)
	if e.unknown == "" {
		t.Fatal("the backends subtest did not record Postfix's own reply")
	}
	for _, drv := range SMTPDrivers {
		res, err := drv.Run(t, SMTPSend{Addr: e.mx, Source: SenderSource, To: []string{"nobody@test"}, Subject: uniqueSubject("smtp unknown")})
		if err != nil {
			t.Fatalf("%s: %v\n%s", drv.Name, err, res.Output)
		}
		tx := res.Transactions[0]
		if r, _ := tx.RcptReply("nobody@test"); r != e.unknown {
			t.Fatalf("%s: RCPT nobody@test: got %q, want Postfix's own %q\n%s", drv.Name, r, e.unknown, res.Output)
		}
		if len(tx.Final) != 0 {
			t.Fatalf("%s: a message with no recipient was accepted: %q", drv.Name, tx.Final)
		}
	}
}

// testSMTPStartTLS: STARTTLS on a routing listener is terminated at the
// proxy (the MXs offer no TLS), and the message is delivered.
func testSMTPStartTLS(t *testing.T, e *smtpEnv, drv SMTPDriver) {
	e.sy.LogOnFailure(t)
	mark := e.mxOld.Mark()
	subject := uniqueSubject("smtp starttls " + drv.Name)
	res, err := drv.Run(t, SMTPSend{Addr: e.mxTLS, StartTLS: true, Source: SenderSource, To: []string{"dave@test"}, Subject: subject})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	tx := res.Transactions[0]
	if len(tx.Final) != 1 || QueueID(tx.Final[0]) == "" {
		t.Fatalf("after the message: %q, want Postfix's \"250 2.0.0 Ok: queued as ...\"\n%s", tx.Final, res.Output)
	}
	if drv.Name == "swaks" && !strings.Contains(res.Output, " ~> MAIL FROM:") {
		t.Fatalf("swaks did not send the envelope inside TLS:\n%s", res.Output)
	}
	expectPostfixClient(t, e.mxOld, mark, QueueID(tx.Final[0]), SenderSource)
	e.settle(t)
	ExpectCopies(t, subject, 5*time.Second, Copies{e.dcOld, "dave@test", 1}, Copies{e.dcNew, "dave@test", 0})
}

// testSMTPPassthrough: the listener without recipient routing bridges the
// connection to the passthrough destination (old's MX, which greets the
// client itself) whatever the mapping says, and old's MX logs the
// client's own address (XCLIENT).
func testSMTPPassthrough(t *testing.T, e *smtpEnv) {
	e.sy.LogOnFailure(t)
	mark := e.mxOld.Mark()
	subject := uniqueSubject("smtp passthrough")
	// alice@test is mapped to new: a bridge does not look.
	res, err := Swaks(t, SMTPSend{Addr: e.bridge, Source: SenderSource, To: []string{"alice@test"}, Subject: subject})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	if !strings.Contains(res.Output, "220 mx-old.postfix.test ESMTP") {
		t.Fatalf("the client was not greeted by old's Postfix:\n%s", res.Output)
	}
	tx := res.Transactions[0]
	if len(tx.Final) != 1 || QueueID(tx.Final[0]) == "" {
		t.Fatalf("after the message: %q, want Postfix's \"250 2.0.0 Ok: queued as ...\"\n%s", tx.Final, res.Output)
	}
	expectPostfixClient(t, e.mxOld, mark, QueueID(tx.Final[0]), SenderSource)
	e.settle(t)
	ExpectCopies(t, subject, 5*time.Second, Copies{e.dcOld, "alice@test", 1}, Copies{e.dcNew, "alice@test", 0})
}

// testSMTPPassthroughDown: with the passthrough destination down, a
// client is told to come back later.
func testSMTPPassthroughDown(t *testing.T, e *smtpEnv) {
	e.sy.LogOnFailure(t)
	e.mxOld.Stop(t)
	c := DialRaw(t, e.bridge, SenderSource)
	c.ReadTimeout = 20 * time.Second
	SMTPExpect(t, c, "", "421 4.3.0")
}

// expectEHLO checks what the proxy itself says to a client of a routing
// listener: its own greeting (server.hostname), and an EHLO/LHLO reply
// with the extensions a relaying MTA needs, plus want, and without
// unwanted (when not empty).
func expectEHLO(t *testing.T, addr, verb string, want []string, unwanted string) {
	t.Helper()
	c := DialRaw(t, addr, SenderSource)
	if g := SMTPExpect(t, c, "", "220 "); !strings.HasPrefix(g, "220 mail.test ") {
		t.Errorf("greeting %q, want the proxy's own (\"220 mail.test ...\")", g)
	}
	r := SMTPExpect(t, c, verb+" laptop.test", "250")
	lines := strings.Split(r, "\n")
	have := map[string]bool{}
	for _, l := range lines[1:] {
		have[strings.ToUpper(strings.TrimSpace(l))] = true
		if f := strings.Fields(l); len(f) > 0 {
			have[strings.ToUpper(f[0])] = true
		}
	}
	for _, ext := range append([]string{"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"}, want...) {
		if !have[ext] {
			t.Errorf("%s reply lacks %s:\n%s", verb, ext, r)
		}
	}
	if unwanted != "" && have[unwanted] {
		t.Errorf("%s reply offers %s:\n%s", verb, unwanted, r)
	}
	SMTPExpect(t, c, "QUIT", "221 ")
}
