package imap

import (
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
)

func fuzzServerConfig(flags uint8) ServerConfig {
	var cfg ServerConfig
	cfg.StartTLS, cfg.TLSActive, cfg.AllowPlainWithoutTLS, cfg.MaxAuthAttempts = prototest.ServerFlags(flags)
	if flags&8 != 0 {
		cfg.MaxLine, cfg.MaxLiteral, cfg.MaxAuthLine = 64, 32, 128
	}
	return cfg
}

// FuzzServerFeed feeds random client bytes in random chunks. The machine
// must not panic, must give the same output and events however the input
// is chunked, must keep the engine's buffer bounded and its own output in
// proportion to the input.
func FuzzServerFeed(f *testing.F) {
	f.Add([]byte("a CAPABILITY\r\nb LOGIN alice secret\r\nc LOGOUT\r\n"), []byte{3}, uint8(2))
	f.Add([]byte("a LOGIN {5}\r\nalice {6+}\r\nsecret\r\n"), []byte{1, 7}, uint8(2))
	f.Add([]byte("a STARTTLS\r\nb NOOP\r\n"), []byte{}, uint8(1))
	f.Add([]byte("a AUTHENTICATE PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\n"), []byte{5}, uint8(6))
	f.Add([]byte("a AUTHENTICATE LOGIN\r\nYWxpY2U=\r\n*\r\n"), []byte{2}, uint8(2))
	f.Add([]byte("a ID (\"name\" {3}\r\nfoo)\r\nb LOGIN {99}\r\n"), []byte{4}, uint8(10))
	f.Add([]byte("a LOGIN {40+}\r\n"+strings.Repeat("x", 40)+"\r\n"), []byte{9}, uint8(10))
	f.Add([]byte(strings.Repeat("z", 100)), []byte{}, uint8(8))
	f.Fuzz(func(t *testing.T, data, cuts []byte, flags uint8) {
		cfg := fuzzServerConfig(flags)
		limit := cfg.MaxLine*2 + cfg.MaxLiteral + cfg.MaxAuthLine + 16
		if limit < 64 {
			limit = defaultMaxLine*2 + defaultMaxLiteral + defaultMaxAuthLine + 16
		}
		prototest.ServerFuzz[*Server]{
			New:      func() *client { return newClient(t, cfg) },
			Verdicts: prototest.AlternateVerdicts,
			MaxHeld:  limit,
			MaxOut:   func(in int) int { return 32*in + 1024 },
		}.Check(t, data, cuts)
	})
}

// FuzzBackendFeed feeds random backend bytes in random chunks to a
// Backend. It must not panic, must write a bounded amount, keep its relay
// bounded, never consume past what it was given, and never send the
// credentials before TLS when STARTTLS is required.
func FuzzBackendFeed(f *testing.F) {
	f.Add([]byte(dovecotGreeting+"a1 OK Logged in\r\n* 1 EXISTS\r\n"), []byte{}, uint8(0))
	f.Add([]byte("* OK hi\r\n* CAPABILITY IMAP4rev1 LITERAL+\r\nsy.1 OK\r\n+ go\r\na1 NO x\r\n"), []byte{3}, uint8(1))
	f.Add([]byte("* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\nsy.2 OK go\r\n"), []byte{1}, uint8(2))
	f.Add([]byte("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER] hi\r\n+ e30=\r\na1 NO no\r\n"), []byte{7}, uint8(4))
	f.Add([]byte("* OK [CAPABILITY IMAP4rev1 ID AUTH=XOAUTH2] hi\r\n* ID {3}\r\nabc\r\nsy.3 OK\r\n+ \r\na1 OK\r\n"), []byte{2}, uint8(13))
	f.Fuzz(func(t *testing.T, data, cuts []byte, flags uint8) {
		logins := []*protocols.Login{
			plainLogin("a1", "alice", "secret"),
			plainLogin("a1", "jörg", "pä"),
			bearerLogin("a1", "OAUTHBEARER"),
			bearerLogin("a1", "XOAUTH2"),
		}
		cfg := BackendConfig{
			Login:          logins[flags&3],
			StartTLS:       flags&8 != 0,
			HideAuthErrors: flags&16 != 0,
		}
		if flags&4 != 0 {
			cfg.IDParams = []string{"x-originating-ip", "192.0.2.1"}
		}
		prototest.BackendFuzz[*Backend]{
			New:      func() *Backend { return NewBackend(cfg) },
			PerRead:  true,
			StartTLS: cfg.StartTLS,
			Clear:    []string{"a1 "},
			MaxRelay: maxRelay + maxResponseLine,
		}.Check(t, data, cuts)
	})
}

// BenchmarkLoginExchange is a whole client login through the Server:
// greeting, CAPABILITY, LOGIN, up to EventLogin.
func BenchmarkLoginExchange(b *testing.B) {
	in := []byte("a1 CAPABILITY\r\na2 LOGIN alice@example.com s3cret-passw0rd\r\n")
	out := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		s := NewServer(ServerConfig{TLSActive: true})
		out = s.Greeting(out[:0])
		n, o, ev := s.Feed(in, out)
		if n != len(in) || ev != protocols.EventLogin || s.Login().Creds.Username != "alice@example.com" {
			b.Fatalf("consumed %d ev %v", n, ev)
		}
		out = o
	}
}

// BenchmarkReplay is the backend side: Dovecot greeting to verdict.
func BenchmarkReplay(b *testing.B) {
	l := plainLogin("a1", "alice@example.com", "s3cret-passw0rd")
	greeting := []byte(dovecotGreeting)
	verdict := []byte("a1 OK [CAPABILITY IMAP4rev1 SASL-IR] Logged in\r\n")
	out := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		be := NewBackend(BackendConfig{Login: l})
		_, out, _ = be.Feed(greeting, out[:0])
		if _, _, ev := be.Feed(verdict, out); ev != protocols.BackendAuthOK {
			b.Fatalf("ev %v", ev)
		}
	}
}
