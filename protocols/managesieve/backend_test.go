package managesieve

import (
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

func plainLogin(user, pass string) *protocols.Login {
	return prototest.PasswordLogin(sasl.Plain, user, pass)
}

var (
	bearerLogin = prototest.BearerLogin
	testInfo    = prototest.ForwardInfo("192.0.2.7:40000", "192.0.2.1:4190", 5)
)

// What Dovecot 2.3 (Pigeonhole) sends to a trusted peer.
const (
	dovecotCaps = "\"IMPLEMENTATION\" \"Dovecot (Debian) Pigeonhole\"\r\n" +
		"\"SIEVE\" \"fileinto reject envelope\"\r\n\"NOTIFY\" \"mailto\"\r\n\"SASL\" \"PLAIN LOGIN\"\r\n" +
		"\"STARTTLS\"\r\n\"VERSION\" \"1.0\"\r\n\"XCLIENT\"\r\nOK \"Dovecot (Debian) ready.\"\r\n"
	plainCaps = "\"IMPLEMENTATION\" \"x\"\r\n\"SASL\" {11}\r\nPLAIN LOGIN\r\n\"VERSION\" \"1.0\"\r\nOK\r\n"
	loginCaps = "\"SASL\" \"LOGIN OAUTHBEARER\"\r\nOK \"hi\"\r\n"
	authPlain = "AUTHENTICATE \"PLAIN\" \"AGFsaWNlAHNlY3JldA==\"\r\n"
)

// transcript: see prototest.RunTranscripts.
type transcript prototest.Transcript[BackendConfig]

func TestBackendTranscripts(t *testing.T) {
	prototest.RunTranscripts(t, NewBackend, []transcript{
		{"plain", BackendConfig{Login: plainLogin("alice", "secret")},
			[]string{plainCaps, "OK \"Logged in.\"\r\n"}, authPlain, []string{`ok "OK \"Logged in.\"\r\n"`}},
		{"xclient-pipelined", BackendConfig{Login: plainLogin("alice", "secret"), Forward: testInfo},
			[]string{dovecotCaps, "OK \"Updated\"\r\nOK \"Logged in.\"\r\n"},
			"XCLIENT ADDR=192.0.2.7 PORT=40000 SESSION=sy-42 TTL=5\r\n" + authPlain, []string{`ok "OK \"Logged in.\"\r\n"`}},
		{"xclient-refused", BackendConfig{Login: plainLogin("alice", "secret"), Forward: testInfo},
			[]string{dovecotCaps, "NO \"Not trusted\"\r\n"},
			"XCLIENT ADDR=192.0.2.7 PORT=40000 SESSION=sy-42 TTL=5\r\n" + authPlain, []string{`failed: managesieve backend: XCLIENT refused: "NO \"Not trusted\""`}},
		{"no-xclient-without-forward", BackendConfig{Login: plainLogin("alice", "secret")},
			[]string{dovecotCaps, "NO \"Authentication failed.\"\r\n"}, authPlain, []string{`refused "NO \"Authentication failed.\"\r\n"`}},
		{"refused-with-code", BackendConfig{Login: plainLogin("alice", "secret"), HideAuthErrors: true},
			[]string{plainCaps, "NO (TRYLATER) \"Server busy\"\r\n"}, authPlain, []string{`refused "NO (TRYLATER) \"Server busy\"\r\n"`}},
		{"refused-hidden", BackendConfig{Login: plainLogin("alice", "secret"), HideAuthErrors: true},
			[]string{plainCaps, "NO {12}\r\nno such user\r\n"}, authPlain, []string{`refused "NO \"Authentication failed.\"\r\n"`}},
		{"refused-literal-relayed", BackendConfig{Login: plainLogin("alice", "secret")},
			[]string{plainCaps, "NO {12}\r\nno such user\r\n"}, authPlain, []string{`refused "NO {12}\r\nno such user\r\n"`}},
		{"starttls", BackendConfig{Login: plainLogin("alice", "secret"), StartTLS: true},
			[]string{dovecotCaps, "OK \"Begin TLS negotiation now.\"\r\n", plainCaps, "OK\r\n"},
			"STARTTLS\r\n" + authPlain, []string{"starttls", `ok "OK\r\n"`}},
		{"starttls-not-advertised", BackendConfig{Login: plainLogin("alice", "secret"), StartTLS: true},
			[]string{plainCaps}, "", []string{"failed: managesieve backend: STARTTLS required but not advertised"}},
		{"sasl-login", BackendConfig{Login: plainLogin("alice", "secret")},
			[]string{loginCaps, "\"UGFzc3dvcmQ6\"\r\n", "OK\r\n"},
			"AUTHENTICATE \"LOGIN\" \"YWxpY2U=\"\r\n\"c2VjcmV0\"\r\n", []string{`ok "OK\r\n"`}},
		{"oauthbearer-error", BackendConfig{Login: bearerLogin(sasl.OAuthBearer)},
			[]string{loginCaps, "{24}\r\neyJzdGF0dXMiOiI0MDEifQ==\r\n", "NO \"bad token\"\r\n"},
			"AUTHENTICATE \"OAUTHBEARER\" \"bixhPXVAZXhhbXBsZS5jb20sAWF1dGg9QmVhcmVyIHRvawEB\"\r\n\"AQ==\"\r\n", []string{`refused "NO \"bad token\"\r\n"`}},
		{"bye", BackendConfig{Login: plainLogin("a", "b")},
			[]string{"BYE \"Too busy\"\r\n"}, "", []string{`failed: managesieve backend: backend closing: "BYE \"Too busy\""`}},
		{"garbage", BackendConfig{Login: plainLogin("a", "b")},
			[]string{"+OK POP3\r\n"}, "", []string{`failed: managesieve backend: malformed response "+OK POP3"`}},
	})
}

func TestBackendLeavesBytesAfterVerdict(t *testing.T) {
	prototest.CheckLeavesAfterVerdict(t, NewBackend(BackendConfig{Login: plainLogin("alice", "secret")}),
		[]string{plainCaps}, "OK \"Logged in.\"\r\n", "OK \"listed\"\r\n")
}
