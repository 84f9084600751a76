package smtp

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

var tlsCfg = ServerConfig{Hostname: "mx.example.com", TLSActive: true}

func check(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// serverCase is prototest.ServerCase, local so that the table may leave
// the field names out.
type serverCase prototest.ServerCase[ServerConfig]

// Each case is a whole transcript, run with the write delivered whole and
// one byte at a time.
func TestServerTranscripts(t *testing.T) {
	// tlsEHLO is what a client of tlsCfg reads up to its EHLO's reply;
	// after appends what follows.
	tlsEHLO := []string{"220 mx.example.com ESMTP ready",
		"250-mx.example.com", "250-PIPELINING", "250-8BITMIME", "250-ENHANCEDSTATUSCODES", "250-SMTPUTF8",
		"250 AUTH PLAIN LOGIN OAUTHBEARER XOAUTH2"}
	after := func(head []string, tail ...string) []string { return append(slices.Clip(head), tail...) }
	for _, tc := range []serverCase{
		{"greeting and EHLO", ServerConfig{Hostname: "mx.example.com", StartTLS: true}, "EHLO client.example\r\nHELO c2\r\nNOOP\r\nRSET\r\nQUIT\r\n",
			[]string{
				"220 mx.example.com ESMTP ready",
				"250-mx.example.com",
				"250-PIPELINING",
				"250-8BITMIME",
				"250-ENHANCEDSTATUSCODES",
				"250-SMTPUTF8",
				"250 STARTTLS", // no AUTH before TLS
				"250 mx.example.com",
				"250 2.0.0 Ok",
				"250 2.0.0 Ok",
				"221 2.0.0 Bye",
			}, []string{"close"}},
		{"banner and extensions", ServerConfig{
			Hostname:   "mx",
			Banner:     "switchyard submission proxy ready",
			Extensions: []string{"SIZE 1000", "AUTH=PLAIN", "STARTTLS", "XCLIENT ADDR", "bad_kw", "CHUNKING", "ENHANCEDSTATUSCODES"},
			SASL:       []string{"plain", "CRAM-MD5", "PLAIN", "xoauth2"},
			TLSActive:  true,
		}, "ehlo x\r\n",
			[]string{
				"220 mx ESMTP switchyard submission proxy ready",
				"250-mx",
				"250-SIZE 1000",
				"250-CHUNKING",
				"250-ENHANCEDSTATUSCODES",
				"250 AUTH PLAIN XOAUTH2",
			}, nil},
		{"auth aborted and malformed", tlsCfg, "EHLO c\r\nAUTH LOGIN\r\n*\r\nAUTH PLAIN !!!\r\nAUTH CRAM-MD5\r\nAUTH\r\nAUTH PLAIN\r\n%%%\r\nAUTH PLAIN " + b64("nonul") + "\r\n",
			after(tlsEHLO,
				"334 VXNlcm5hbWU6",
				"501 5.0.0 Authentication aborted",
				"501 5.5.2 Cannot decode response",
				"504 5.5.4 Unrecognized authentication type",
				"501 5.5.4 Syntax: AUTH mechanism [initial-response]",
				"334 ",
				"501 5.5.2 Cannot decode response",
				"535 5.7.8 Authentication credentials invalid"), nil},
		// The malformed PLAIN message is a failed attempt like a refusal.
		{"malformed plain", tlsCfg, "EHLO c\r\nAUTH PLAIN " + b64("nonul") + "\r\n",
			after(tlsEHLO, "535 5.7.8 Authentication credentials invalid"), nil},
		{"refusals before auth", ServerConfig{Hostname: "h", StartTLS: true}, "AUTH PLAIN x\r\nEHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nAUTH PLAIN " + b64("\x00u\x00p") + "\r\nVRFY x\r\nXCLIENT ADDR=1.2.3.4\r\nFOO\r\n\r\nRSET x\r\nHELO\r\nEHLO\r\n",
			[]string{
				"220 h ESMTP ready",
				"503 5.5.1 Error: send HELO/EHLO first", // AUTH before EHLO
				"250-h", "250-PIPELINING", "250-8BITMIME", "250-ENHANCEDSTATUSCODES", "250-SMTPUTF8", "250 STARTTLS",
				"530 5.7.0 Authentication required",
				"530 5.7.0 Authentication required",
				"530 5.7.0 Authentication required",
				"538 5.7.11 Encryption required for requested authentication mechanism",
				"530 5.7.0 Authentication required",
				"502 5.5.1 Error: command not implemented",
				"502 5.5.2 Error: command not recognized",
				"500 5.5.2 Error: bad syntax",
				"501 5.5.4 Syntax: no parameters allowed",
				"501 5.5.4 Syntax: HELO hostname",
				"501 5.5.4 Syntax: EHLO hostname",
			}, nil},
		{"too many errors", ServerConfig{Hostname: "h", MaxErrors: 3}, "FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n",
			[]string{
				"220 h ESMTP ready",
				"502 5.5.2 Error: command not recognized",
				"502 5.5.2 Error: command not recognized",
				"502 5.5.2 Error: command not recognized",
				"421 4.7.0 h Error: too many errors",
			}, []string{"close"}},
	} {
		prototest.RunServerCase(t, newClient, prototest.ServerCase[ServerConfig](tc))
	}
}

// Each case is one accepted login: the events must be that login, then
// the bridge.
func TestLoginEvents(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   ServerConfig
		in    string
		login string
	}{
		{"OAUTHBEARER after a challenge", tlsCfg, "EHLO c\r\nAUTH OAUTHBEARER\r\n" + b64("n,a=user@example.com,\x01auth=Bearer tok\x01\x01") + "\r\n", "login OAUTHBEARER user@example.com"},
		{"XOAUTH2 initial response", tlsCfg, "EHLO c\r\nAUTH XOAUTH2 " + b64("user=u@x\x01auth=Bearer t\x01\x01") + "\r\n", "login XOAUTH2 u@x"},
		{"plain without TLS allowed", ServerConfig{Hostname: "h", AllowPlainWithoutTLS: true}, "EHLO c\r\nAUTH PLAIN " + b64("\x00u\x00p") + "\r\n", "login PLAIN u"},
		{"bare LF and lower case", tlsCfg, "ehlo c\nauth plain " + b64("\x00u\x00p") + "\n", "login PLAIN u"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check(t, transcript(t, tc.cfg, tc.in, prototest.Accept).Events, tc.login, "bridged")
		})
	}
}

func TestAuthPlainInitialResponse(t *testing.T) {
	c := transcript(t, tlsCfg, "EHLO client.example\r\nAUTH PLAIN "+b64("\x00alice\x00secret")+"\r\nMAIL FROM:<a@b>\r\n", prototest.Accept)
	check(t, c.Events, "login PLAIN alice", "bridged")
	if string(c.ToBackend) != "MAIL FROM:<a@b>\r\n" {
		t.Fatalf("to backend: %q", c.ToBackend)
	}
	l := c.Logins[0]
	if l.Creds.Password != "secret" {
		t.Fatalf("password %q", l.Creds.Password)
	}
	if h, p := HeloFromLogin(&l); h != "client.example" || p != "ESMTP" {
		t.Fatalf("helo %q proto %q", h, p)
	}
}

func TestAuthMultiStep(t *testing.T) {
	c := transcript(t, tlsCfg, "HELO c\r\nAUTH LOGIN\r\n"+b64("bob")+"\r\n"+b64("pw")+"\r\n", prototest.Accept)
	check(t, c.TakeLines(), "220 mx.example.com ESMTP ready", "250 mx.example.com", "334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6")
	check(t, c.Events, "login LOGIN bob", "bridged")
	if h, p := HeloFromLogin(&c.Logins[0]); h != "c" || p != "SMTP" {
		t.Fatalf("helo %q proto %q", h, p)
	}

	c = transcript(t, tlsCfg, "EHLO c\r\nAUTH PLAIN\r\n"+b64("\x00u\x00p")+"\r\n", prototest.Accept)
	if got := c.TakeLines(); got[len(got)-1] != "334 " {
		t.Fatalf("PLAIN challenge: %q", got)
	}
	check(t, c.Events, "login PLAIN u", "bridged")
}

func TestStartTLS(t *testing.T) {
	cfg := ServerConfig{Hostname: "h", StartTLS: true}
	c := transcript(t, cfg, "EHLO c\r\nSTARTTLS\r\nAUTH PLAIN injected\r\n", nil)
	check(t, c.Events, "starttls", `discarded "AUTH PLAIN injected\r\n"`)
	c.TakeLines()
	// After TLS the client must EHLO again; AUTH is now offered.
	c.Send("AUTH PLAIN "+b64("\x00u\x00p")+"\r\nEHLO again\r\nSTARTTLS\r\n", false)
	got := c.TakeLines()
	if got[0] != "503 5.5.1 Error: send HELO/EHLO first" || got[len(got)-2] != "250 AUTH PLAIN LOGIN OAUTHBEARER XOAUTH2" || got[len(got)-1] != "554 5.5.1 Error: TLS already active" {
		t.Fatalf("%q", got)
	}
	c = transcript(t, ServerConfig{Hostname: "h"}, "STARTTLS\r\nSTARTTLS now\r\n", nil)
	check(t, c.TakeLines()[1:], "502 5.5.1 Error: STARTTLS not available", "501 5.5.4 Syntax: no parameters allowed")
}

func TestLoginFailedReplies(t *testing.T) {
	verdict := prototest.InTurn(
		&prototest.Failure{Kind: protocols.FailRejected, Relay: "535 5.7.8 Error: authentication failed: bad"},
		&prototest.Failure{Kind: protocols.FailUnavailable},
		&prototest.Failure{Kind: protocols.FailTempRouting},
		&prototest.Failure{Kind: protocols.FailRejected})
	auth := "AUTH PLAIN " + b64("\x00u\x00p") + "\r\n"
	c := transcript(t, ServerConfig{Hostname: "h", TLSActive: true, MaxAuthAttempts: 2},
		"EHLO c\r\n"+auth+"MAIL FROM:<a@b>\r\n"+auth+auth+auth+"NOOP\r\n", verdict)
	got := c.TakeLines()
	check(t, got[len(got)-6:],
		"535 5.7.8 Error: authentication failed: bad",
		"530 5.7.0 Authentication required",
		"454 4.7.0 Temporary authentication failure",
		"454 4.7.0 Temporary authentication failure",
		"535 5.7.8 Authentication credentials invalid",
		"421 4.7.0 h Error: too many failed authentication attempts")
	if !c.Closed {
		t.Fatal("not closed after too many failures")
	}
}

func TestEngineReplies(t *testing.T) {
	s := NewServer(ServerConfig{Hostname: "h"})
	for _, tc := range []struct{ got, want string }{
		{string(s.TooBusy(nil)), "421 4.3.2 h Too many connections, try again later\r\n"},
		{string(s.Timeout(nil)), "421 4.4.2 h Error: timeout exceeded\r\n"},
		{string(s.ShuttingDown(nil)), "421 4.3.0 h Server shutting down\r\n"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q want %q", tc.got, tc.want)
		}
	}
}

func TestLineLimits(t *testing.T) {
	cfg := ServerConfig{Hostname: "h", TLSActive: true}
	long := strings.Repeat("x", 3000)
	c := transcript(t, cfg, "NOOP "+long+"\r\nNOOP\r\nEHLO c\r\nAUTH PLAIN "+strings.Repeat("A", 20000)+"\r\nAUTH LOGIN\r\n"+strings.Repeat("B", 40000)+"\r\nNOOP\r\n", nil)
	got := c.TakeLines()
	check(t, got[len(got)-4:],
		"535 5.7.8 Authentication credentials invalid", // the 20 KB AUTH line was within limits
		"334 VXNlcm5hbWU6",
		"500 5.5.0 Error: line too long",
		"250 2.0.0 Ok")
	check(t, got[1:3], "500 5.5.0 Error: line too long", "250 2.0.0 Ok")
	// The engine never has to hold more than the limit.
	c = newClient(t, cfg)
	for i := 0; i < 100; i++ {
		c.Send(strings.Repeat("y", 1000), false)
		if len(c.Pending) > 2*1024+1 {
			t.Fatalf("pending grew to %d", len(c.Pending))
		}
	}
}
