package pop3

import (
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

func fuzzServerConfig(flags uint8) ServerConfig {
	cfg := ServerConfig{NoUTF8: flags&16 != 0}
	cfg.StartTLS, cfg.TLSActive, cfg.AllowPlainWithoutTLS, cfg.MaxAuthAttempts = prototest.ServerFlags(flags)
	if flags&8 != 0 {
		cfg.MaxLine, cfg.MaxAuthLine = 32, 96
	}
	return cfg
}

// FuzzPOP3ServerFeed feeds random client bytes in random chunks. The
// machine must not panic, must give the same output and events however
// the input is chunked (one byte at a time included), and must keep the
// engine's buffer bounded.
func FuzzPOP3ServerFeed(f *testing.F) {
	f.Add([]byte("CAPA\r\nUSER alice\r\nPASS secret\r\nQUIT\r\n"), []byte{3}, uint8(2))
	f.Add([]byte("STLS\r\nUSER x\r\n"), []byte{}, uint8(1))
	f.Add([]byte("AUTH PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\n"), []byte{5}, uint8(6))
	f.Add([]byte("AUTH LOGIN\r\nYWxpY2U=\r\n*\r\nAUTH\r\n"), []byte{2}, uint8(2))
	f.Add([]byte("AUTH PLAIN =\r\nAPOP a b\r\nNOOP\r\n"), []byte{1}, uint8(0xc6))
	f.Add([]byte("USER "+strings.Repeat("z", 100)+"\r\n"), []byte{}, uint8(8))
	f.Add([]byte("AUTH XOAUTH2 dXNlcj11AWF1dGg9QmVhcmVyIHQBAQ==\r\nSTAT\n"), []byte{7}, uint8(2))
	f.Add([]byte("UTF8\r\nutf8\r\nUSER j\xc3\xb6rg\r\nPASS p\xc3\xa4\r\nUTF8 USER\r\n"), []byte{4}, uint8(2))
	f.Add([]byte("UTF8\r\nCAPA\r\nAUTH PLAIN AGEAYg==\r\n"), []byte{3}, uint8(0x16))
	f.Add([]byte("UTF8\r\nSTLS\r\nUTF8\r\n"), []byte{1}, uint8(1))
	f.Fuzz(func(t *testing.T, data, cuts []byte, flags uint8) {
		cfg := fuzzServerConfig(flags)
		prototest.ServerFuzz[*Server]{
			New:      func() *client { return newClient(t, cfg) },
			Verdicts: prototest.AlternateVerdicts,
			MaxHeld:  defaultMaxAuthLine + 2,
			MaxOut:   func(in int) int { return 32*in + 1024 },
		}.Check(t, data, cuts)
	})
}

// FuzzPOP3BackendFeed feeds random backend bytes in random chunks. It
// must not panic, must send a bounded amount, never consume past what it
// was given, never send credentials (or UTF8) before TLS when STLS is
// required, send UTF8 only for a client that asked, and give the same
// result however the input is chunked.
func FuzzPOP3BackendFeed(f *testing.F) {
	f.Add([]byte(dovecotGreeting+dovecotCapa+"+OK Logged in.\r\n"), []byte{}, uint8(0))
	f.Add([]byte(dovecotGreeting+dovecotCapa+"+OK go\r\n"+dovecotCapa+"-ERR [AUTH] no\r\n"), []byte{3}, uint8(8))
	f.Add([]byte(dovecotGreeting+dovecotCapaXC+"+OK\r\n+OK in\r\n"), []byte{1}, uint8(4))
	f.Add([]byte("+OK\r\n-ERR\r\n+OK\r\n+OK\r\n"), []byte{2}, uint8(0))
	f.Add([]byte("+OK\r\n+OK\r\nSASL OAUTHBEARER XOAUTH2\r\n.\r\n+ e30=\r\n-ERR no\r\n"), []byte{7}, uint8(2))
	f.Add([]byte("+OK hi\r\n"+utf8Capa+"+OK UTF8 enabled\r\n+OK in\r\n"), []byte{5}, uint8(32))
	f.Add([]byte("+OK hi\r\n+OK\r\nSTLS\r\nUTF8\r\n.\r\n+OK\r\n"+utf8Capa+"+OK\r\n-ERR no\r\n+OK in\r\n"), []byte{9}, uint8(32|8|4))
	f.Add([]byte("+OK hi\r\n+OK\r\nUSER\r\nUTF8\r\n.\r\n-ERR\r\n+OK\r\n+OK in\r\n"), []byte{2}, uint8(32))
	f.Fuzz(func(t *testing.T, data, cuts []byte, flags uint8) {
		cfg := prototest.ReplayFlags(flags, [4]*protocols.Login{
			plainLogin("alice", "secret"),
			{Creds: sasl.Credentials{Mechanism: sasl.Plain, Authzid: "admin", Username: "jörg", Password: "pä"}},
			bearerLogin(sasl.OAuthBearer),
			bearerLogin(sasl.XOAuth2),
		}, testInfo)
		login := *cfg.Login
		utf8 := flags&32 != 0
		if utf8 {
			login.ClientID = []string{ClientIDUTF8, "1"}
		}
		cfg.Login = &login
		prototest.BackendFuzz[*Backend]{
			New:      func() *Backend { return NewBackend(cfg) },
			StartTLS: cfg.StartTLS,
			Clear:    []string{"AUTH ", "USER ", "XCLIENT", "UTF8"},
			Done: func(r *prototest.BackendRun[*Backend]) {
				if !utf8 && strings.Contains("\n"+string(r.Sent), "\nUTF8\r\n") {
					t.Fatalf("UTF8 sent for a client that did not ask: %q", r.Sent)
				}
			},
			// A hidden refusal is replaced by replyAuthFailed.
			MaxRelay: max(maxResponseLine+2, len(replyAuthFailed)),
		}.Check(t, data, cuts)
	})
}
