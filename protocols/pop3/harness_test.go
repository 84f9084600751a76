package pop3

import (
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
)

// The engine stand-ins live in prototest; these names keep the tests short.
type (
	client  = prototest.Client[*Server]
	failure = prototest.Failure
)

func newClient(t *testing.T, cfg ServerConfig) *client {
	return prototest.NewClient(t, NewServer(cfg), describe)
}

// describe is prototest.Describe plus " utf8" when the login carries the
// client's UTF8 (what the Backend acts on).
func describe(l *protocols.Login) string {
	s := prototest.Describe(l)
	if UTF8FromLogin(l) {
		s += " utf8"
	}
	return s
}
