package pop3

import (
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
)

// client is prototest's engine stand-in; the name keeps the tests short.
type client = prototest.Client[*Server]

var newClient = prototest.Clients(NewServer, describe)

// describe is prototest.Describe plus " utf8" when the login carries the
// client's UTF8 (what the Backend acts on).
func describe(l *protocols.Login) string {
	s := prototest.Describe(l)
	if UTF8FromLogin(l) {
		s += " utf8"
	}
	return s
}
