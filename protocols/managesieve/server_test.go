package managesieve

import (
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
)

var tlsCfg = ServerConfig{TLSActive: true, Sieve: []string{"fileinto", "enotify"}}

func capsBlock(sasl string, starttls bool) []string {
	out := []string{`"IMPLEMENTATION" "switchyard"`, `"SASL" "` + sasl + `"`, `"SIEVE" "fileinto enotify"`, `"NOTIFY" "mailto"`}
	if starttls {
		out = append(out, `"STARTTLS"`)
	}
	return append(out, `"VERSION" "1.0"`)
}

func greetingLines(sasl string, starttls bool) []string {
	return append(capsBlock(sasl, starttls), `OK "ManageSieve server ready."`)
}

const allMechs = "PLAIN LOGIN OAUTHBEARER XOAUTH2"

// serverCase is prototest.ServerCase, local so that the table may leave
// the field names out.
type serverCase prototest.ServerCase[ServerConfig]

// Each case is a transcript, run with the client's write delivered whole
// and one byte at a time: both must give the same result.
func TestServerTranscripts(t *testing.T) {
	g := greetingLines(allMechs, false)
	with := func(lines ...string) []string { return append(append([]string{}, g...), lines...) }
	tinyCfg := tlsCfg
	tinyCfg.MaxCommand = 64
	starttlsCfg := ServerConfig{StartTLS: true, Sieve: []string{"fileinto", "enotify"}}
	for _, tc := range []serverCase{
		{"capability", tlsCfg, "CAPABILITY\r\n", with(append(capsBlock(allMechs, false), `OK "Capability completed."`)...), nil},
		{"noop-tag", tlsCfg, "NOOP\r\nnoop \"STARTTLS-SYNC-42\"\r\nNOOP {3+}\r\na\"b\r\n",
			with(`OK "NOOP completed."`, `OK (TAG "STARTTLS-SYNC-42") "Done"`, `OK (TAG "a\"b") "Done"`), nil},
		{"logout", tlsCfg, "LOGOUT\r\nNOOP\r\n", with(`OK "Logout completed."`), []string{"close"}},
		{"auth-plain-quoted-ir", tlsCfg, "AUTHENTICATE \"PLAIN\" \"AGFsaWNlAHNlY3JldA==\"\r\n",
			g, []string{`login PLAIN user="alice" pass="secret"`, "bridged"}},
		{"auth-plain-literal-ir", tlsCfg, "AUTHENTICATE \"PLAIN\" {20+}\r\nAGFsaWNlAHNlY3JldA==\r\n",
			g, []string{`login PLAIN user="alice" pass="secret"`, "bridged"}},
		{"auth-plain-sync-literal-ir", tlsCfg, "Authenticate {5}\r\nplain {20}\r\nAGFsaWNlAHNlY3JldA==\r\n",
			g, []string{`login PLAIN user="alice" pass="secret"`, "bridged"}},
		{"auth-plain-empty-challenge", tlsCfg, "AUTHENTICATE \"PLAIN\"\r\n\"AGFsaWNlAHNlY3JldA==\"\r\n",
			with(`""`), []string{`login PLAIN user="alice" pass="secret"`, "bridged"}},
		{"auth-plain-literal-response", tlsCfg, "AUTHENTICATE \"PLAIN\"\r\n{20+}\r\nAGFsaWNlAHNlY3JldA==\r\n",
			with(`""`), []string{`login PLAIN user="alice" pass="secret"`, "bridged"}},
		{"auth-login", tlsCfg, "AUTHENTICATE \"LOGIN\"\r\n\"YWxpY2U=\"\r\n{8+}\r\nc2VjcmV0\r\n",
			with(`"VXNlcm5hbWU6"`, `"UGFzc3dvcmQ6"`), []string{`login LOGIN user="alice" pass="secret"`, "bridged"}},
		{"auth-abort-quoted", tlsCfg, "AUTHENTICATE \"LOGIN\"\r\n\"*\"\r\nNOOP\r\n",
			with(`"VXNlcm5hbWU6"`, `NO "Authentication aborted."`, `OK "NOOP completed."`), nil},
		{"auth-abort-bare", tlsCfg, "AUTHENTICATE \"PLAIN\"\r\n*\r\n",
			with(`""`, `NO "Authentication aborted."`), nil},
		{"auth-bad-response", tlsCfg, "AUTHENTICATE \"PLAIN\"\r\nAGFsaWNl\r\nAUTHENTICATE \"PLAIN\" \"!!\"\r\n",
			with(`""`, `NO "Invalid authentication response."`, `NO "Invalid base64 data in initial response."`), nil},
		{"auth-empty-ir", tlsCfg, "AUTHENTICATE \"PLAIN\" \"\"\r\n", with(`NO "Authentication failed."`), nil},
		{"auth-unknown-mech", tlsCfg, "AUTHENTICATE \"CRAM-MD5\"\r\n", with(`NO "Unsupported authentication mechanism."`), nil},
		{"auth-needs-tls", starttlsCfg, "AUTHENTICATE \"PLAIN\" \"AGFsaWNlAHNlY3JldA==\"\r\n",
			append(greetingLines("", true), `NO (ENCRYPT-NEEDED) "Authentication requires TLS."`), nil},
		{"starttls", starttlsCfg, "STARTTLS\r\nAUTHENTICATE \"PLAIN\" \"AGFsaWNlAHNlY3JldA==\"\r\n",
			append(append(greetingLines("", true), `OK "Begin TLS negotiation now."`), append(capsBlock(allMechs, false), `OK "TLS negotiation successful."`)...),
			[]string{"starttls", `discarded "AUTHENTICATE \"PLAIN\" \"AGFsaWNlAHNlY3JldA==\"\r\n"`}},
		{"starttls-active", tlsCfg, "STARTTLS\r\n", with(`NO "TLS is already active."`), nil},
		{"post-auth-commands", tlsCfg, "LISTSCRIPTS\r\nPUTSCRIPT \"a\" {4+}\r\nkeep\r\nFOO\r\n\r\n",
			with(`NO "Not authenticated."`, `NO "Not authenticated."`, `NO "Unknown command."`), nil},
		{"bad-args", tlsCfg, "CAPABILITY x\r\nNOOP \"unterminated\r\n", with(`NO "Invalid arguments."`, `NO "Invalid arguments."`), nil},
		{"too-long", tinyCfg, "NOOP \"" + strings.Repeat("x", 80) + "\"\r\nNOOP\r\n",
			with(`BYE "Command too long."`), []string{"close"}},
		{"literal-too-long", tinyCfg, "PUTSCRIPT \"a\" {100+}\r\n" + strings.Repeat("x", 100) + "\r\n",
			with(`BYE "Command too long."`), []string{"close"}},
	} {
		prototest.RunServerCase(t, newClient, prototest.ServerCase[ServerConfig](tc))
	}
}

func TestLoginFailures(t *testing.T) {
	c := newClient(t, ServerConfig{TLSActive: true, MaxAuthAttempts: 2})
	c.Out = nil
	n := 0
	c.Verdict = func(*protocols.Login) *prototest.Failure {
		n++
		if n == 1 {
			return &prototest.Failure{Kind: protocols.FailUnavailable}
		}
		return &prototest.Failure{Kind: protocols.FailRejected, Relay: "NO (AUTH-TOO-WEAK) \"no\"\r\n"}
	}
	c.Send("AUTHENTICATE \"PLAIN\" \"AGEAYg==\"\r\nAUTHENTICATE \"PLAIN\" \"AGEAYg==\"\r\nAUTHENTICATE \"PLAIN\" \"AGEAYw==\"\r\nNOOP\r\n", false)
	prototest.CheckLines(t, "output", c.Out, `NO (TRYLATER) "Service temporarily unavailable, try again later."`,
		`NO (AUTH-TOO-WEAK) "no"`, `NO (AUTH-TOO-WEAK) "no"`, `BYE "Too many invalid authentication attempts."`)
	prototest.CheckEvents(t, c.Events, `login PLAIN user="a" pass="b"`, `login PLAIN user="a" pass="b"`, `login PLAIN user="a" pass="c"`, "close")
}

func TestEngineReplies(t *testing.T) {
	s := NewServer(ServerConfig{Implementation: "x\"y\r\n"})
	if g := string(s.Greeting(nil)); !strings.HasPrefix(g, "\"IMPLEMENTATION\" \"xy\"\r\n\"SASL\" \"\"\r\n") {
		t.Fatalf("greeting %q", g)
	}
	prototest.CheckLines(t, "busy", s.TooBusy(nil), `BYE (TRYLATER) "Too many connections, try again later."`)
	prototest.CheckLines(t, "timeout", s.Timeout(nil), `BYE "Disconnected for inactivity."`)
	prototest.CheckLines(t, "shutdown", s.ShuttingDown(nil), `BYE (TRYLATER) "Server shutting down."`)
}
