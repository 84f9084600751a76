package engine

import (
	"net/netip"

	"github.com/switchyard-mail/switchyard/protocols/forward"
)

// The inbound PROXY header (v1 or v2) is read with protocols/forward, which
// also writes the outbound one.

// errNoProxyHeader: the bytes cannot start a PROXY header.
var errNoProxyHeader = forward.ErrNoProxyHeader

// proxyHeaderLen reports how many bytes the PROXY header at the start of b
// spans: 0 with a nil error when more bytes are needed, errNoProxyHeader
// when b does not start one.
func proxyHeaderLen(b []byte) (int, error) { return forward.ProxyHeaderLen(b) }

// parseProxyHeader decodes a complete header. A LOCAL command (health
// checks) returns ok=false: the connection's own addresses stand.
func parseProxyHeader(b []byte) (src, dst netip.AddrPort, ok bool, err error) {
	return forward.ParseProxyHeader(b)
}
