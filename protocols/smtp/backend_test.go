package smtp

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// step is one backend write and what the machine must answer with (its
// writes, then the TLSStarted output after a STARTTLS go-ahead).
type step struct {
	in   string
	want string
	ev   protocols.BackendEvent
}

// feedBackend plays the engine behind a Backend: it keeps what Feed did not
// consume and stops at an event.
type backendRun struct {
	b       *Backend
	pending []byte
	ev      protocols.BackendEvent
}

func (r *backendRun) deliver(data []byte) string {
	var out []byte
	if r.ev != protocols.BackendNone {
		return ""
	}
	r.pending = append(r.pending, data...)
	for len(r.pending) > 0 {
		n, o, ev := r.b.Feed(r.pending, out)
		out = o
		r.pending = r.pending[n:]
		if ev == protocols.BackendStartTLS {
			out = r.b.TLSStarted(out)
			continue
		}
		if ev != protocols.BackendNone {
			r.ev = ev
			break
		}
		if n == 0 {
			break
		}
	}
	return string(out)
}

func runBackend(t *testing.T, cfg BackendConfig, steps []step) *Backend {
	t.Helper()
	for _, bytewise := range []bool{false, true} {
		r := &backendRun{b: NewBackend(cfg)}
		for i, s := range steps {
			var got string
			if bytewise {
				for j := 0; j < len(s.in); j++ {
					got += r.deliver([]byte{s.in[j]})
				}
			} else {
				got = r.deliver([]byte(s.in))
			}
			if got != s.want || r.ev != s.ev {
				t.Fatalf("bytewise=%v step %d (%q): got %q ev %d, want %q ev %d (err %v)", bytewise, i, s.in, got, r.ev, s.want, s.ev, r.b.Err())
			}
		}
		if bytewise {
			return r.b
		}
	}
	return nil
}

func login(mech, user, pass string) *protocols.Login {
	return &protocols.Login{
		Creds:    sasl.Credentials{Mechanism: mech, Username: user, Password: pass},
		ClientID: []string{ClientIDHelo, "laptop.example", ClientIDProto, "ESMTP"},
	}
}

const postfixEHLO = "250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 CHUNKING\r\n"

func TestBackendPostfixXClientPlain(t *testing.T) {
	fwd := &forward.Info{
		Client:    netip.MustParseAddrPort("[2001:db8::1]:50000"),
		Local:     netip.MustParseAddrPort("192.0.2.1:587"),
		SessionID: "abc",
	}
	ir := "AGFsaWNlAHNlY3JldA=="
	b := runBackend(t, BackendConfig{ReplayConfig: protocols.ReplayConfig{Login: login("LOGIN", "alice", "secret"), StartTLS: true, Forward: fwd}, Hostname: "proxy.example"}, []step{
		{in: "220 mail.example.com ESMTP Postfix\r\n", want: "EHLO proxy.example\r\n"},
		{in: postfixEHLO, want: "STARTTLS\r\n"},
		{in: "220 2.0.0 Ready to start TLS\r\n", want: "EHLO proxy.example\r\n"},
		{in: postfixEHLO, want: "XCLIENT ADDR=IPV6:2001:db8::1 PORT=50000 DESTADDR=192.0.2.1 DESTPORT=587 HELO=laptop.example PROTO=ESMTP\r\n"},
		{in: "220 mail.example.com ESMTP Postfix\r\n", want: "EHLO laptop.example\r\n"},
		{in: postfixEHLO, want: "AUTH PLAIN " + ir + "\r\n"},
		{in: "235 2.7.0 Authentication successful\r\n", ev: protocols.BackendAuthOK},
	})
	if string(b.Relay()) != "235 2.7.0 Authentication successful\r\n" {
		t.Fatalf("relay %q", b.Relay())
	}
}

func TestBackendLoginMechanismAndFailure(t *testing.T) {
	ehlo := "250-h\r\n250-AUTH LOGIN\r\n250 8BITMIME\r\n"
	b := runBackend(t, BackendConfig{ReplayConfig: protocols.ReplayConfig{Login: login("PLAIN", "bob", "pw")}}, []step{
		{in: "220-h ESMTP\r\n220 more\r\n", want: "EHLO localhost\r\n"},
		{in: ehlo, want: "AUTH LOGIN\r\n"},
		{in: "334 VXNlcm5hbWU6\r\n", want: "Ym9i\r\n"},
		{in: "334 UGFzc3dvcmQ6\r\n", want: "cHc=\r\n"},
		{in: "535-5.7.8 Error:\r\n535 5.7.8 authentication failed\r\n", ev: protocols.BackendAuthFailed},
	})
	if string(b.Relay()) != "535-5.7.8 Error:\r\n535 5.7.8 authentication failed\r\n" {
		t.Fatalf("relay %q", b.Relay())
	}
	b = runBackend(t, BackendConfig{ReplayConfig: protocols.ReplayConfig{Login: login("PLAIN", "bob", "pw"), HideAuthErrors: true}}, []step{
		{in: "220 h\r\n", want: "EHLO localhost\r\n"},
		{in: "250-h\r\n250 AUTH PLAIN\r\n", want: "AUTH PLAIN AGJvYgBwdw==\r\n"},
		{in: "534 5.7.9 Nope, details\r\n", ev: protocols.BackendAuthFailed},
	})
	if string(b.Relay()) != "535 5.7.8 Authentication credentials invalid\r\n" {
		t.Fatalf("relay %q", b.Relay())
	}
}

func TestBackendNoXClientAdvertised(t *testing.T) {
	fwd := &forward.Info{Client: netip.MustParseAddrPort("127.0.0.1:1234")}
	runBackend(t, BackendConfig{ReplayConfig: protocols.ReplayConfig{Login: login("PLAIN", "u", "p"), Forward: fwd}}, []step{
		{in: "220 h\r\n", want: "EHLO localhost\r\n"},
		{in: "250-h\r\n250 AUTH PLAIN\r\n", want: "AUTH PLAIN AHUAcA==\r\n"},
		{in: "235 2.7.0 ok\r\nextra", ev: protocols.BackendAuthOK},
	})
}

func TestBackendXClientOnlyAdvertised(t *testing.T) {
	fwd := &forward.Info{Client: netip.MustParseAddrPort("127.0.0.1:1234"), Local: netip.MustParseAddrPort("127.0.0.1:587")}
	l := login("PLAIN", "u", "p")
	l.ClientID = nil // no HELO known: the proxy's name is used again
	runBackend(t, BackendConfig{ReplayConfig: protocols.ReplayConfig{Login: l, Forward: fwd}, Hostname: "px"}, []step{
		{in: "220 h\r\n", want: "EHLO px\r\n"},
		{in: "250-h\r\n250-XCLIENT ADDR LOGIN\r\n250 AUTH PLAIN\r\n", want: "XCLIENT ADDR=127.0.0.1\r\n"},
		{in: "220 h again\r\n", want: "EHLO px\r\n"},
		{in: "250-h\r\n250 AUTH PLAIN\r\n", want: "AUTH PLAIN AHUAcA==\r\n"},
		{in: "235 2.7.0 ok\r\n", ev: protocols.BackendAuthOK},
	})
}

func TestBackendFailures(t *testing.T) {
	fwd := &forward.Info{Client: netip.MustParseAddrPort("127.0.0.1:1234")}
	for name, steps := range map[string][]step{
		"greeting 554":  {{in: "554 5.3.2 go away\r\n", ev: protocols.BackendFailed}},
		"garbage":       {{in: "HTTP/1.1 400\r\n", ev: protocols.BackendFailed}},
		"code changes":  {{in: "220-a\r\n221 b\r\n", ev: protocols.BackendFailed}},
		"no STARTTLS":   {{in: "220 h\r\n", want: "EHLO localhost\r\n"}, {in: "250 h\r\n", ev: protocols.BackendFailed}},
		"EHLO refused":  {{in: "220 h\r\n", want: "EHLO localhost\r\n"}, {in: "502 5.5.2 no\r\n", ev: protocols.BackendFailed}},
		"tempfail auth": {{in: "220 h\r\n", want: "EHLO localhost\r\n"}, {in: "250-h\r\n250 STARTTLS\r\n", want: "STARTTLS\r\n"}, {in: "454 4.7.0 TLS not available\r\n", ev: protocols.BackendFailed}},
	} {
		t.Run(name, func(t *testing.T) {
			runBackend(t, BackendConfig{ReplayConfig: protocols.ReplayConfig{Login: login("PLAIN", "u", "p"), StartTLS: true}}, steps)
		})
	}
	runBackend(t, BackendConfig{ReplayConfig: protocols.ReplayConfig{Login: login("PLAIN", "u", "p"), Forward: fwd}}, []step{
		{in: "220 h\r\n", want: "EHLO localhost\r\n"},
		{in: "250-h\r\n250-XCLIENT ADDR\r\n250 AUTH PLAIN\r\n", want: "XCLIENT ADDR=127.0.0.1\r\n"},
		{in: "550 5.7.0 Error: insufficient authorization\r\n", ev: protocols.BackendFailed},
	})
	runBackend(t, BackendConfig{ReplayConfig: protocols.ReplayConfig{Login: login("PLAIN", "u", "p")}}, []step{
		{in: "220 h\r\n", want: "EHLO localhost\r\n"},
		{in: "250-h\r\n250 AUTH PLAIN\r\n", want: "AUTH PLAIN AHUAcA==\r\n"},
		{in: "454 4.7.0 Temporary authentication failure\r\n", ev: protocols.BackendFailed},
	})
	runBackend(t, BackendConfig{ReplayConfig: protocols.ReplayConfig{Login: login("XOAUTH2", "u", "")}}, []step{
		{in: "220 h\r\n", want: "EHLO localhost\r\n"},
		{in: "250-h\r\n250 AUTH PLAIN\r\n", ev: protocols.BackendFailed}, // XOAUTH2 not offered
	})
	b := NewBackend(BackendConfig{ReplayConfig: protocols.ReplayConfig{Login: login("PLAIN", "u", "p")}})
	_, _, ev := b.Feed([]byte(strings.Repeat("2", 9000)), nil)
	if ev != protocols.BackendFailed {
		t.Fatal("endless line accepted")
	}
}

func TestBackendOAuthLongTokenAndErrorChallenge(t *testing.T) {
	tok := strings.Repeat("t", 600)
	l := &protocols.Login{Creds: sasl.Credentials{Mechanism: "OAUTHBEARER", Username: "u@x", Token: tok}}
	ir, _ := sasl.InitialResponse(l.Creds)
	b := runBackend(t, BackendConfig{ReplayConfig: protocols.ReplayConfig{Login: l}}, []step{
		{in: "220 h\r\n", want: "EHLO localhost\r\n"},
		{in: "250-h\r\n250 AUTH OAUTHBEARER XOAUTH2\r\n", want: "AUTH OAUTHBEARER\r\n"}, // too long for the command line
		{in: "334 \r\n", want: b64(string(ir)) + "\r\n"},
		{in: "334 eyJzdGF0dXMiOiI0MDEifQ==\r\n", want: "AQ==\r\n"},
		{in: "535 5.7.8 Authentication credentials invalid\r\n", ev: protocols.BackendAuthFailed},
	})
	if !strings.HasPrefix(string(b.Relay()), "535 ") {
		t.Fatalf("relay %q", b.Relay())
	}
	l = &protocols.Login{Creds: sasl.Credentials{Mechanism: "XOAUTH2", Username: "u@x", Token: "short"}}
	ir, _ = sasl.InitialResponse(l.Creds)
	runBackend(t, BackendConfig{ReplayConfig: protocols.ReplayConfig{Login: l}}, []step{
		{in: "220 h\r\n", want: "EHLO localhost\r\n"},
		{in: "250-h\r\n250 AUTH XOAUTH2\r\n", want: "AUTH XOAUTH2 " + b64(string(ir)) + "\r\n"},
		{in: "334 eyJzdGF0dXMiOiI0MDEifQ==\r\n", want: "\r\n"},
		{in: "535 5.7.8 no\r\n", ev: protocols.BackendAuthFailed},
	})
}

func TestBackendLeavesBytesAfterVerdict(t *testing.T) {
	b := NewBackend(BackendConfig{ReplayConfig: protocols.ReplayConfig{Login: login("PLAIN", "u", "p")}})
	in := []byte("220 h\r\n")
	n, out, _ := b.Feed(in, nil)
	if n != len(in) || string(out) != "EHLO localhost\r\n" {
		t.Fatal(n, string(out))
	}
	in = []byte("250-h\r\n250 AUTH PLAIN\r\n")
	b.Feed(in, nil)
	in = []byte("235 2.7.0 ok\r\n250 2.1.0 Ok\r\n")
	n, _, ev := b.Feed(in, nil)
	if ev != protocols.BackendAuthOK || n != len("235 2.7.0 ok\r\n") {
		t.Fatalf("consumed %d ev %d", n, ev)
	}
}
