package engine

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"net"
	"net/netip"
	"strings"
)

// unmapped drops the IPv4-mapped form, so a listener bound to 127.0.0.1
// matches a connection reported as ::ffff:127.0.0.1.
func unmapped(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func addrPortOf(a net.Addr) netip.AddrPort {
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

func trusted(prefixes []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func isWouldBlock(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// randomPrefix returns 8 random lowercase base-32 characters.
func randomPrefix() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}
