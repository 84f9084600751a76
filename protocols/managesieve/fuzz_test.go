package managesieve

import (
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// FuzzSieveServerFeed feeds random client bytes in random chunks. The
// machine must not panic, must give the same output and events however
// the input is chunked (one byte at a time included), and must keep the
// engine's buffer bounded.
func FuzzSieveServerFeed(f *testing.F) {
	f.Add([]byte("CAPABILITY\r\nNOOP \"x\"\r\nAUTHENTICATE \"PLAIN\" \"AGFsaWNlAHNlY3JldA==\"\r\n"), []byte{3}, uint8(2))
	f.Add([]byte("STARTTLS\r\nAUTHENTICATE \"PLAIN\" {4+}\r\nAGEA\r\n"), []byte{}, uint8(1))
	f.Add([]byte("AUTHENTICATE \"LOGIN\"\r\n{8+}\r\nYWxpY2U=\r\n\"*\"\r\nLOGOUT\r\n"), []byte{5}, uint8(6))
	f.Add([]byte("AUTHENTICATE {5}\r\nPLAIN\r\n\"AGEAYg==\"\r\nPUTSCRIPT \"a\" {99999+}\r\n"), []byte{2}, uint8(0x8a))
	f.Add([]byte("NOOP {3}\r\na\nb\r\nNOOP \"a\\\"b\"\r\n"+strings.Repeat("z", 90)), []byte{1}, uint8(8))
	f.Fuzz(func(t *testing.T, data, cuts []byte, flags uint8) {
		var cfg ServerConfig
		cfg.StartTLS, cfg.TLSActive, cfg.AllowPlainWithoutTLS, cfg.MaxAuthAttempts = prototest.ServerFlags(flags)
		if flags&8 != 0 {
			cfg.MaxCommand = 80
		}
		prototest.ServerFuzz[*Server]{
			New:      func() *client { return newClient(t, cfg) },
			Verdicts: prototest.AlternateVerdicts,
			MaxHeld:  defaultMaxCommand + 2,
			MaxOut:   func(in int) int { return 32*in + 4096 },
		}.Check(t, data, cuts)
	})
}

// FuzzSieveBackendFeed feeds random backend bytes in random chunks. It
// must not panic, send a bounded amount, never send credentials before
// TLS when STARTTLS is required, and give the same result however the
// input is chunked.
func FuzzSieveBackendFeed(f *testing.F) {
	f.Add([]byte(dovecotCaps+"OK \"Logged in.\"\r\n"), []byte{}, uint8(0))
	f.Add([]byte(dovecotCaps+"OK \"go\"\r\n"+plainCaps+"NO \"no\"\r\n"), []byte{3}, uint8(8))
	f.Add([]byte(dovecotCaps+"OK\r\nOK {2}\r\nhi\r\n"), []byte{1}, uint8(4))
	f.Add([]byte(loginCaps+"\"UGFzc3dvcmQ6\"\r\n{0}\r\n\r\nBYE\r\n"), []byte{2}, uint8(2))
	f.Fuzz(func(t *testing.T, data, cuts []byte, flags uint8) {
		cfg := prototest.ReplayFlags(flags, [4]*protocols.Login{
			plainLogin("alice", "secret"),
			{Creds: sasl.Credentials{Mechanism: sasl.Login, Username: "jörg", Password: "p\"ä"}},
			bearerLogin(sasl.OAuthBearer),
			bearerLogin(sasl.XOAuth2),
		}, testInfo)
		prototest.BackendFuzz[*Backend]{
			New:      func() *Backend { return NewBackend(cfg) },
			StartTLS: cfg.StartTLS,
			Clear:    []string{"AUTHENTICATE", "XCLIENT"},
			MaxRelay: maxResponse + 2,
		}.Check(t, data, cuts)
	})
}
