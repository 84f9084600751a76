package imap

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
)

const (
	capsTLS      = "IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE AUTH=PLAIN AUTH=LOGIN AUTH=OAUTHBEARER AUTH=XOAUTH2"
	capsStartTLS = "IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE STARTTLS LOGINDISABLED"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

var tlsCfg = ServerConfig{TLSActive: true}

func TestGreeting(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  ServerConfig
		want string
	}{
		{"cleartext, STARTTLS offered", ServerConfig{StartTLS: true}, "* OK [CAPABILITY " + capsStartTLS + "] IMAP server ready."},
		{"cleartext, no STARTTLS", ServerConfig{}, "* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE LOGINDISABLED] IMAP server ready."},
		{"implicit TLS", ServerConfig{TLSActive: true, StartTLS: true}, "* OK [CAPABILITY " + capsTLS + "] IMAP server ready."},
		{"cleartext allowed", ServerConfig{AllowPlainWithoutTLS: true, SASL: []string{"plain", "CRAM-MD5", "PLAIN"}, Banner: "Hi\r\nthere"},
			"* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE AUTH=PLAIN] Hithere"},
		{"configured atoms filtered", ServerConfig{TLSActive: true, Capabilities: []string{"IMAP4rev2", "STARTTLS", "AUTH=CRAM-MD5", "bad atom"}, SASL: []string{}},
			"* OK [CAPABILITY IMAP4rev2] IMAP server ready."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			prototest.CheckLines(t, "greeting", NewServer(tt.cfg).Greeting(nil), tt.want)
		})
	}
}

// transcript cases run twice, whole writes and one byte per read, and must
// give the same output and events both ways.
type transcript struct {
	name    string
	cfg     ServerConfig
	writes  []string
	verdict prototest.Verdict
	out     []string // after the greeting
	events  []string
}

func runTranscripts(t *testing.T, cases []transcript) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			c := prototest.Dialogue(t, func() *client {
				c := newClient(t, tt.cfg)
				c.Out = c.Out[:0] // the greeting is TestGreeting's
				return c
			}, tt.verdict, tt.writes...)
			prototest.CheckLines(t, "output", c.Out, tt.out...)
			prototest.CheckEvents(t, c.Events, tt.events...)
		})
	}
}

func TestCommands(t *testing.T) {
	runTranscripts(t, []transcript{
		{name: "capability noop logout", cfg: tlsCfg,
			writes: []string{"a1 CAPABILITY\r\na2 noop\r\na3 LOGOUT\r\na4 NOOP\r\n"},
			out:    []string{"* CAPABILITY " + capsTLS, "a1 OK Capability completed.", "a2 OK NOOP completed.", "* BYE Logging out", "a3 OK Logout completed."},
			events: []string{"close"}},
		{name: "refusals", cfg: tlsCfg,
			writes: []string{"a SELECT INBOX\r\nb FROB\r\n\r\nc\r\n+x NOOP\r\nd CAPABILITY x\r\ne NOOP\x00\r\n"},
			out: []string{"a BAD Not authenticated", "b BAD Unknown command",
				"* BAD Error in IMAP command: missing or invalid tag", "* BAD Error in IMAP command: missing or invalid tag",
				"d BAD Invalid arguments", "e BAD NUL octet in command"}},
		{name: "bare LF", cfg: tlsCfg,
			writes: []string{"a NOOP\nb LOGIN u p\n"},
			out:    []string{"a OK NOOP completed.", "b NO [AUTHENTICATIONFAILED] Authentication failed."},
			events: []string{`login tag=b LOGIN user="u" pass="p"`}},
		{name: "commands split across writes", cfg: tlsCfg,
			writes: []string{"a NO", "OP\r", "\nb LOG", "IN u p\r\n"},
			out:    []string{"a OK NOOP completed.", "b NO [AUTHENTICATIONFAILED] Authentication failed."},
			events: []string{`login tag=b LOGIN user="u" pass="p"`}},
	})
}

func TestLogin(t *testing.T) {
	runTranscripts(t, []transcript{
		{name: "atoms accepted", cfg: tlsCfg, verdict: prototest.Accept,
			writes: []string{"a001 LOGIN alice@example.com s3cret\r\n"},
			events: []string{`login tag=a001 LOGIN user="alice@example.com" pass="s3cret"`, "bridged"}},
		{name: "quoted with escapes and UTF-8 atom", cfg: tlsCfg, verdict: prototest.Accept,
			writes: []string{"a LOGIN jörg \"p \\\"q\\\\ r\"\r\n"},
			events: []string{`login tag=a LOGIN user="jörg" pass="p \"q\\ r"`, "bridged"}},
		{name: "synchronizing literals", cfg: tlsCfg, verdict: prototest.Accept,
			writes: []string{"a LOGIN {5}\r\n", "alice {6}\r\n", "pa\r\ns\n\r\n"},
			out:    []string{"+ Ready for literal data", "+ Ready for literal data"},
			events: []string{`login tag=a LOGIN user="alice" pass="pa\r\ns\n"`, "bridged"}},
		{name: "LITERAL+", cfg: tlsCfg, verdict: prototest.Accept,
			writes: []string{"a LOGIN {5+}\r\nalice {6+}\r\nsecret\r\n"},
			events: []string{`login tag=a LOGIN user="alice" pass="secret"`, "bridged"}},
		{name: "pipelined command stays with the engine", cfg: tlsCfg,
			writes: []string{"a LOGIN u p\r\nb SELECT INBOX\r\n"},
			out:    []string{"a NO [AUTHENTICATIONFAILED] Authentication failed.", "b BAD Not authenticated"},
			events: []string{`login tag=a LOGIN user="u" pass="p"`}},
		{name: "bad syntax", cfg: tlsCfg,
			writes: []string{"a LOGIN\r\nb LOGIN u\r\nc LOGIN u p q\r\nd LOGIN \"u\\x\" p\r\ne LOGIN \"u p\r\nf LOGIN (u) p\r\n"},
			out: []string{"a BAD Invalid arguments", "b BAD Invalid arguments", "c BAD Invalid arguments",
				"d BAD Invalid arguments", "e BAD Invalid arguments", "f BAD Invalid arguments"}},
		{name: "empty password refused locally", cfg: tlsCfg,
			writes: []string{"a LOGIN u \"\"\r\n"},
			out:    []string{"a NO [AUTHENTICATIONFAILED] Authentication failed."}},
		{name: "cleartext refused, literal not invited", cfg: ServerConfig{StartTLS: true},
			writes: []string{"a LOGIN u p\r\nb LOGIN {5}\r\nc AUTHENTICATE PLAIN " + b64("\x00u\x00p") + "\r\n"},
			out: []string{"a NO [PRIVACYREQUIRED] Authentication requires TLS.", "b NO [PRIVACYREQUIRED] Authentication requires TLS.",
				"c NO [PRIVACYREQUIRED] Authentication requires TLS."}},
		{name: "cleartext allowed by config", cfg: ServerConfig{AllowPlainWithoutTLS: true}, verdict: prototest.Accept,
			writes: []string{"a LOGIN u p\r\n"},
			events: []string{`login tag=a LOGIN user="u" pass="p"`, "bridged"}},
		{name: "literal in a command that takes none", cfg: tlsCfg,
			writes: []string{"a APPEND INBOX {5}\r\nb NOOP\r\n"},
			out:    []string{"a BAD Not authenticated", "b OK NOOP completed."}},
	})
}

func TestLoginFailures(t *testing.T) {
	relay := func(l *protocols.Login) *prototest.Failure {
		return &prototest.Failure{Kind: protocols.FailRejected, Relay: l.Tag + " NO [AUTHENTICATIONFAILED] Backend says no."}
	}
	unavailable := prototest.InTurn(&prototest.Failure{Kind: protocols.FailUnavailable})
	routing := prototest.InTurn(&prototest.Failure{Kind: protocols.FailTempRouting})
	runTranscripts(t, []transcript{
		{name: "relayed refusal, attempts exhausted", cfg: tlsCfg, verdict: relay,
			writes: []string{"a LOGIN u p\r\n", "b LOGIN u p\r\n", "c LOGIN u p\r\nd NOOP\r\n"},
			out: []string{"a NO [AUTHENTICATIONFAILED] Backend says no.", "b NO [AUTHENTICATIONFAILED] Backend says no.",
				"c NO [AUTHENTICATIONFAILED] Backend says no.", "* BYE Too many invalid authentication attempts"},
			events: []string{`login tag=a LOGIN user="u" pass="p"`, `login tag=b LOGIN user="u" pass="p"`, `login tag=c LOGIN user="u" pass="p"`, "close"}},
		{name: "local and remote failures count together", cfg: ServerConfig{TLSActive: true, MaxAuthAttempts: 2},
			writes: []string{"a AUTHENTICATE PLAIN " + b64("nonuls") + "\r\n", "b LOGIN u p\r\n"},
			out: []string{"a NO [AUTHENTICATIONFAILED] Authentication failed.", "b NO [AUTHENTICATIONFAILED] Authentication failed.",
				"* BYE Too many invalid authentication attempts"},
			events: []string{`login tag=b LOGIN user="u" pass="p"`, "close"}},
		{name: "unavailable does not count", cfg: ServerConfig{TLSActive: true, MaxAuthAttempts: 1}, verdict: unavailable,
			writes: []string{"a LOGIN u p\r\nb LOGIN u p\r\n"},
			out:    []string{"a NO [UNAVAILABLE] Service temporarily unavailable, try again later.", "b NO [UNAVAILABLE] Service temporarily unavailable, try again later."},
			events: []string{`login tag=a LOGIN user="u" pass="p"`, `login tag=b LOGIN user="u" pass="p"`}},
		{name: "routing failure", cfg: tlsCfg, verdict: routing,
			writes: []string{"x LOGIN u p\r\n"},
			out:    []string{"x NO [UNAVAILABLE] Service temporarily unavailable, try again later."},
			events: []string{`login tag=x LOGIN user="u" pass="p"`}},
	})
}

func TestStartTLS(t *testing.T) {
	runTranscripts(t, []transcript{
		{name: "injection after STARTTLS is dropped", cfg: ServerConfig{StartTLS: true},
			writes: []string{"a STARTTLS\r\nb LOGIN evil injected\r\n", "c CAPABILITY\r\nd STARTTLS\r\n"},
			out: []string{"a OK Begin TLS negotiation now.", "* CAPABILITY " + capsTLS, "c OK Capability completed.",
				"d BAD TLS is already active."},
			events: []string{"starttls", `discarded "b LOGIN evil injected\r\n"`}},
		{name: "not offered", cfg: ServerConfig{},
			writes: []string{"a STARTTLS\r\nb STARTTLS now\r\n"},
			out:    []string{"a BAD STARTTLS is not available.", "b BAD Invalid arguments"}},
		{name: "ID before TLS is forgotten", cfg: ServerConfig{StartTLS: true}, verdict: prototest.Accept,
			writes: []string{"a ID (\"name\" \"evil\")\r\n", "b STARTTLS\r\n", "c LOGIN u p\r\n"},
			out:    []string{"* ID NIL", "a OK ID completed.", "b OK Begin TLS negotiation now."},
			events: []string{"starttls", `login tag=c LOGIN user="u" pass="p"`, "bridged"}},
	})
}

func TestAuthenticate(t *testing.T) {
	plainIR := b64("\x00alice\x00secret")
	bearer := "n,a=alice@example.com,\x01host=imap.example.com\x01port=993\x01auth=Bearer eyJ0.eyJ1.sig\x01\x01"
	runTranscripts(t, []transcript{
		{name: "PLAIN with SASL-IR", cfg: tlsCfg, verdict: prototest.Accept,
			writes: []string{"a AUTHENTICATE PLAIN " + plainIR + "\r\n"},
			events: []string{`login tag=a PLAIN user="alice" pass="secret"`, "bridged"}},
		{name: "PLAIN in two steps, lower-case mechanism", cfg: tlsCfg, verdict: prototest.Accept,
			writes: []string{"a authenticate plain\r\n", plainIR + "\r\n"},
			out:    []string{"+ "},
			events: []string{`login tag=a PLAIN user="alice" pass="secret"`, "bridged"}},
		{name: "PLAIN with authzid, unpadded base64", cfg: tlsCfg, verdict: prototest.Accept,
			writes: []string{"a AUTHENTICATE PLAIN " + strings.TrimRight(b64("admin\x00bob\x00pw"), "=") + "\r\n"},
			events: []string{`login tag=a PLAIN user="bob" pass="pw" authzid="admin"`, "bridged"}},
		{name: "LOGIN mechanism", cfg: tlsCfg, verdict: prototest.Accept,
			writes: []string{"a AUTHENTICATE LOGIN\r\n", b64("alice") + "\r\n", b64("secret") + "\r\n"},
			out:    []string{"+ " + b64("Username:"), "+ " + b64("Password:")},
			events: []string{`login tag=a LOGIN user="alice" pass="secret"`, "bridged"}},
		{name: "LOGIN mechanism with initial response", cfg: tlsCfg, verdict: prototest.Accept,
			writes: []string{"a AUTHENTICATE LOGIN " + b64("alice") + "\r\n", b64("secret") + "\r\n"},
			out:    []string{"+ " + b64("Password:")},
			events: []string{`login tag=a LOGIN user="alice" pass="secret"`, "bridged"}},
		{name: "OAUTHBEARER", cfg: tlsCfg, verdict: prototest.Accept,
			writes: []string{"t1 AUTHENTICATE OAUTHBEARER " + b64(bearer) + "\r\n"},
			events: []string{`login tag=t1 OAUTHBEARER user="alice@example.com" token="eyJ0.eyJ1.sig"`, "bridged"}},
		{name: "XOAUTH2", cfg: tlsCfg, verdict: prototest.Accept,
			writes: []string{"t1 AUTHENTICATE XOAUTH2 " + b64("user=bob\x01auth=Bearer ya29.x\x01\x01") + "\r\n"},
			events: []string{`login tag=t1 XOAUTH2 user="bob" token="ya29.x"`, "bridged"}},
		{name: "empty initial response is a PLAIN failure", cfg: tlsCfg,
			writes: []string{"a AUTHENTICATE PLAIN =\r\n"},
			out:    []string{"a NO [AUTHENTICATIONFAILED] Authentication failed."}},
		{name: "abort", cfg: tlsCfg,
			writes: []string{"a AUTHENTICATE LOGIN\r\n", b64("alice") + "\r\n", "*\r\n", "b NOOP\r\n"},
			out:    []string{"+ " + b64("Username:"), "+ " + b64("Password:"), "a BAD Authentication aborted", "b OK NOOP completed."}},
		{name: "bad base64", cfg: tlsCfg,
			writes: []string{"a AUTHENTICATE PLAIN !!!!\r\nb AUTHENTICATE PLAIN\r\n", "@@\r\n"},
			out:    []string{"a BAD Invalid base64 data", "+ ", "b BAD Invalid base64 data"}},
		{name: "unsupported or not offered mechanism", cfg: ServerConfig{TLSActive: true, SASL: []string{"PLAIN"}},
			writes: []string{"a AUTHENTICATE CRAM-MD5\r\nb AUTHENTICATE XOAUTH2 =\r\nc AUTHENTICATE\r\nd AUTHENTICATE PLAIN = x\r\n"},
			out: []string{"a NO Unsupported authentication mechanism", "b NO Unsupported authentication mechanism",
				"c BAD Invalid arguments", "d BAD Invalid arguments"}},
		{name: "ID pairs go with the login", cfg: ServerConfig{TLSActive: true, ServerID: []string{"name", "switchyard", "x\"y", "a\\b"}}, verdict: prototest.Accept,
			writes: []string{"a ID (\"name\" \"Thunderbird\" \"version\" NIL \"os\" {5}\r\n", "Linux)\r\nb AUTHENTICATE PLAIN " + plainIR + "\r\n"},
			out:    []string{"+ Ready for literal data", `* ID ("name" "switchyard" "x\"y" "a\\b")`, "a OK ID completed."},
			events: []string{`login tag=b PLAIN user="alice" pass="secret" id=["name" "Thunderbird" "version" "" "os" "Linux"]`, "bridged"}},
		{name: "ID NIL and bad ID", cfg: tlsCfg,
			writes: []string{"a ID NIL\r\nb ID (\"name\")\r\nc ID\r\nd ID (\"k\" \"v\") x\r\ne ID ()\r\n"},
			out:    []string{"* ID NIL", "a OK ID completed.", "b BAD Invalid arguments", "c BAD Invalid arguments", "d BAD Invalid arguments", "* ID NIL", "e OK ID completed."}},
	})
}

func TestLimits(t *testing.T) {
	small := ServerConfig{TLSActive: true, MaxLine: 64, MaxLiteral: 16, MaxAuthLine: 200}
	runTranscripts(t, []transcript{
		{name: "line too long", cfg: small,
			writes: []string{"a NOOP\r\nb LOGIN " + strings.Repeat("x", 80) + "\r\nc NOOP\r\n"},
			out:    []string{"a OK NOOP completed.", "* BAD [TOOBIG] Line too long"},
			events: []string{"close"}},
		{name: "line at the limit", cfg: small,
			writes: []string{"a LOGIN u " + strings.Repeat("x", 64-len("a LOGIN u ")) + "\r\n"},
			out:    []string{"a NO [AUTHENTICATIONFAILED] Authentication failed."},
			events: []string{`login tag=a LOGIN user="u" pass="` + strings.Repeat("x", 54) + `"`}},
		{name: "overlong line without terminator", cfg: small,
			writes: []string{strings.Repeat("y", 66)},
			out:    []string{"* BAD [TOOBIG] Line too long"},
			events: []string{"close"}},
		{name: "AUTHENTICATE lines may be longer", cfg: small, verdict: prototest.Accept,
			writes: []string{"a AUTHENTICATE XOAUTH2 " + b64("user=u\x01auth=Bearer "+strings.Repeat("t", 100)+"\x01\x01") + "\r\n"},
			events: []string{`login tag=a XOAUTH2 user="u" token="` + strings.Repeat("t", 100) + `"`, "bridged"}},
		{name: "AUTHENTICATE lines are bounded too", cfg: small,
			writes: []string{"a AUTHENTICATE XOAUTH2 " + strings.Repeat("A", 200) + "\r\n"},
			out:    []string{"* BAD [TOOBIG] Line too long"},
			events: []string{"close"}},
		{name: "SASL response bounded", cfg: small,
			writes: []string{"a AUTHENTICATE PLAIN\r\n", strings.Repeat("A", 210)},
			out:    []string{"+ ", "* BAD [TOOBIG] Line too long"},
			events: []string{"close"}},
		{name: "synchronizing literal too large: refused, session goes on", cfg: small,
			writes: []string{"a LOGIN {17}\r\n", "b LOGIN {9}\r\n", "123456789 {8}\r\n", "c NOOP\r\n"},
			out:    []string{"a BAD [TOOBIG] Literal too large", "+ Ready for literal data", "b BAD [TOOBIG] Literal too large", "c OK NOOP completed."}},
		{name: "huge literal size", cfg: small,
			writes: []string{"a LOGIN {99999999999999999999}\r\n"},
			out:    []string{"a BAD [TOOBIG] Literal too large"}},
		{name: "non-synchronizing literal too large: closed", cfg: small,
			writes: []string{"a LOGIN {17+}\r\n12345678901234567 x\r\n"},
			out:    []string{"a BAD [TOOBIG] Literal too large"},
			events: []string{"close"}},
		{name: "NUL in literal", cfg: small,
			writes: []string{"a LOGIN {3+}\r\nu\x00v p\r\n"},
			out:    []string{"a BAD NUL octet in command"}},
	})
}

// TestEngineKeepsIncompleteCommands: the machine consumes nothing until a
// command is whole, so the engine holds the bytes and the machine little.
func TestEngineKeepsIncompleteCommands(t *testing.T) {
	s := NewServer(tlsCfg)
	in := []byte("a LOGIN {5}\r\nali")
	n, out, ev := s.Feed(in, nil)
	if n != 0 || ev != protocols.EventNone || string(out) != "+ Ready for literal data\r\n" {
		t.Fatalf("partial: consumed %d out %q ev %v", n, out, ev)
	}
	in = append(in, "ce x\r\nb NOOP\r\n"...)
	n, out, ev = s.Feed(in, nil)
	if want := len("a LOGIN {5}\r\nalice x\r\n"); n != want || ev != protocols.EventLogin || len(out) != 0 {
		t.Fatalf("complete: consumed %d (want %d) out %q ev %v", n, want, out, ev)
	}
	// While the engine routes the login nothing is consumed.
	if n, out, ev := s.Feed(in[n:], nil); n != 0 || len(out) != 0 || ev != protocols.EventNone {
		t.Fatalf("during login: consumed %d out %q ev %v", n, out, ev)
	}
}

func TestFixedReplies(t *testing.T) {
	s := NewServer(ServerConfig{})
	prototest.CheckLines(t, "TooBusy", s.TooBusy(nil), "* BYE [UNAVAILABLE] Too many connections, try again later")
	prototest.CheckLines(t, "Timeout", s.Timeout(nil), "* BYE Autologout; idle for too long")
	prototest.CheckLines(t, "ShuttingDown", s.ShuttingDown(nil), "* BYE Server shutting down")
}

// TestShorterInputAfterPartial: an engine that hands back less than before
// (a contract breach) must not crash the machine.
func TestShorterInputAfterPartial(t *testing.T) {
	s := NewServer(tlsCfg)
	if n, _, _ := s.Feed([]byte("a LOGIN alice secret"), nil); n != 0 {
		t.Fatalf("consumed %d", n)
	}
	n, out, ev := s.Feed([]byte("b NOOP\r\n"), nil)
	if n != 8 || string(out) != "b OK NOOP completed.\r\n" || ev != protocols.EventNone {
		t.Fatalf("consumed %d out %q ev %v", n, out, ev)
	}
	s.Feed([]byte("a AUTHENTICATE PLAIN\r\nAAAA"), nil)
	if n, out, _ := s.Feed([]byte("*\r\n"), nil); n != 3 || string(out) != "a BAD Authentication aborted\r\n" {
		t.Fatalf("SASL: consumed %d out %q", n, out)
	}
}
