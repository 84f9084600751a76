package forward

import (
	"crypto/tls"
	"encoding/binary"
	"net/netip"
)

// The PROXY protocol v2 wire constants (haproxy's proxy-protocol.txt,
// section 2.2) that switchyard writes and reads.
const (
	v2FixedLen = 16 // signature, version and command, family, length

	v2Local = 0x20 // version 2, LOCAL
	v2Proxy = 0x21 // version 2, PROXY

	v2Unspec = 0x00
	v2TCP4   = 0x11
	v2UDP4   = 0x12
	v2TCP6   = 0x21
	v2UDP6   = 0x22
	v2Stream = 0x31 // AF_UNIX
	v2Dgram  = 0x32

	pp2TypeSSL           = 0x20
	pp2TypeUniqueID      = 0x05
	pp2SubtypeSSLVersion = 0x21
	pp2ClientSSL         = 0x01

	// maxUniqueIDLen is the PROXY v2 limit on PP2_TYPE_UNIQUE_ID (spec 2.2.5).
	maxUniqueIDLen = 128
)

// proxyV2Sig starts every PROXY v2 header.
var proxyV2Sig = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// ProxyV2Header returns the binary PROXY protocol v2 header to write first on
// a backend connection.
//
// Addresses: v4-mapped IPv6 addresses are unmapped and zones dropped. When
// both ends are IPv4 the header is TCP over IPv4; otherwise (both IPv6, or
// one of each, as with a dual-stack listener) it is TCP over IPv6 and an IPv4
// end is written as ::ffff:a.b.c.d, since the header has one family for both
// addresses and an IPv6 address can carry an IPv4 one but not the reverse.
//
// When either address is unknown (the zero netip.AddrPort) the header uses
// the LOCAL command with no address and no TLVs: the backend then keeps the
// connection's own endpoints, which is better than inventing an address.
//
// With the PROXY command the header carries PP2_TYPE_UNIQUE_ID = SessionID
// (when 1..128 octets, for log correlation) and, when the client leg is TLS
// and info.TLSVersion is known, a PP2_TYPE_SSL TLV with the client-SSL bit
// and the PP2_SUBTYPE_SSL_VERSION sub-TLV (the spec requires the version
// whenever that bit is set, and strict readers reject the TLV without it, so
// with no version the TLV is left out). No client certificate is claimed
// and verify is non-zero, so a backend never takes the client for
// certificate-authenticated.
func ProxyV2Header(info Info) ([]byte, error) {
	if !info.Client.Addr().IsValid() || !info.Local.Addr().IsValid() {
		return ProxyV2Local(), nil
	}
	src := canonAddr(info.Client.Addr())
	dst := canonAddr(info.Local.Addr())
	b := append(make([]byte, 0, 128), proxyV2Sig[:]...)
	if src.Is4() && dst.Is4() {
		b = append(b, v2Proxy, v2TCP4, 0, 0)
	} else {
		b = append(b, v2Proxy, v2TCP6, 0, 0)
		// As16 maps an IPv4 end into ::ffff:0:0/96.
		src = netip.AddrFrom16(src.As16())
		dst = netip.AddrFrom16(dst.As16())
	}
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, info.Client.Port())
	b = binary.BigEndian.AppendUint16(b, info.Local.Port())

	if n := len(info.SessionID); n > 0 && n <= maxUniqueIDLen {
		b = appendTLV(b, pp2TypeUniqueID, []byte(info.SessionID))
	}
	if info.TLS && info.TLSVersion != "" && len(info.TLSVersion) <= maxTLSVersionLen && printableASCII(info.TLSVersion) {
		// PP2_TYPE_SSL: client bits, verify (non-zero: no verified client
		// certificate), then the version sub-TLV.
		ssl := []byte{pp2ClientSSL, 0, 0, 0, 1}
		ssl = appendTLV(ssl, pp2SubtypeSSLVersion, []byte(info.TLSVersion))
		b = appendTLV(b, pp2TypeSSL, ssl)
	}
	binary.BigEndian.PutUint16(b[14:16], uint16(len(b)-v2FixedLen))
	return b, nil
}

// ProxyV2Local returns a PROXY v2 header with the LOCAL command and no
// address block: what a health check or any connection of the proxy's own
// sends to a backend that requires a header.
func ProxyV2Local() []byte {
	return append(proxyV2Sig[:len(proxyV2Sig):len(proxyV2Sig)], v2Local, v2Unspec, 0, 0)
}

// appendTLV appends a PROXY v2 type-length-value; v is at most a few
// hundred octets here.
func appendTLV(b []byte, typ byte, v []byte) []byte {
	b = append(b, typ)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

// maxTLSVersionLen bounds Info.TLSVersion; real names are 7 octets.
const maxTLSVersionLen = 32

// TLSVersionName returns the OpenSSL-style name HAProxy writes into
// PP2_SUBTYPE_SSL_VERSION for a crypto/tls version number (tls.VersionTLS13
// and so on), or "" for an unknown value.
func TLSVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return ""
}

// canonAddr unmaps v4-mapped IPv6 addresses and drops any zone, so that the
// same client always shows the same address to backends.
func canonAddr(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}
