// Package sock holds the engine's socket and descriptor helpers: address
// conversions, descriptor calls, and the epoll interest changes behind
// backpressure. No loop state and no connection state live here.
package sock

import (
	"net"
	"net/netip"
)

// unmapped drops the IPv4-mapped form, so a listener bound to 127.0.0.1
// matches a connection reported as ::ffff:127.0.0.1.
func unmapped(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// AddrPort is a's address and port, unmapped (zero when a has none).
func AddrPort(a net.Addr) netip.AddrPort {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return unmapped(tcp.AddrPort())
	}
	if a == nil {
		return netip.AddrPort{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}
	}
	return unmapped(ap)
}

// Trusted reports whether a is inside one of prefixes.
func Trusted(prefixes []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
