package forward

import "net/netip"

// tlsInfo is the connection most cases forward: 203.0.113.5:40000 over
// TLS to 192.0.2.10 at port.
func tlsInfo(port uint16, sessionID string) Info {
	return Info{
		Client:    netip.MustParseAddrPort("203.0.113.5:40000"),
		Local:     netip.AddrPortFrom(netip.MustParseAddr("192.0.2.10"), port),
		SessionID: sessionID,
		TLS:       true,
	}
}
