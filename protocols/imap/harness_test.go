package imap

import (
	"fmt"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
)

// The engine stand-ins live in prototest; these names keep the tests short.
type (
	client     = prototest.Client[*Server]
	backendRun = prototest.BackendRun[*Backend]
)

var newClient = prototest.Clients(NewServer, describe)

// newBackendRun feeds b one network read at a time, as the engine does.
func newBackendRun(t *testing.T, b *Backend) *backendRun {
	return &backendRun{T: t, B: b, PerRead: true, RelayLabel: "relay="}
}

func describe(l *protocols.Login) string {
	s := "tag=" + l.Tag + " " + prototest.Describe(l)
	if len(l.ClientID) > 0 {
		s += fmt.Sprintf(" id=%q", l.ClientID)
	}
	return s
}
