package pop3

import (
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

func plainLogin(user, pass string) *protocols.Login {
	return prototest.PasswordLogin(sasl.Login, user, pass)
}

// utf8Login is a USER/PASS login after the client's UTF8, as the Server
// hands it over.
func utf8Login(user, pass string) *protocols.Login {
	l := plainLogin(user, pass)
	l.ClientID = []string{ClientIDUTF8, "1"}
	return l
}

var (
	bearerLogin = prototest.BearerLogin
	testInfo    = prototest.ForwardInfo("[2001:db8::7]:40000", "192.0.2.1:110", 0)
)

const (
	dovecotGreeting = "+OK Dovecot ready.\r\n"
	dovecotCapa     = "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n"
	dovecotCapaXC   = "+OK\r\nCAPA\r\nTOP\r\nXCLIENT\r\nPIPELINING\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n"
	// utf8Capa: an RFC 6856 server (pipelining, STLS, XCLIENT, SASL PLAIN).
	utf8Capa = "+OK\r\nTOP\r\nPIPELINING\r\nSTLS\r\nXCLIENT ADDR PORT\r\nUTF8 USER\r\nSASL PLAIN\r\n.\r\n"
)

// transcript: see prototest.RunTranscripts.
type transcript prototest.Transcript[BackendConfig]

// Each case feeds backend lines (one string per network read) and checks
// what the machine sent and what it asked of the engine. Every case also
// runs with the backend's bytes delivered one at a time.
func TestBackendTranscripts(t *testing.T) {
	prototest.RunTranscripts(t, NewBackend, []transcript{
		{"dovecot-plain", BackendConfig{Login: plainLogin("alice", "secret")},
			[]string{dovecotGreeting, dovecotCapa, "+OK Logged in.\r\n"},
			"CAPA\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", []string{`ok "+OK Logged in.\r\n"`}},
		{"refused-relayed", BackendConfig{Login: plainLogin("alice", "bad")},
			[]string{dovecotGreeting, dovecotCapa, "-ERR [AUTH] Authentication failed.\r\n"},
			"CAPA\r\nAUTH PLAIN AGFsaWNlAGJhZA==\r\n", []string{`refused "-ERR [AUTH] Authentication failed.\r\n"`}},
		{"refused-hidden", BackendConfig{Login: plainLogin("alice", "bad"), HideAuthErrors: true},
			[]string{dovecotGreeting, dovecotCapa, "-ERR [AUTH] No such user alice\r\n"},
			"CAPA\r\nAUTH PLAIN AGFsaWNlAGJhZA==\r\n", []string{`refused "-ERR [AUTH] Authentication failed.\r\n"`}},
		{"in-use-not-hidden", BackendConfig{Login: plainLogin("alice", "pw"), HideAuthErrors: true},
			[]string{dovecotGreeting, dovecotCapa, "-ERR [IN-USE] Mailbox is locked\r\n"},
			"CAPA\r\nAUTH PLAIN AGFsaWNlAHB3\r\n", []string{`refused "-ERR [IN-USE] Mailbox is locked\r\n"`}},
		{"stls", BackendConfig{Login: plainLogin("alice", "secret"), StartTLS: true},
			[]string{dovecotGreeting, dovecotCapa, "+OK Begin TLS negotiation now.\r\n", dovecotCapa, "+OK Logged in.\r\n"},
			"CAPA\r\nSTLS\r\nCAPA\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", []string{"starttls", `ok "+OK Logged in.\r\n"`}},
		{"stls-not-advertised", BackendConfig{Login: plainLogin("alice", "secret"), StartTLS: true},
			[]string{dovecotGreeting, "+OK\r\nUSER\r\n.\r\n"},
			"CAPA\r\n", []string{"failed: pop3 backend: STLS required but not advertised"}},
		{"xclient-pipelined", BackendConfig{Login: plainLogin("alice", "secret"), Forward: testInfo},
			[]string{dovecotGreeting, dovecotCapaXC, "+OK\r\n+OK Logged in.\r\n"},
			"CAPA\r\nXCLIENT ADDR=2001:db8::7 PORT=40000 SESSION=sy-42\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", []string{`ok "+OK Logged in.\r\n"`}},
		{"xclient-in-dovecot-greeting", BackendConfig{Login: plainLogin("alice", "secret"), Forward: testInfo},
			[]string{"+OK [XCLIENT] Dovecot (Debian) ready.\r\n", dovecotCapa, "+OK\r\n+OK Logged in.\r\n"},
			"CAPA\r\nXCLIENT ADDR=2001:db8::7 PORT=40000 SESSION=sy-42\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", []string{`ok "+OK Logged in.\r\n"`}},
		{"xclient-not-advertised", BackendConfig{Login: plainLogin("alice", "secret"), Forward: testInfo},
			[]string{dovecotGreeting, dovecotCapa, "+OK Logged in.\r\n"},
			"CAPA\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", []string{`ok "+OK Logged in.\r\n"`}},
		{"xclient-refused", BackendConfig{Login: plainLogin("alice", "secret"), Forward: testInfo},
			[]string{dovecotGreeting, "+OK\r\nXCLIENT ADDR PORT\r\nSASL PLAIN\r\n.\r\n", "-ERR Not trusted\r\n"},
			"CAPA\r\nXCLIENT ADDR=2001:db8::7 PORT=40000\r\n", []string{`failed: pop3 backend: XCLIENT refused: "-ERR Not trusted"`}},
		{"user-pass-no-pipelining", BackendConfig{Login: plainLogin("alice", "secret")},
			[]string{"+OK hi\r\n", "-ERR unknown command\r\n", "+OK\r\n", "+OK maildrop has 1 message\r\n"},
			"CAPA\r\nUSER alice\r\nPASS secret\r\n", []string{`ok "+OK maildrop has 1 message\r\n"`}},
		{"user-pass-pipelined", BackendConfig{Login: plainLogin("alice", "secret")},
			[]string{"+OK hi\r\n", "+OK\r\nUSER\r\nPIPELINING\r\n.\r\n", "+OK\r\n-ERR [AUTH] bad\r\n"},
			"CAPA\r\nUSER alice\r\nPASS secret\r\n", []string{`refused "-ERR [AUTH] bad\r\n"`}},
		{"user-refused", BackendConfig{Login: plainLogin("alice", "secret")},
			[]string{"+OK hi\r\n", "+OK\r\nUSER\r\n.\r\n", "-ERR [SYS/TEMP] later\r\n"},
			"CAPA\r\nUSER alice\r\n", []string{`refused "-ERR [SYS/TEMP] later\r\n"`}},
		{"authzid-needs-plain", BackendConfig{Login: &protocols.Login{Creds: sasl.Credentials{Mechanism: sasl.Plain, Authzid: "x", Username: "a", Password: "b"}}},
			[]string{"+OK hi\r\n", "+OK\r\nUSER\r\n.\r\n"},
			"CAPA\r\n", []string{"failed: pop3 backend: SASL PLAIN is not advertised"}},
		{"oauthbearer-error-challenge", BackendConfig{Login: bearerLogin(sasl.OAuthBearer)},
			[]string{"+OK hi\r\n", "+OK\r\nSASL OAUTHBEARER\r\n.\r\n", "+ eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=\r\n", "-ERR [AUTH] bad token\r\n"},
			"CAPA\r\nAUTH OAUTHBEARER bixhPXVAZXhhbXBsZS5jb20sAWF1dGg9QmVhcmVyIHRvawEB\r\nAQ==\r\n", []string{`refused "-ERR [AUTH] bad token\r\n"`}},
		{"xoauth2-not-advertised", BackendConfig{Login: bearerLogin(sasl.XOAuth2)},
			[]string{"+OK hi\r\n", dovecotCapa},
			"CAPA\r\n", []string{"failed: pop3 backend: SASL XOAUTH2 not advertised"}},
		{"err-greeting", BackendConfig{Login: plainLogin("a", "b")},
			[]string{"-ERR [SYS/TEMP] overloaded\r\n"}, "", []string{`failed: pop3 backend: unexpected greeting "-ERR [SYS/TEMP] overloaded"`}},
		{"garbage", BackendConfig{Login: plainLogin("a", "b")},
			[]string{"* OK IMAP\r\n"}, "", []string{`failed: pop3 backend: malformed response "* OK IMAP"`}},
		// RFC 6856: UTF8 only when the client sent it and the backend
		// advertises it, after STLS and XCLIENT, before the credentials.
		{"utf8-advertised", BackendConfig{Login: utf8Login("alice", "secret")},
			[]string{"+OK hi\r\n", utf8Capa, "+OK UTF8 enabled\r\n+OK Logged in.\r\n"},
			"CAPA\r\nUTF8\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", []string{`ok "+OK Logged in.\r\n"`}},
		{"utf8-not-advertised", BackendConfig{Login: utf8Login("alice", "secret")},
			[]string{dovecotGreeting, dovecotCapa, "+OK Logged in.\r\n"},
			"CAPA\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", []string{`ok "+OK Logged in.\r\n"`}},
		{"utf8-not-asked", BackendConfig{Login: plainLogin("alice", "secret")},
			[]string{"+OK hi\r\n", utf8Capa, "+OK Logged in.\r\n"},
			"CAPA\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", []string{`ok "+OK Logged in.\r\n"`}},
		{"utf8-refused-login-goes-on", BackendConfig{Login: utf8Login("alice", "secret")},
			[]string{"+OK hi\r\n", utf8Capa, "-ERR UTF8 not now\r\n-ERR [AUTH] Authentication failed.\r\n"},
			"CAPA\r\nUTF8\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", []string{`refused "-ERR [AUTH] Authentication failed.\r\n"`}},
		{"utf8-after-stls-and-xclient", BackendConfig{Login: utf8Login("alice", "secret"), StartTLS: true, Forward: testInfo},
			[]string{"+OK hi\r\n", "+OK\r\nSTLS\r\n.\r\n", "+OK Begin TLS\r\n", utf8Capa, "+OK\r\n+OK\r\n+OK Logged in.\r\n"},
			"CAPA\r\nSTLS\r\nCAPA\r\nXCLIENT ADDR=2001:db8::7 PORT=40000\r\nUTF8\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
			[]string{"starttls", `ok "+OK Logged in.\r\n"`}},
		{"utf8-user-pass-lockstep", BackendConfig{Login: utf8Login("jörg", "pä")},
			[]string{"+OK hi\r\n", "+OK\r\nUSER\r\nUTF8 USER\r\n.\r\n", "+OK UTF8 enabled\r\n", "+OK\r\n", "+OK in\r\n"},
			"CAPA\r\nUTF8\r\nUSER jörg\r\nPASS pä\r\n", []string{`ok "+OK in\r\n"`}},
		{"utf8-continuation-is-an-error", BackendConfig{Login: utf8Login("alice", "secret")},
			[]string{"+OK hi\r\n", "+OK\r\nUTF8\r\nSASL PLAIN\r\n.\r\n", "+ what\r\n"},
			"CAPA\r\nUTF8\r\n", []string{`failed: pop3 backend: unexpected continuation "+ what"`}},
		{"unsafe-user-pass", BackendConfig{Login: plainLogin("a\r\nDELE 1", "b")},
			[]string{"+OK hi\r\n", "+OK\r\nUSER\r\n.\r\n"},
			"CAPA\r\n", []string{"failed: pop3 backend: credentials cannot be sent with USER/PASS and SASL PLAIN is not advertised"}},
	})
}

// Bytes after the verdict stay with the engine: they belong to the client.
func TestBackendLeavesBytesAfterVerdict(t *testing.T) {
	prototest.CheckLeavesAfterVerdict(t, NewBackend(BackendConfig{Login: plainLogin("alice", "secret")}),
		[]string{dovecotGreeting, dovecotCapa}, "+OK Logged in.\r\n", "+OK 2 messages\r\n")
}

// GreetingReady (package health's active check) judges the greeting the
// Backend waits for.
func TestGreetingReady(t *testing.T) {
	prototest.CheckGreetingReady(t, GreetingReady,
		[]string{dovecotGreeting, "+OK"},
		[]string{"-ERR no\r\n", "* OK\r\n", ""})
}

func TestBackendLineLimit(t *testing.T) {
	b := NewBackend(BackendConfig{Login: plainLogin("alice", "secret")})
	_, _, ev := b.Feed([]byte("+OK "+strings.Repeat("x", maxResponseLine+10)), nil)
	if ev != protocols.BackendFailed {
		t.Fatalf("ev %v", ev)
	}
}

// The client's UTF8 reaches the Backend through Login.ClientID and nowhere
// else: the pair's name is private ("x-"), so the one place that forwards
// client pairs (the IMAP ID a backend receives) drops it.
func TestUTF8PairIsPrivate(t *testing.T) {
	c := newClient(t, tlsCfg)
	c.Verdict = prototest.Accept
	c.Send("UTF8\r\nUSER alice\r\nPASS secret\r\n", false)
	if len(c.Logins) != 1 || !UTF8FromLogin(&c.Logins[0]) {
		t.Fatalf("logins %+v: want one carrying UTF8", c.Logins)
	}
	id := forward.IMAPIDParams(*testInfo, c.Logins[0].ClientID)
	for i := 0; i < len(id); i += 2 {
		if id[i] == ClientIDUTF8 {
			t.Fatalf("IMAP ID would carry %s: %q", ClientIDUTF8, id)
		}
	}
	if UTF8FromLogin(plainLogin("alice", "secret")) || UTF8FromLogin(nil) {
		t.Fatal("UTF8 reported for a login without it")
	}
}
