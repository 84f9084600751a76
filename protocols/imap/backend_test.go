package imap

import (
	"fmt"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

const dovecotGreeting = "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN] Dovecot ready.\r\n"

func plainLogin(tag, user, pass string) *protocols.Login {
	return &protocols.Login{Tag: tag, Creds: sasl.Credentials{Mechanism: sasl.Login, Username: user, Password: pass}}
}

func bearerLogin(tag, mech string) *protocols.Login {
	return &protocols.Login{Tag: tag, Creds: sasl.Credentials{Mechanism: mech, Username: "alice@example.com", Token: "tok.en"}}
}

type backendCase struct {
	name   string
	cfg    BackendConfig
	recv   []string // what the backend sends, one read each
	sent   []string // what the machine must have written, as lines
	events []string
	left   string // unconsumed after the verdict (for the bridge)
}

func runBackendCases(t *testing.T, cases []backendCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			for _, bytewise := range []bool{false, true} {
				r := newBackendRun(t, NewBackend(tt.cfg))
				for _, d := range tt.recv {
					r.Recv(d, bytewise)
				}
				mode := map[bool]string{false: "whole", true: "byte-at-a-time"}[bytewise]
				prototest.CheckLines(t, mode+": sent", r.Sent, tt.sent...)
				if strings.Join(r.Events, "\n") != strings.Join(tt.events, "\n") {
					t.Errorf("%s: events:\n got %q\nwant %q", mode, r.Events, tt.events)
				}
				if !bytewise && string(r.Pending) != tt.left {
					t.Errorf("left for the bridge: %q, want %q", r.Pending, tt.left)
				}
			}
		})
	}
}

func TestBackend(t *testing.T) {
	alice := plainLogin("a1", "alice", "secret")
	plainIR := b64("\x00alice\x00secret")
	runBackendCases(t, []backendCase{
		{name: "Dovecot: AUTHENTICATE PLAIN with SASL-IR, bridge bytes left",
			cfg:    BackendConfig{Login: alice},
			recv:   []string{dovecotGreeting, "a1 OK [CAPABILITY IMAP4rev1 SASL-IR SORT] Logged in\r\n* 3 EXISTS\r\n"},
			sent:   []string{"a1 AUTHENTICATE PLAIN " + plainIR},
			events: []string{`ok relay="a1 OK [CAPABILITY IMAP4rev1 SASL-IR SORT] Logged in\r\n"`},
			left:   "* 3 EXISTS\r\n"},
		{name: "greeting without capabilities",
			cfg:    BackendConfig{Login: alice},
			recv:   []string{"* OK IMAP ready\r\n", "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nsy.1 OK done\r\n", "* CAPABILITY IMAP4rev1 X\r\na1 OK Logged in\r\n"},
			sent:   []string{"sy.1 CAPABILITY", `a1 LOGIN "alice" "secret"`},
			events: []string{`ok relay="* CAPABILITY IMAP4rev1 X\r\na1 OK Logged in\r\n"`}},
		{name: "capabilities in the tagged OK",
			cfg:    BackendConfig{Login: alice},
			recv:   []string{"* OK ready\r\n", "sy.1 OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] done\r\n", "a1 OK in\r\n"},
			sent:   []string{"sy.1 CAPABILITY", "a1 AUTHENTICATE PLAIN " + plainIR},
			events: []string{`ok relay="a1 OK in\r\n"`}},
		{name: "STARTTLS before any credential",
			cfg: BackendConfig{Login: alice, StartTLS: true},
			recv: []string{"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n", "sy.2 OK Begin TLS negotiation now.\r\nINJECTED\r\n",
				"* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN\r\nsy.1 OK done\r\n", "a1 OK in\r\n"},
			sent:   []string{"sy.2 STARTTLS", "sy.1 CAPABILITY", "a1 AUTHENTICATE PLAIN " + plainIR},
			events: []string{"starttls", `ok relay="a1 OK in\r\n"`}},
		{name: "STARTTLS required but missing",
			cfg:    BackendConfig{Login: alice, StartTLS: true},
			recv:   []string{dovecotGreeting},
			events: []string{"failed: imap backend: STARTTLS required but not advertised"}},
		{name: "STARTTLS refused",
			cfg:    BackendConfig{Login: alice, StartTLS: true},
			recv:   []string{"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n", "sy.2 NO no TLS today\r\n"},
			sent:   []string{"sy.2 STARTTLS"},
			events: []string{`failed: imap backend: STARTTLS refused: "sy.2 NO no TLS today"`}},
		{name: "ID pipelined with the login, its answer not relayed",
			cfg:    BackendConfig{Login: alice, IDParams: []string{"x-originating-ip", "192.0.2.1", "x-session-id", "s\"1"}},
			recv:   []string{dovecotGreeting, "* ID NIL\r\nsy.3 OK ID completed.\r\na1 OK Logged in\r\n"},
			sent:   []string{`sy.3 ID ("x-originating-ip" "192.0.2.1" "x-session-id" "s\"1")`, "a1 AUTHENTICATE PLAIN " + plainIR},
			events: []string{`ok relay="a1 OK Logged in\r\n"`}},
		{name: "no ID when not advertised",
			cfg:    BackendConfig{Login: alice, IDParams: []string{"x-originating-ip", "192.0.2.1"}},
			recv:   []string{"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] hi\r\n", "a1 OK in\r\n"},
			sent:   []string{"a1 AUTHENTICATE PLAIN " + plainIR},
			events: []string{`ok relay="a1 OK in\r\n"`}},
		{name: "LOGIN with LITERAL+ for 8-bit values",
			cfg:    BackendConfig{Login: plainLogin("a1", "jörg", "p\"w")},
			recv:   []string{"* OK [CAPABILITY IMAP4rev1 LITERAL+] hi\r\n", "a1 OK in\r\n"},
			sent:   []string{"a1 LOGIN {5+}", `jörg "p\"w"`},
			events: []string{`ok relay="a1 OK in\r\n"`}},
		{name: "LOGIN with synchronizing literals",
			cfg:    BackendConfig{Login: plainLogin("a1", "jörg", "pä")},
			recv:   []string{"* OK [CAPABILITY IMAP4rev1] hi\r\n", "+ go ahead\r\n", "+ go ahead\r\n", "a1 OK in\r\n"},
			sent:   []string{"a1 LOGIN {5}", "jörg {3}", "pä"},
			events: []string{`ok relay="a1 OK in\r\n"`}},
		{name: "literal refused mid-command",
			cfg:    BackendConfig{Login: plainLogin("a1", "jörg", "pä")},
			recv:   []string{"* OK [CAPABILITY IMAP4rev1] hi\r\n", "a1 NO [AUTHENTICATIONFAILED] nope\r\n"},
			sent:   []string{"a1 LOGIN {5}"},
			events: []string{`refused relay="a1 NO [AUTHENTICATIONFAILED] nope\r\n"`}},
		{name: "LOGINDISABLED: AUTHENTICATE PLAIN without SASL-IR",
			cfg:    BackendConfig{Login: alice},
			recv:   []string{"* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=PLAIN] hi\r\n", "+ \r\n", "a1 OK in\r\n"},
			sent:   []string{"a1 AUTHENTICATE PLAIN", plainIR},
			events: []string{`ok relay="a1 OK in\r\n"`}},
		{name: "authzid needs AUTH=PLAIN",
			cfg:    BackendConfig{Login: &protocols.Login{Tag: "a1", Creds: sasl.Credentials{Mechanism: sasl.Plain, Authzid: "admin", Username: "u", Password: "p"}}},
			recv:   []string{"* OK [CAPABILITY IMAP4rev1] hi\r\n"},
			events: []string{"failed: imap backend: neither LOGIN nor AUTH=PLAIN is available"}},
		{name: "no way to log in",
			cfg:    BackendConfig{Login: alice},
			recv:   []string{"* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] hi\r\n"},
			events: []string{"failed: imap backend: neither LOGIN nor AUTH=PLAIN is available"}},
		{name: "refusal relayed",
			cfg:    BackendConfig{Login: alice},
			recv:   []string{dovecotGreeting, "* OK [ALERT] hmm\r\na1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"},
			sent:   []string{"a1 AUTHENTICATE PLAIN " + plainIR},
			events: []string{`refused relay="a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"`}},
		{name: "refusal hidden",
			cfg:    BackendConfig{Login: alice, HideAuthErrors: true},
			recv:   []string{dovecotGreeting, "a1 NO [AUTHENTICATIONFAILED] Unknown user alice in realm X\r\n"},
			sent:   []string{"a1 AUTHENTICATE PLAIN " + plainIR},
			events: []string{`refused relay="a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"`}},
		{name: "temporary refusal stays visible",
			cfg:    BackendConfig{Login: alice, HideAuthErrors: true},
			recv:   []string{dovecotGreeting, "a1 NO [UNAVAILABLE] Temporary authentication failure.\r\n"},
			sent:   []string{"a1 AUTHENTICATE PLAIN " + plainIR},
			events: []string{`refused relay="a1 NO [UNAVAILABLE] Temporary authentication failure.\r\n"`}},
		{name: "BAD verdict",
			cfg:    BackendConfig{Login: alice},
			recv:   []string{dovecotGreeting, "a1 BAD what\r\n"},
			sent:   []string{"a1 AUTHENTICATE PLAIN " + plainIR},
			events: []string{`failed: imap backend: authentication rejected: "a1 BAD what"`}},
		{name: "PREAUTH greeting",
			cfg:    BackendConfig{Login: alice},
			recv:   []string{"* PREAUTH welcome\r\n"},
			events: []string{`failed: imap backend: unexpected greeting "* PREAUTH welcome"`}},
		{name: "BYE greeting",
			cfg:    BackendConfig{Login: alice},
			recv:   []string{"* BYE too busy\r\n"},
			events: []string{`failed: imap backend: backend closing: "* BYE too busy"`}},
		{name: "garbage",
			cfg:    BackendConfig{Login: alice},
			recv:   []string{"HTTP/1.1 400 Bad Request\r\n"},
			events: []string{`failed: imap backend: unexpected greeting "HTTP/1.1 400 Bad Request"`}},
		{name: "stray tag",
			cfg:    BackendConfig{Login: alice},
			recv:   []string{dovecotGreeting, "zz9 OK what\r\n"},
			sent:   []string{"a1 AUTHENTICATE PLAIN " + plainIR},
			events: []string{`failed: imap backend: unexpected tagged response "zz9 OK what"`}},
		{name: "client tag colliding with internal prefix",
			cfg:    BackendConfig{Login: plainLogin("sy.1", "alice", "secret")},
			recv:   []string{"* OK hi\r\n", "* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN\r\nzz.1 OK\r\n", "sy.1 OK in\r\n"},
			sent:   []string{"zz.1 CAPABILITY", "sy.1 AUTHENTICATE PLAIN " + plainIR},
			events: []string{`ok relay="sy.1 OK in\r\n"`}},
		{name: "literal inside an untagged data response",
			cfg:    BackendConfig{Login: alice},
			recv:   []string{dovecotGreeting, "* X-DATA {5}\r\na1 OK\r\na1 OK in\r\n"},
			sent:   []string{"a1 AUTHENTICATE PLAIN " + plainIR},
			events: []string{`ok relay="* X-DATA {5}\r\na1 OK\r\na1 OK in\r\n"`}},
	})
}

func TestBackendOAuth(t *testing.T) {
	bearer, _ := sasl.InitialResponse(bearerLogin("", sasl.OAuthBearer).Creds)
	xoauth, _ := sasl.InitialResponse(bearerLogin("", sasl.XOAuth2).Creds)
	const errJSON = `{"status":"invalid_token","scope":"mail"}`
	runBackendCases(t, []backendCase{
		{name: "OAUTHBEARER with SASL-IR",
			cfg:    BackendConfig{Login: bearerLogin("t", sasl.OAuthBearer)},
			recv:   []string{"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER] hi\r\n", "t OK in\r\n"},
			sent:   []string{"t AUTHENTICATE OAUTHBEARER " + b64(string(bearer))},
			events: []string{`ok relay="t OK in\r\n"`}},
		{name: "OAUTHBEARER error challenge answered, final NO relayed",
			cfg:    BackendConfig{Login: bearerLogin("t", sasl.OAuthBearer)},
			recv:   []string{"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER] hi\r\n", "+ " + b64(errJSON) + "\r\n", "t NO [AUTHENTICATIONFAILED] bad token\r\n"},
			sent:   []string{"t AUTHENTICATE OAUTHBEARER " + b64(string(bearer)), "AQ=="},
			events: []string{`refused relay="t NO [AUTHENTICATIONFAILED] bad token\r\n"`}},
		{name: "XOAUTH2 without SASL-IR, error challenge",
			cfg:    BackendConfig{Login: bearerLogin("t", sasl.XOAuth2)},
			recv:   []string{"* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] hi\r\n", "+ \r\n", "+ " + b64(errJSON) + "\r\n", "t NO nope\r\n"},
			sent:   []string{"t AUTHENTICATE XOAUTH2", b64(string(xoauth)), ""},
			events: []string{`refused relay="t NO nope\r\n"`}},
		{name: "second error challenge",
			cfg:    BackendConfig{Login: bearerLogin("t", sasl.XOAuth2)},
			recv:   []string{"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi\r\n", "+ e30=\r\n+ e30=\r\n"},
			sent:   []string{"t AUTHENTICATE XOAUTH2 " + b64(string(xoauth)), ""},
			events: []string{`failed: imap backend: unexpected continuation "+ e30="`}},
		{name: "mechanism not advertised",
			cfg:    BackendConfig{Login: bearerLogin("t", sasl.OAuthBearer)},
			recv:   []string{dovecotGreeting},
			events: []string{"failed: imap backend: AUTH=OAUTHBEARER not advertised"}},
	})
}

func TestBackendLineLimit(t *testing.T) {
	r := newBackendRun(t, NewBackend(BackendConfig{Login: plainLogin("a", "u", "p")}))
	r.Recv(dovecotGreeting, false)
	r.Recv("* "+strings.Repeat("x", maxResponseLine), false)
	if len(r.Events) != 1 || !strings.Contains(r.Events[0], "too long") {
		t.Fatalf("events %q", r.Events)
	}
	if r.B.Relay() != nil {
		t.Fatalf("relay %q after failure", r.B.Relay())
	}
}

// TestReplayThroughServer drives a Backend against our own Server standing
// in for the backend: the credentials it decodes must be the client's,
// whatever capabilities the "backend" offers, and its verdict relayable.
func TestReplayThroughServer(t *testing.T) {
	logins := []*protocols.Login{
		plainLogin("a1", "alice", "secret"),
		plainLogin("a2", "jörg", "pä\"ss"),
		{Tag: "a3", Creds: sasl.Credentials{Mechanism: sasl.Plain, Authzid: "admin", Username: "bob", Password: "pw"}},
		bearerLogin("a4", sasl.OAuthBearer),
		bearerLogin("a5", sasl.XOAuth2),
		{Tag: "a6", Creds: sasl.Credentials{Mechanism: sasl.OAuthBearer, Username: "u", Token: "t", Host: "h.example", Port: "143"}},
	}
	caps := [][]string{
		{"IMAP4rev1", "SASL-IR", "LITERAL+", "ID"},
		{"IMAP4rev1", "LITERAL+"},
		{"IMAP4rev1"},
	}
	for _, l := range logins {
		for _, c := range caps {
			for _, accepted := range []bool{true, false} {
				name := fmt.Sprintf("%s/%s/%v", describe(l), strings.Join(c, ","), accepted)
				t.Run(name, func(t *testing.T) {
					srv := NewServer(ServerConfig{TLSActive: true, Capabilities: c})
					be := NewBackend(BackendConfig{Login: l, IDParams: []string{"x-originating-ip", "192.0.2.7"}})
					_, toBackend, ev := be.Feed(srv.Greeting(nil), nil)
					if ev != protocols.BackendNone {
						t.Fatalf("greeting: ev %v err %v", ev, be.Err())
					}
					var got *protocols.Login
					var pending []byte
					for round := 0; round < 10; round++ {
						pending = append(pending, toBackend...)
						toBackend = nil
						n, toClient, sev := srv.Feed(pending, nil)
						pending = pending[n:]
						if sev == protocols.EventLogin {
							l := *srv.Login()
							got = &l
							if !accepted {
								toClient, _ = srv.LoginFailed(protocols.FailRejected, nil, toClient)
							} else {
								toClient = append(toClient, got.Tag+" OK Logged in\r\n"...)
							}
						}
						m, out, bev := be.Feed(toClient, nil)
						if m != len(toClient) {
							t.Fatalf("backend consumed %d of %q", m, toClient)
						}
						toBackend = out
						if bev == protocols.BackendAuthOK || bev == protocols.BackendAuthFailed {
							want := l.Tag + " OK Logged in\r\n"
							if !accepted {
								want = l.Tag + " NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
							}
							if string(be.Relay()) != want {
								t.Errorf("relay %q, want %q", be.Relay(), want)
							}
							if (bev == protocols.BackendAuthOK) != accepted {
								t.Errorf("event %v", bev)
							}
							break
						}
						if bev != protocols.BackendNone {
							t.Fatalf("backend: %v %v", bev, be.Err())
						}
					}
					if got == nil {
						t.Fatalf("server never saw a login")
					}
					wantCreds := l.Creds
					if got.Creds.Mechanism == sasl.Plain && wantCreds.Mechanism == sasl.Login {
						wantCreds.Mechanism = sasl.Plain
					}
					if got.Creds != wantCreds || got.Tag != l.Tag {
						t.Errorf("replayed %s, want %s", describe(got), describe(l))
					}
					if strings.Contains(strings.Join(c, " "), "ID") && fmt.Sprint(got.ClientID) != "[x-originating-ip 192.0.2.7]" {
						t.Errorf("ID not forwarded: %q", got.ClientID)
					}
				})
			}
		}
	}
}
