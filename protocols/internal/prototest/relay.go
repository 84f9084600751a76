package prototest

import (
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
