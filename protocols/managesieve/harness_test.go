package managesieve

import "github.com/switchyard-mail/switchyard/protocols/internal/prototest"

// client is prototest's engine stand-in; the name keeps the tests short.
type client = prototest.Client[*Server]

var newClient = prototest.Clients(NewServer, prototest.Describe)
