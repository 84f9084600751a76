package pop3

import (
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
)

const greeting = "+OK POP3 server ready."

var tlsCfg = ServerConfig{TLSActive: true}

// serverCase is prototest.ServerCase, local so that the table may leave
// the field names out.
type serverCase prototest.ServerCase[ServerConfig]

// Each case is a transcript: what the client sends in one write, what it
// reads back, and what the engine is asked to do. Every case runs with
// the write delivered whole and one byte at a time: both must be equal.
func TestServerTranscripts(t *testing.T) {
	capaTLS := []string{"+OK Capability list follows", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "UTF8",
		"USER", "SASL PLAIN LOGIN OAUTHBEARER XOAUTH2", "."}
	for _, tc := range []serverCase{
		{"capa-tls", tlsCfg, "CAPA\r\n", append([]string{greeting}, capaTLS...), nil},
		{"capa-plaintext-starttls", ServerConfig{StartTLS: true}, "capa\r\n",
			[]string{greeting, "+OK Capability list follows", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "UTF8", "STLS", "."}, nil},
		{"capa-cleartext-allowed", ServerConfig{AllowPlainWithoutTLS: true, SASL: []string{"plain", "login", "cram-md5", "PLAIN"}}, "CAPA\r\n",
			[]string{greeting, "+OK Capability list follows", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "UTF8", "USER", "SASL PLAIN LOGIN", "."}, nil},
		{"user-pass", tlsCfg, "USER alice\r\nPASS secret word\r\n",
			[]string{greeting, "+OK"}, []string{`login LOGIN user="alice" pass="secret word"`, "bridged"}},
		{"user-pass-bare-lf", tlsCfg, "user alice\npass s\n",
			[]string{greeting, "+OK"}, []string{`login LOGIN user="alice" pass="s"`, "bridged"}},
		{"pass-without-user", tlsCfg, "PASS x\r\n", []string{greeting, "-ERR No username given."}, nil},
		{"user-needs-tls", ServerConfig{StartTLS: true}, "USER alice\r\nPASS x\r\nAUTH PLAIN AGEAYg==\r\n",
			[]string{greeting, "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
				"-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
				"-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."}, nil},
		{"auth-plain-ir", tlsCfg, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
			[]string{greeting}, []string{`login PLAIN user="alice" pass="secret"`, "bridged"}},
		{"auth-plain-multistep", tlsCfg, "AUTH PLAIN\r\nAGFsaWNlAHNlY3JldA\r\n",
			[]string{greeting, "+ "}, []string{`login PLAIN user="alice" pass="secret"`, "bridged"}},
		{"auth-plain-empty-ir", tlsCfg, "AUTH PLAIN =\r\n",
			[]string{greeting, "-ERR [AUTH] Authentication failed."}, nil},
		{"auth-login", tlsCfg, "AUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\n",
			[]string{greeting, "+ VXNlcm5hbWU6", "+ UGFzc3dvcmQ6"}, []string{`login LOGIN user="alice" pass="secret"`, "bridged"}},
		{"auth-login-ir", tlsCfg, "AUTH LOGIN YWxpY2U=\r\nc2VjcmV0\r\n",
			[]string{greeting, "+ UGFzc3dvcmQ6"}, []string{`login LOGIN user="alice" pass="secret"`, "bridged"}},
		{"auth-abort", tlsCfg, "AUTH LOGIN\r\n*\r\nNOOP\r\n",
			[]string{greeting, "+ VXNlcm5hbWU6", "-ERR Authentication aborted.", "+OK"}, nil},
		{"auth-bad-base64", tlsCfg, "AUTH PLAIN !!!\r\nAUTH PLAIN\r\n%%%\r\n",
			[]string{greeting, "-ERR Invalid base64 data in initial response.", "+ ", "-ERR Invalid base64 data."}, nil},
		{"auth-unknown-mech", tlsCfg, "AUTH CRAM-MD5\r\n",
			[]string{greeting, "-ERR Unsupported authentication mechanism."}, nil},
		{"auth-list", tlsCfg, "AUTH\r\n",
			[]string{greeting, "+OK", "PLAIN", "LOGIN", "OAUTHBEARER", "XOAUTH2", "."}, nil},
		{"auth-xoauth2", tlsCfg, "AUTH XOAUTH2 dXNlcj11AWF1dGg9QmVhcmVyIHQBAQ==\r\n",
			[]string{greeting}, []string{`login XOAUTH2 user="u" token="t"`, "bridged"}},
		{"apop-refused", tlsCfg, "APOP alice 0123456789abcdef0123456789abcdef\r\n",
			[]string{greeting, "-ERR APOP is not supported; use USER/PASS or AUTH."}, nil},
		{"transaction-command", tlsCfg, "STAT\r\nretr 1\r\nFOO\r\n\r\n",
			[]string{greeting, "-ERR Not logged in.", "-ERR Not logged in.", "-ERR Unknown command.", "-ERR Unknown command."}, nil},
		{"noop-quit", tlsCfg, "NOOP\r\nQUIT\r\nNOOP\r\n",
			[]string{greeting, "+OK", "+OK Logging out."}, []string{"close"}},
		{"stls", ServerConfig{StartTLS: true}, "STLS\r\nUSER injected\r\n",
			[]string{greeting, "+OK Begin TLS negotiation now."}, []string{"starttls", `discarded "USER injected\r\n"`}},
		{"stls-unavailable", tlsCfg, "STLS\r\n", []string{greeting, "-ERR TLS is already active."}, nil},
		{"stls-not-offered", ServerConfig{}, "STLS\r\n", []string{greeting, "-ERR STLS is not available."}, nil},
		{"nul", tlsCfg, "USER a\x00b\r\n", []string{greeting, "-ERR NUL octet in command"}, nil},
		{"line-too-long", ServerConfig{TLSActive: true, MaxLine: 16}, "USER " + strings.Repeat("x", 20) + "\r\nNOOP\r\n",
			[]string{greeting, "-ERR Line too long"}, []string{"close"}},
		{"auth-line-longer", ServerConfig{TLSActive: true, MaxLine: 16}, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
			[]string{greeting}, []string{`login PLAIN user="alice" pass="secret"`, "bridged"}},
		// RFC 6856: UTF8 in the AUTHORIZATION state, carried with the login.
		{"utf8-user-pass-pipelined", tlsCfg, "UTF8\r\nUSER j\xc3\xb6rg\r\nPASS p\xc3\xa4ss\r\n",
			[]string{greeting, "+OK UTF8 enabled.", "+OK"}, []string{`login LOGIN user="jörg" pass="päss" utf8`, "bridged"}},
		{"utf8-twice-then-auth", tlsCfg, "utf8\r\nUTF8\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
			[]string{greeting, "+OK UTF8 enabled.", "+OK UTF8 already enabled."}, []string{`login PLAIN user="alice" pass="secret" utf8`, "bridged"}},
		{"utf8-with-argument", tlsCfg, "UTF8 USER\r\nUSER alice\r\nPASS secret\r\n",
			[]string{greeting, "-ERR UTF8 takes no arguments.", "+OK"}, []string{`login LOGIN user="alice" pass="secret"`, "bridged"}},
		{"utf8-before-tls-allowed", ServerConfig{StartTLS: true}, "UTF8\r\nNOOP\r\n",
			[]string{greeting, "+OK UTF8 enabled.", "+OK"}, nil},
		{"utf8-disabled", ServerConfig{TLSActive: true, NoUTF8: true}, "CAPA\r\nUTF8\r\nUSER alice\r\nPASS secret\r\n",
			[]string{greeting, "+OK Capability list follows", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE",
				"USER", "SASL PLAIN LOGIN OAUTHBEARER XOAUTH2", ".", "-ERR UTF8 is not available.", "+OK"},
			[]string{`login LOGIN user="alice" pass="secret"`, "bridged"}},
	} {
		prototest.RunServerCase(t, newClient, prototest.ServerCase[ServerConfig](tc))
	}
}

func TestLoginFailures(t *testing.T) {
	c := newClient(t, ServerConfig{TLSActive: true, MaxAuthAttempts: 3})
	c.Verdict = prototest.InTurn(
		&prototest.Failure{Kind: protocols.FailRejected, Relay: "-ERR [AUTH] Invalid login\r\n"},
		&prototest.Failure{Kind: protocols.FailUnavailable},
		&prototest.Failure{Kind: protocols.FailRejected, Relay: "-ERR [IN-USE] Mailbox locked"},
		&prototest.Failure{Kind: protocols.FailRejected})
	// Pipelined: each failure's reply comes before the next command's.
	c.Send("USER a\r\nPASS b\r\nUSER a\r\nPASS c\r\nAUTH PLAIN AGEAZA==\r\nNOOP\r\nAUTH PLAIN AGEAZQ==\r\nNOOP\r\n", false)
	prototest.CheckLines(t, "output", c.Out, greeting, "+OK", "-ERR [AUTH] Invalid login", "+OK",
		"-ERR [SYS/TEMP] Service temporarily unavailable, try again later.",
		"-ERR [IN-USE] Mailbox locked", "+OK", "-ERR [AUTH] Authentication failed.")
	if !c.Closed || len(c.Logins) != 4 {
		t.Fatalf("closed=%v logins=%d; want closed after 3 refusals", c.Closed, len(c.Logins))
	}
}

func TestTLSStartedForgetsUser(t *testing.T) {
	c := newClient(t, ServerConfig{StartTLS: true, AllowPlainWithoutTLS: true})
	c.Verdict = prototest.Accept
	c.Send("USER mallory\r\n", false)
	c.Send("STLS\r\n", false)
	c.Send("PASS x\r\nCAPA\r\n", false)
	prototest.CheckLines(t, "output", c.Out, greeting, "+OK", "+OK Begin TLS negotiation now.", "-ERR No username given.",
		"+OK Capability list follows", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "UTF8", "USER",
		"SASL PLAIN LOGIN OAUTHBEARER XOAUTH2", ".")
}

// UTF-8 mode outlives a refused login (the session stays in the
// AUTHORIZATION state) but not STLS: what was said in cleartext is
// forgotten, so only a UTF8 sent after the handshake counts.
func TestUTF8Lifetime(t *testing.T) {
	c := newClient(t, ServerConfig{StartTLS: true, AllowPlainWithoutTLS: true})
	unavailable := &prototest.Failure{Kind: protocols.FailUnavailable}
	c.Verdict = prototest.InTurn(&prototest.Failure{Kind: protocols.FailRejected, Relay: "-ERR [AUTH] Invalid login"},
		unavailable, unavailable, unavailable)
	c.Send("UTF8\r\nUSER a\r\nPASS wrong\r\nAUTH PLAIN AGEAYg==\r\n", false)
	c.Send("STLS\r\n", false)
	c.Send("USER a\r\nPASS b\r\nUTF8\r\nUSER a\r\nPASS b\r\n", false)
	prototest.CheckLines(t, "output", c.Out, greeting, "+OK UTF8 enabled.", "+OK", "-ERR [AUTH] Invalid login",
		"-ERR [SYS/TEMP] Service temporarily unavailable, try again later.", "+OK Begin TLS negotiation now.",
		"+OK", "-ERR [SYS/TEMP] Service temporarily unavailable, try again later.",
		"+OK UTF8 enabled.", "+OK", "-ERR [SYS/TEMP] Service temporarily unavailable, try again later.")
	prototest.CheckEvents(t, c.Events, `login LOGIN user="a" pass="wrong" utf8`, `login PLAIN user="a" pass="b" utf8`, "starttls",
		`login LOGIN user="a" pass="b"`, `login LOGIN user="a" pass="b" utf8`)
}

func TestEngineReplies(t *testing.T) {
	s := NewServer(ServerConfig{Banner: "hi\r\nthere"})
	prototest.CheckLines(t, "greeting", s.Greeting(nil), "+OK hithere")
	prototest.CheckLines(t, "busy", s.TooBusy(nil), "-ERR [SYS/TEMP] Too many connections, try again later.")
	prototest.CheckLines(t, "timeout", s.Timeout(nil), "-ERR Disconnected for inactivity.")
	prototest.CheckLines(t, "shutdown", s.ShuttingDown(nil), "-ERR [SYS/TEMP] Server shutting down.")
}
