//go:build linux

package e2e

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/e2e/harness"
	"github.com/switchyard-mail/switchyard/e2e/peers"
)

// smugglingEnv is switchyard's smtp listener in front of a Postfix MX
// delivering to Dovecot over LMTP, and its lmtp listener in front of the
// same Dovecot's LMTP service: one destination serving both.
type smugglingEnv struct {
	dc   *peers.Dovecot
	mx   *peers.Postfix
	sy   *harness.Switchyard
	smtp string // switchyard's listeners
	lmtp string
}

// smugglingVariants are line ends around a lone dot that servers open to
// SMTP smuggling take for the end of data (SEC Consult, CVE-2023-51764
// ..51766): Postfix 3.7 (smtpd_forbid_bare_newline = no) and Dovecot
// 2.3's LMTP, talked to directly, end the data at each of the first three
// and run the rest as commands; the bare-CR ones fool other servers.
var smugglingVariants = []struct{ name, sep string }{
	{"LF dot LF", "\n.\n"},
	{"CRLF dot LF", "\r\n.\n"},
	{"LF dot CRLF", "\n.\r\n"},
	{"CR dot CRLF", "\r.\r\n"},
	{"CRLF dot CR", "\r\n.\r"},
}

// TestSMTPSmuggling sends a message to bob@test that hides, after a lone
// dot between bare line ends, a second transaction to carol@test, through
// switchyard's smtp listener (to Postfix) and its lmtp listener (to
// Dovecot LMTP), in one write or cut just before the dot. The client must
// get 521 5.5.2 and the end of the session, and neither message may reach
// a mailbox: afterwards carol's INBOX holds only the marker and a message
// sent properly after the attempts, bob's none of the refused ones.
func TestSMTPSmuggling(t *testing.T) {
	harness.Gate(t)
	for _, bin := range []string{"postfix", "postqueue"} {
		harness.RequireBinary(t, bin)
	}
	e := &smugglingEnv{dc: peers.StartDovecot(t, "smuggle", peers.DovecotOptions{LMTP: true})}
	e.mx = peers.StartPostfix(t, "mx-smuggle", peers.PostfixSocketDir(t, "mx-smuggle"), peers.PostfixOptions{Role: peers.PostfixMX, LMTPAddr: e.dc.LMTPAddr})
	mapping := mappingFile(t, "# identifier destination")
	e.sy = harness.StartSwitchyardConfig(t, smugglingSwitchyardConfig(port(t, e.mx.SMTPAddr), port(t, e.dc.LMTPAddr), mapping))
	e.smtp, e.lmtp = e.sy.Addr(t, "mx"), e.sy.Addr(t, "lmtp")

	var refused []string // Subjects of messages that must not arrive anywhere
	for _, lmtp := range []bool{false, true} {
		proto, addr := "smtp", e.smtp
		if lmtp {
			proto, addr = "lmtp", e.lmtp
		}
		for _, v := range smugglingVariants {
			for _, cut := range []bool{false, true} {
				name := proto + "/" + v.name
				if cut {
					name += "/cut before the dot"
				}
				legit, smuggled := uniqueSubject("legit "+name), uniqueSubject("smuggled "+name)
				refused = append(refused, legit, smuggled)
				t.Run(name, func(t *testing.T) {
					e.sy.LogOnFailure(t)
					sendSmuggling(t, addr, lmtp, v.sep, cut, legit, smuggled)
				})
			}
		}
	}

	// A proper message to carol through each listener, after the
	// attempts: once it is in her INBOX (and Postfix's queue is empty),
	// anything smuggled before it would be there too.
	control := map[string]bool{peers.Marker("smuggle"): true}
	for _, lmtp := range []bool{false, true} {
		subject := uniqueSubject("control")
		control[subject] = true
		res, err := PythonSMTP(t, SMTPSend{Addr: map[bool]string{false: e.smtp, true: e.lmtp}[lmtp], LMTP: lmtp, Source: SenderSource, To: []string{"carol@test"}, Subject: subject})
		if err != nil {
			t.Fatalf("the control message: %v\n%s", err, res.Output)
		}
		if tx := res.Transactions[0]; len(tx.Final) != 1 || !strings.HasPrefix(tx.Final[0], "250 ") {
			t.Fatalf("the control message was not accepted: %+v", tx)
		}
		ExpectCopies(t, subject, 20*time.Second, Copies{e.dc, "carol@test", 1})
	}
	e.mx.WaitQueueEmpty(t, 20*time.Second)

	hs, err := InboxHeaders(e.dc, "carol@test")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if s := h.Get("Subject"); !control[s] {
			t.Errorf("carol@test received a smuggled message: Subject %q, From %q", s, h.Get("From"))
		}
	}
	if len(hs) != len(control) {
		t.Errorf("carol@test holds %d messages, want %d (the marker and the control messages)", len(hs), len(control))
	}
	for _, user := range []string{"bob@test", "carol@test"} {
		hs, err := InboxHeaders(e.dc, user)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			for _, s := range refused {
				if h.Get("Subject") == s {
					t.Errorf("%s received %q, from a message that was refused", user, s)
				}
			}
		}
	}
	if t.Failed() {
		t.Logf("--- Postfix's log ---\n%s", harness.TailFile(e.mx.LogPath, 40))
	}
}

// smugglingSwitchyardConfig: routing smtp and lmtp listeners, one
// destination whose smtp endpoint is a Postfix MX and whose lmtp endpoint
// is a Dovecot LMTP service, both told the client with XCLIENT.
func smugglingSwitchyardConfig(mxPort, lmtpPort int, mapping string) harness.SwitchyardConfig {
	routing := true
	return harness.SwitchyardConfig{
		Listeners: []harness.SYListener{
			{ID: "mx", Protocol: "smtp", TLS: "plain", RecipientRouting: &routing},
			{ID: "lmtp", Protocol: "lmtp", TLS: "plain", RecipientRouting: &routing},
		},
		Destinations: []harness.SYDestination{
			{ID: "mail", Host: "127.0.0.1", Forwarding: "xclient", Endpoints: []harness.SYEndpoint{
				{Protocol: "smtp", Port: mxPort, TLS: "plain"},
				{Protocol: "lmtp", Port: lmtpPort, TLS: "plain"}}},
		},
		DefaultDestination: "mail",
		MappingFile:        mapping,
	}
}

// sendSmuggling opens a transaction to bob@test on addr and sends, as its
// message, one to bob with subject legit ended by sep and followed by a
// whole transaction to carol with subject smuggled, then QUIT. With cut
// the first write stops before sep. The proxy must answer 521 5.5.2 (one
// reply: one recipient) and close the connection; it must never accept
// the smuggled commands.
func sendSmuggling(t *testing.T, addr string, lmtp bool, sep string, cut bool, legit, smuggled string) {
	t.Helper()
	c := DialRaw(t, addr, SenderSource)
	c.ReadTimeout = 20 * time.Second
	hello := "EHLO attacker.test"
	if lmtp {
		hello = "LHLO attacker.test"
	}
	SMTPExpect(t, c, "", "220 ")
	SMTPEnvelope(t, c, hello, "bob@test")
	first := smtpMessage(SMTPSend{To: []string{"bob@test"}, Subject: legit, Body: "legit body"})
	rest := sep + "MAIL FROM:<forged@example.net>\r\nRCPT TO:<carol@test>\r\nDATA\r\n" +
		smtpMessage(SMTPSend{From: "forged@example.net", To: []string{"carol@test"}, Subject: smuggled, Body: "smuggled\r\n"}) +
		".\r\nQUIT\r\n"
	if cut {
		c.Write(first)
		c.Write(rest)
	} else {
		c.Write(first + rest)
	}
	var replies []string
	var err error
	for {
		var r string
		if r, err = SMTPReply(c); err != nil {
			break
		}
		replies = append(replies, r)
	}
	want := "521 5.5.2 mail.test Error: bare <CR> or <LF> received"
	if len(replies) != 1 || replies[0] != want {
		t.Errorf("after the message the client got %q, want only %q", replies, want)
	}
	if !errors.Is(err, io.EOF) {
		t.Errorf("the connection did not end after the refusal: %v", err)
	}
}
