package smtp

import (
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
	"github.com/switchyard-mail/switchyard/protocols/internal/smtpwire"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

func fuzzServerConfig(flags uint8) ServerConfig {
	cfg := ServerConfig{Hostname: "mx.example.com"}
	cfg.StartTLS, cfg.TLSActive, cfg.AllowPlainWithoutTLS, cfg.MaxAuthAttempts = prototest.ServerFlags(flags)
	if flags&8 != 0 {
		cfg.MaxLine, cfg.MaxAuthLine, cfg.MaxErrors = 16, 600, 5
	}
	return cfg
}

// FuzzSubmissionServerFeed feeds random client bytes in random chunks. The
// machine must not panic, must give the same output and events however the
// input is chunked, must keep the engine's buffer bounded and its own
// output in proportion to the input.
func FuzzSubmissionServerFeed(f *testing.F) {
	f.Add([]byte("EHLO c\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nMAIL FROM:<a@b>\r\n"), []byte{3}, uint8(2))
	f.Add([]byte("EHLO c\r\nAUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\n"), []byte{1, 7}, uint8(6))
	f.Add([]byte("EHLO c\r\nSTARTTLS\r\nAUTH PLAIN =\r\n"), []byte{}, uint8(1))
	f.Add([]byte("HELO c\r\nAUTH PLAIN\r\n*\r\nAUTH OAUTHBEARER =\r\n\r\nQUIT\r\n"), []byte{5}, uint8(6))
	f.Add([]byte("MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\nFOO\r\n\x00\r\nRSET\r\nNOOP x\r\n"), []byte{2}, uint8(8))
	f.Add([]byte(strings.Repeat("z", 100)+"\r\nNOOP\r\n"), []byte{}, uint8(8))
	f.Add([]byte("ehlo c\nauth xoauth2 dXNlcj11QHgBYXV0aD1CZWFyZXIgdAEB\n"), []byte{9}, uint8(2))
	f.Fuzz(func(t *testing.T, data, cuts []byte, flags uint8) {
		cfg := fuzzServerConfig(flags)
		prototest.ServerFuzz[*Server]{
			New: func() *client { return newClient(t, cfg) },
			// Unavailable, refused with the backend's words, accepted, in turn.
			Verdicts: func() prototest.Verdict {
				return prototest.InTurn(&prototest.Failure{Kind: protocols.FailUnavailable},
					&prototest.Failure{Kind: protocols.FailRejected, Relay: "535 5.7.8 no"}, nil)
			},
			MaxHeld: defaultMaxAuthLine + 16,
			MaxOut:  func(in int) int { return 64*in + 1024 },
		}.Check(t, data, cuts)
	})
}

// FuzzSubmissionBackendFeed feeds random backend bytes in random chunks to
// a Backend. It must not panic, must behave the same however the input is
// chunked, write a bounded amount, keep its relay bounded, never consume
// past what it was given, and never send credentials before TLS when
// STARTTLS is required, nor LOGIN= in XCLIENT.
func FuzzSubmissionBackendFeed(f *testing.F) {
	f.Add([]byte("220 h ESMTP\r\n"+postfixEHLO+"220 h\r\n"+postfixEHLO+"235 2.7.0 ok\r\n250 more\r\n"), []byte{}, uint8(4))
	f.Add([]byte("220 h\r\n"+postfixEHLO+"220 2.0.0 go\r\n"+postfixEHLO+"220 h\r\n"+postfixEHLO+"535 5.7.8 no\r\n"), []byte{3}, uint8(12))
	f.Add([]byte("220 h\r\n250-h\r\n250 AUTH LOGIN\r\n334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 ok\r\n"), []byte{1}, uint8(0))
	f.Add([]byte("220 h\r\n250-h\r\n250 AUTH OAUTHBEARER XOAUTH2\r\n334 \r\n334 e30=\r\n535 5.7.8 no\r\n"), []byte{7}, uint8(2))
	f.Add([]byte("220-a\r\n220 b\r\n250-h\r\n250-AUTH=PLAIN\r\n250 XCLIENT\r\n454 4.7.0 tmp\r\n"), []byte{2}, uint8(21))
	f.Fuzz(func(t *testing.T, data, cuts []byte, flags uint8) {
		cfg := BackendConfig{ReplayConfig: prototest.ReplayFlags(flags, [4]*protocols.Login{
			login("PLAIN", "alice", "secret"),
			login("LOGIN", "jörg", "pä"),
			{Creds: sasl.Credentials{Mechanism: "OAUTHBEARER", Username: "u@x", Token: strings.Repeat("t", 500)}},
			{Creds: sasl.Credentials{Mechanism: "XOAUTH2", Username: "u@x", Token: "tok"}},
		}, prototest.ForwardInfo("[2001:db8::5]:4567", "127.0.0.1:587", 3))}
		prototest.BackendFuzz[*Backend]{
			New:      func() *Backend { return NewBackend(cfg) },
			StartTLS: cfg.StartTLS,
			Clear:    []string{"AUTH", "XCLIENT"},
			Done: func(r *prototest.BackendRun[*Backend]) {
				if strings.Contains(string(r.Sent), "LOGIN=") {
					t.Fatalf("XCLIENT LOGIN sent: %q", r.Sent)
				}
			},
			MaxSent:  8192,
			MaxRelay: smtpwire.MaxRelay + smtpwire.MaxReplyLine + 2,
		}.Check(t, data, cuts)
	})
}

// BenchmarkSubmissionLogin is a whole client login through the Server:
// greeting, EHLO, AUTH PLAIN, up to EventLogin.
func BenchmarkSubmissionLogin(b *testing.B) {
	in := []byte("EHLO client.example\r\nAUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHMzY3JldA==\r\n")
	out := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		s := NewServer(ServerConfig{TLSActive: true})
		out = s.Greeting(out[:0])
		n, o, ev := s.Feed(in, out)
		if n != len(in) || ev != protocols.EventLogin {
			b.Fatalf("consumed %d ev %v", n, ev)
		}
		out = o
	}
}

// BenchmarkSubmissionReplay is the backend side: greeting to 235.
func BenchmarkSubmissionReplay(b *testing.B) {
	l := login("PLAIN", "alice@example.com", "s3cret")
	out := make([]byte, 0, 1024)
	greeting, ehlo, ok := []byte("220 h ESMTP\r\n"), []byte(postfixEHLO), []byte("235 2.7.0 ok\r\n")
	b.ReportAllocs()
	for b.Loop() {
		be := NewBackend(BackendConfig{ReplayConfig: protocols.ReplayConfig{Login: l}})
		_, out, _ = be.Feed(greeting, out[:0])
		_, out, _ = be.Feed(ehlo, out[:0])
		if _, _, ev := be.Feed(ok, out[:0]); ev != protocols.BackendAuthOK {
			b.Fatalf("ev %v", ev)
		}
	}
}
