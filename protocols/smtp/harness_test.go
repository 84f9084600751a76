package smtp

import (
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/prototest"
)

// The engine stand-in lives in prototest; these names keep the tests short.
type (
	client  = prototest.Client[*Server]
	failure = prototest.Failure
)

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
// give the same output and events.
func transcript(t *testing.T, cfg ServerConfig, input string, verdict func(*protocols.Login) *failure) *client {
	t.Helper()
	var runs [2]*client
	for i, bytewise := range []bool{false, true} {
		c := newClient(t, cfg)
		if verdict != nil {
			c.Verdict = verdict
		}
		c.Send(input, bytewise)
		runs[i] = c
	}
	a, b := runs[0], runs[1]
	if string(a.Out) != string(b.Out) || strings.Join(a.Events, "|") != strings.Join(b.Events, "|") || string(a.ToBackend) != string(b.ToBackend) {
		t.Fatalf("chunking changes the result:\nwhole: %q\n%q %q\nbytes: %q\n%q %q", a.Out, a.Events, a.ToBackend, b.Out, b.Events, b.ToBackend)
	}
	return a
}
