package codec

import (
	"net/netip"
	"strconv"
)

// AppendForwardedElement appends one forwarded-element (RFC 7239 4):
// for=...;proto=...;host=..., quoting what is not a token: an IPv6
// address goes in brackets and quotes (for="[2001:db8::1]:4711"), and so
// does anything with a port.
func AppendForwardedElement(dst []byte, client netip.AddrPort, proto, host string) []byte {
	dst = append(dst, "for="...)
	a := client.Addr()
	switch {
	case !a.IsValid():
		dst = append(dst, "unknown"...)
	default:
		a = a.Unmap().WithZone("")
		quote := a.Is6() || client.Port() != 0
		if quote {
			dst = append(dst, '"')
		}
		if a.Is6() {
			dst = append(dst, '[')
			dst = a.AppendTo(dst)
			dst = append(dst, ']')
		} else {
			dst = a.AppendTo(dst)
		}
		if client.Port() != 0 {
			dst = append(dst, ':')
			dst = strconv.AppendUint(dst, uint64(client.Port()), 10)
		}
		if quote {
			dst = append(dst, '"')
		}
	}
	dst = append(dst, ";proto="...)
	dst = append(dst, proto...)
	if host != "" {
		dst = append(dst, ";host="...)
		dst = appendTokenOrQuoted(dst, host)
	}
	return dst
}

// appendTokenOrQuoted writes s as a token if it is one, else as a
// quoted-string (RFC 9110 5.6.4).
func appendTokenOrQuoted(dst []byte, s string) []byte {
	if IsToken(s) {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

// ForwardedElement is the forwarded-element (RFC 7239 4) the relay
// writes about a client: for=<client>;proto=<proto>[;host=<host>], quoted
// where needed, for servers outside the relay (HTTP/2) that forward to
// the same backends.
func ForwardedElement(client netip.AddrPort, proto, host string) string {
	return string(AppendForwardedElement(nil, client, proto, host))
}
