package forward

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"net"
	"net/netip"
	"testing"

	"github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

func parseV2(t *testing.T, b []byte) *proxyproto.Header {
	t.Helper()
	if !bytes.HasPrefix(b, proxyproto.SIGV2) {
		t.Fatalf("no v2 signature: % x", b)
	}
	h, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("library cannot read our header: %v", err)
	}
	return h
}

func TestProxyV2Families(t *testing.T) {
	cases := []struct {
		name             string
		client, local    string
		transport        proxyproto.AddressFamilyAndProtocol
		wantSrc, wantDst string
		size             int
	}{
		{"ipv4", "203.0.113.5:40000", "192.0.2.10:993", proxyproto.TCPv4, "203.0.113.5", "192.0.2.10", 16 + 12},
		{"ipv6", "[2001:db8::5]:40000", "[2001:db8::10]:993", proxyproto.TCPv6, "2001:db8::5", "2001:db8::10", 16 + 36},
		{"v4-mapped both unmapped to ipv4", "[::ffff:203.0.113.5]:40000", "[::ffff:192.0.2.10]:993", proxyproto.TCPv4, "203.0.113.5", "192.0.2.10", 16 + 12},
		{"mixed: v4 client, v6 local", "203.0.113.5:40000", "[2001:db8::10]:993", proxyproto.TCPv6, "::ffff:203.0.113.5", "2001:db8::10", 16 + 36},
		{"mixed: v6 client, v4 local", "[2001:db8::5]:40000", "192.0.2.10:993", proxyproto.TCPv6, "2001:db8::5", "::ffff:192.0.2.10", 16 + 36},
		{"zone dropped", "[fe80::1%eth0]:40000", "[fe80::2%eth0]:993", proxyproto.TCPv6, "fe80::1", "fe80::2", 16 + 36},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			info := Info{Client: netip.MustParseAddrPort(tc.client), Local: netip.MustParseAddrPort(tc.local)}
			b, err := ProxyV2Header(info)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != tc.size {
				t.Fatalf("header is %d bytes, want %d", len(b), tc.size)
			}
			h := parseV2(t, b)
			if h.Command != proxyproto.PROXY || h.TransportProtocol != tc.transport {
				t.Fatalf("command %v transport %v", h.Command, h.TransportProtocol)
			}
			src, dst, ok := h.TCPAddrs()
			if !ok {
				t.Fatal("not TCP addresses")
			}
			wantSrc := net.ParseIP(tc.wantSrc)
			wantDst := net.ParseIP(tc.wantDst)
			if !src.IP.Equal(wantSrc) || !dst.IP.Equal(wantDst) {
				t.Fatalf("addresses %v -> %v", src, dst)
			}
			if src.Port != 40000 || dst.Port != 993 {
				t.Fatalf("ports %d -> %d", src.Port, dst.Port)
			}
			// A v6 header must carry the mapped form, not a 4-byte address.
			if tc.transport == proxyproto.TCPv6 && tc.wantSrc[0] == ':' && !bytes.Equal(b[16:28], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}) {
				t.Fatalf("source not v4-mapped: % x", b[16:32])
			}
			tlvs, err := h.TLVs()
			if err != nil || len(tlvs) != 0 {
				t.Fatalf("unexpected TLVs %v %v", tlvs, err)
			}
		})
	}
}

func TestProxyV2LocalWhenUnknown(t *testing.T) {
	for _, info := range []Info{
		{},
		{Client: netip.MustParseAddrPort("203.0.113.5:1")},
		{Local: netip.MustParseAddrPort("203.0.113.5:1"), TLS: true, SessionID: "s1"},
	} {
		b, err := ProxyV2Header(info)
		if err != nil {
			t.Fatal(err)
		}
		h := parseV2(t, b)
		if h.Command != proxyproto.LOCAL || h.TransportProtocol != proxyproto.UNSPEC || len(b) != 16 {
			t.Fatalf("%+v: command %v transport %v len %d", info, h.Command, h.TransportProtocol, len(b))
		}
	}
}

func TestProxyV2TLVs(t *testing.T) {
	info := tlsInfo(993, "Sy1a2b3c")
	info.TLSVersion = TLSVersionName(tls.VersionTLS13)
	b, err := ProxyV2Header(info)
	if err != nil {
		t.Fatal(err)
	}
	tlvs, err := parseV2(t, b).TLVs()
	if err != nil {
		t.Fatal(err)
	}
	var gotID string
	for _, tlv := range tlvs {
		if tlv.Type == proxyproto.PP2_TYPE_UNIQUE_ID {
			gotID = string(tlv.Value)
		}
	}
	if gotID != "Sy1a2b3c" {
		t.Fatalf("unique id %q", gotID)
	}
	ssl, ok := tlvparse.FindSSL(tlvs)
	if !ok {
		t.Fatal("no SSL TLV")
	}
	if !ssl.ClientSSL() || ssl.ClientCertConn() || ssl.ClientCertSess() || ssl.Verified() {
		t.Fatalf("SSL TLV claims too much or too little: %+v", ssl)
	}
	if v, ok := ssl.SSLVersion(); !ok || v != "TLSv1.3" {
		t.Fatalf("SSL version %q, %v", v, ok)
	}

	// TLS with an unknown version: no SSL TLV rather than a malformed one.
	info.TLSVersion = ""
	b, err = ProxyV2Header(info)
	if err != nil {
		t.Fatal(err)
	}
	tlvs, err = parseV2(t, b).TLVs()
	if err != nil {
		t.Fatal(err)
	}
	for _, tlv := range tlvs {
		if tlv.Type == proxyproto.PP2_TYPE_SSL {
			t.Fatal("SSL TLV without a version")
		}
	}

	// Plaintext client: no SSL TLV. Over-long session id: no unique id.
	info.TLS = false
	info.TLSVersion = "TLSv1.3"
	info.SessionID = string(bytes.Repeat([]byte{'a'}, maxUniqueIDLen+1))
	b, err = ProxyV2Header(info)
	if err != nil {
		t.Fatal(err)
	}
	tlvs, err = parseV2(t, b).TLVs()
	if err != nil || len(tlvs) != 0 {
		t.Fatalf("TLVs %v, %v", tlvs, err)
	}
}

func TestTLSVersionName(t *testing.T) {
	for v, want := range map[uint16]string{
		tls.VersionTLS10: "TLSv1", tls.VersionTLS11: "TLSv1.1",
		tls.VersionTLS12: "TLSv1.2", tls.VersionTLS13: "TLSv1.3", 0x0300: "",
	} {
		if got := TLSVersionName(v); got != want {
			t.Errorf("TLSVersionName(%#x) = %q, want %q", v, got, want)
		}
	}
}
