package forward

import (
	"crypto/tls"
	"net"
	"net/netip"

	"github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

// maxUniqueIDLen is the PROXY v2 limit on PP2_TYPE_UNIQUE_ID (spec 2.2.5).
const maxUniqueIDLen = 128

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
	h := &proxyproto.Header{
		Version:           2,
		Command:           proxyproto.LOCAL,
		TransportProtocol: proxyproto.UNSPEC,
	}
	if !info.Client.Addr().IsValid() || !info.Local.Addr().IsValid() {
		return h.Format()
	}
	src := canonAddr(info.Client.Addr())
	dst := canonAddr(info.Local.Addr())
	h.Command = proxyproto.PROXY
	if src.Is4() && dst.Is4() {
		h.TransportProtocol = proxyproto.TCPv4
	} else {
		h.TransportProtocol = proxyproto.TCPv6
		// As16 maps an IPv4 end into ::ffff:0:0/96.
		src = netip.AddrFrom16(src.As16())
		dst = netip.AddrFrom16(dst.As16())
	}
	h.SourceAddr = &net.TCPAddr{IP: net.IP(src.AsSlice()), Port: int(info.Client.Port())}
	h.DestinationAddr = &net.TCPAddr{IP: net.IP(dst.AsSlice()), Port: int(info.Local.Port())}

	var tlvs []proxyproto.TLV
	if n := len(info.SessionID); n > 0 && n <= maxUniqueIDLen {
		tlvs = append(tlvs, proxyproto.TLV{Type: proxyproto.PP2_TYPE_UNIQUE_ID, Value: []byte(info.SessionID)})
	}
	if info.TLS && info.TLSVersion != "" && len(info.TLSVersion) <= maxTLSVersionLen && printableASCII(info.TLSVersion) {
		ssl, err := tlvparse.PP2SSL{
			Client: tlvparse.PP2_BITFIELD_CLIENT_SSL,
			Verify: 1,
			TLV:    []proxyproto.TLV{{Type: proxyproto.PP2_SUBTYPE_SSL_VERSION, Value: []byte(info.TLSVersion)}},
		}.Marshal()
		if err != nil {
			return nil, err
		}
		tlvs = append(tlvs, ssl)
	}
	if len(tlvs) > 0 {
		if err := h.SetTLVs(tlvs); err != nil {
			return nil, err
		}
	}
	return h.Format()
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
