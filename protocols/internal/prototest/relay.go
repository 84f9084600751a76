package prototest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/protocols"
)

// Route answers a relay's RelayRoute for id from a test's table: a
// missing id is unknown, a destination "?" a temporary failure.
func Route(routes map[string]string, id string) (dest string, outcome protocols.RouteOutcome) {
	dest, ok := routes[id]
	switch {
	case !ok:
		return "", protocols.RouteUnknown
	case dest == "?":
		return "", protocols.RouteTempFail
	}
	return dest, protocols.RouteOK
}

// RelayModes runs a relay dialogue test three ways, whose results must be
// the same: with whole writes ("whole"), with the client's writes one
// octet at a time ("client bytewise"), and with the backend's ("backend
// bytewise").
func RelayModes(t *testing.T, test func(t *testing.T, clientBytewise, backendBytewise bool)) {
	t.Helper()
	for _, mode := range []string{"whole", "client bytewise", "backend bytewise"} {
		t.Run(mode, func(t *testing.T) {
			test(t, mode == "client bytewise", mode == "backend bytewise")
		})
	}
}

// RelayLog is what a relay test engine records between two checks: what
// the client received (Out), what the backend legs received (Sent), and
// what the engine was asked to do (Events).
type RelayLog struct {
	Out, Sent []byte
	Events    []string
}

// Event records one thing the engine was asked to do.
func (l *RelayLog) Event(format string, args ...any) {
	l.Events = append(l.Events, fmt.Sprintf(format, args...))
}

// TakeSent returns and forgets what the legs received.
func (l *RelayLog) TakeSent() string { s := string(l.Sent); l.Sent = l.Sent[:0]; return s }

// TakeEvents returns and forgets the events.
func (l *RelayLog) TakeEvents() []string { ev := l.Events; l.Events = nil; return ev }

// CheckEvents fails t unless the events since the last take are want;
// it forgets them.
func (l *RelayLog) CheckEvents(t testing.TB, want ...string) {
	t.Helper()
	if got := l.TakeEvents(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("events %q, want %q", got, want)
	}
}
