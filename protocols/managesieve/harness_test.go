package managesieve

import (
	"testing"

	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
)

// client is prototest's engine stand-in; the name keeps the tests short.
type client = prototest.Client[*Server]

func newClient(t *testing.T, cfg ServerConfig) *client {
	return prototest.NewClient(t, NewServer(cfg), prototest.Describe)
}
