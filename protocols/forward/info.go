// Package forward carries the real client's connection facts to a backend:
// a PROXY protocol header (written, and read from a load balancer), IMAP
// ID parameters (Dovecot's x-originating-* fields) and
// SMTP/POP3/ManageSieve XCLIENT attributes.
package forward

import "net/netip"

// Info describes the client connection as the proxy saw it (after any
// inbound PROXY header from a trusted load balancer).
type Info struct {
	Client    netip.AddrPort // the real client
	Local     netip.AddrPort // the address the client connected to
	SessionID string         // switchyard's session id, for log correlation
	TLS       bool           // the client leg is TLS
	Helo      string         // SMTP HELO/EHLO name, if any
	Proto     string         // SMTP: "SMTP" or "ESMTP"; LMTP: "LMTP"
	TTL       int            // XCLIENT hop count; 0 means unset

	// TLSVersion is the client leg's TLS version in OpenSSL's spelling
	// ("TLSv1.3"; TLSVersionName converts crypto/tls values), empty when
	// unknown. The PROXY v2 SSL TLV needs it (see ProxyV2Header).
	TLSVersion string
}
