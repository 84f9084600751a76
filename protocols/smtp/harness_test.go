package smtp

import (
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
)

// client is prototest's engine stand-in; the name keeps the tests short.
type client = prototest.Client[*Server]

// newClient bridges accepted logins: the unconsumed bytes and everything
// sent after them go to ToBackend.
func newClient(t *testing.T, cfg ServerConfig) *client {
	c := prototest.NewClient(t, NewServer(cfg), func(l *protocols.Login) string {
		return l.Creds.Mechanism + " " + l.Creds.Username
	})
	c.Bridge = true
	return c
}

// transcript runs a dialogue whole and byte by byte and checks that both
// give the same output, events and bridged bytes.
func transcript(t *testing.T, cfg ServerConfig, input string, verdict prototest.Verdict) *client {
	t.Helper()
	return prototest.Dialogue(t, func() *client { return newClient(t, cfg) }, verdict, input)
}
