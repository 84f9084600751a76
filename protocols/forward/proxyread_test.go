package forward

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

// libraryHeader is ProxyV2Header as go-proxyproto writes it: the
// independent check that the wire bytes are the library's, octet for octet.
func libraryHeader(t *testing.T, info Info) []byte {
	t.Helper()
	h := &proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}
	if info.Client.Addr().IsValid() && info.Local.Addr().IsValid() {
		src, dst := canonAddr(info.Client.Addr()), canonAddr(info.Local.Addr())
		h.Command, h.TransportProtocol = proxyproto.PROXY, proxyproto.TCPv4
		if !src.Is4() || !dst.Is4() {
			h.TransportProtocol = proxyproto.TCPv6
			src, dst = netip.AddrFrom16(src.As16()), netip.AddrFrom16(dst.As16())
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
				t.Fatal(err)
			}
			tlvs = append(tlvs, ssl)
		}
		if err := h.SetTLVs(tlvs); err != nil {
			t.Fatal(err)
		}
	}
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProxyV2HeaderBytesAsLibrary(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, info := range []Info{
		{},
		{Client: ap("203.0.113.5:40000")},
		{Client: ap("203.0.113.5:40000"), Local: ap("192.0.2.10:993")},
		{Client: ap("[::ffff:203.0.113.5]:1"), Local: ap("[2001:db8::10]:993"), SessionID: "s1"},
		{Client: ap("[fe80::1%eth0]:2"), Local: ap("[fe80::2]:3"), TLS: true, TLSVersion: TLSVersionName(tls.VersionTLS12)},
		{Client: ap("203.0.113.5:0"), Local: ap("192.0.2.10:65535"), TLS: true, TLSVersion: "TLSv1.3", SessionID: strings.Repeat("x", 128)},
		{Client: ap("203.0.113.5:7"), Local: ap("192.0.2.10:8"), TLS: true, TLSVersion: "bad\x00", SessionID: strings.Repeat("x", 129)},
	} {
		got, err := ProxyV2Header(info)
		if err != nil {
			t.Fatal(err)
		}
		if want := libraryHeader(t, info); !bytes.Equal(got, want) {
			t.Fatalf("%+v:\n got % x\nwant % x", info, got, want)
		}
	}
	if want := libraryHeader(t, Info{}); !bytes.Equal(ProxyV2Local(), want) {
		t.Fatalf("LOCAL header % x", ProxyV2Local())
	}
}

func TestParseProxyHeader(t *testing.T) {
	v2, _ := ProxyV2Header(Info{
		Client: netip.MustParseAddrPort("[2001:db8::7]:5555"), Local: netip.MustParseAddrPort("203.0.113.1:143"),
		SessionID: "id", TLS: true, TLSVersion: "TLSv1.3",
	})
	for _, tc := range []struct {
		in       string
		src, dst string // "" with ok=false
		bad      bool
	}{
		{in: "PROXY TCP4 203.0.113.9 192.0.2.1 40000 993\r\n", src: "203.0.113.9:40000", dst: "192.0.2.1:993"},
		{in: "PROXY TCP6 2001:db8::7 ::ffff:192.0.2.1 1 2\r\n", src: "[2001:db8::7]:1", dst: "192.0.2.1:2"},
		{in: "PROXY UNKNOWN\r\n"},
		{in: "PROXY UNKNOWN whatever follows\r\n"},
		{in: string(v2), src: "[2001:db8::7]:5555", dst: "203.0.113.1:143"},
		{in: string(ProxyV2Local())},
		{in: "PROXY TCP4 203.0.113.9 192.0.2.1 040000 993\r\n", bad: true},
		{in: "PROXY TCP4 2001:db8::7 192.0.2.1 1 2\r\n", bad: true},
		{in: "PROXY TCP6 203.0.113.9 2001:db8::1 1 2\r\n", bad: true},
		{in: "PROXY TCP6 fe80::1%eth0 2001:db8::1 1 2\r\n", bad: true},
		{in: "PROXY TCP4  203.0.113.9 192.0.2.1 1 2\r\n", bad: true},
		{in: "PROXY TCP4 203.0.113.9 192.0.2.1 1 2 3\r\n", bad: true},
		{in: "PROXY UDP4 203.0.113.9 192.0.2.1 1 2\r\n", bad: true},
		{in: "PROXY TCP4 203.0.113.9 192.0.2.1 1 65536\r\n", bad: true},
		{in: string(append(proxyV2Sig[:], 0x21, 0x12, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2)), bad: true}, // UDP
		{in: string(append(proxyV2Sig[:], 0x21, 0x00, 0, 0)), bad: true},                                      // PROXY UNSPEC
		{in: string(append(proxyV2Sig[:], 0x22, 0x11, 0, 0)), bad: true},                                      // command 2
		{in: string(append(proxyV2Sig[:], 0x21, 0x13, 0, 0)), bad: true},                                      // undefined family
		{in: string(append(proxyV2Sig[:], 0x21, 0x11, 0, 4, 1, 2, 3, 4)), bad: true},                          // short block
		{in: string(append(proxyV2Sig[:], 0x20, 0x11, 0, 4, 1, 2, 3, 4))},                                     // LOCAL skips it
	} {
		src, dst, ok, err := ParseProxyHeader([]byte(tc.in))
		switch {
		case tc.bad:
			if err == nil {
				t.Errorf("%q: accepted (%v %v %v)", tc.in, src, dst, ok)
			}
		case err != nil || ok != (tc.src != ""):
			t.Errorf("%q: ok %v err %v", tc.in, ok, err)
		case ok && (src.String() != tc.src || dst.String() != tc.dst):
			t.Errorf("%q: %v -> %v", tc.in, src, dst)
		}
		lib, libErr := proxyproto.Read(bufio.NewReader(strings.NewReader(tc.in)))
		if (libErr != nil) != tc.bad && !(libErr == nil && lib.TransportProtocol.IsDatagram()) {
			t.Errorf("%q: the library disagrees: %v", tc.in, libErr)
		}
	}
}

func TestReadProxyHeader(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("PROXY TCP4 203.0.113.9 192.0.2.1 40000 993\r\na1 NOOP\r\n"))
	src, _, ok, err := ReadProxyHeader(br)
	if err != nil || !ok || src.String() != "203.0.113.9:40000" {
		t.Fatalf("%v %v %v", src, ok, err)
	}
	if rest, _ := br.ReadString('\n'); rest != "a1 NOOP\r\n" {
		t.Fatalf("left %q", rest)
	}
	br = bufio.NewReader(strings.NewReader("a1 NOOP\r\n"))
	if _, _, _, err := ReadProxyHeader(br); !errors.Is(err, ErrNoProxyHeader) || br.Buffered() != len("a1 NOOP\r\n") {
		t.Fatalf("not a header: %v, %d buffered", err, br.Buffered())
	}
	if _, _, _, err := ReadProxyHeader(bufio.NewReader(strings.NewReader(""))); !errors.Is(err, ErrNoProxyHeader) {
		t.Fatalf("empty: %v", err)
	}
	if _, _, _, err := ReadProxyHeader(bufio.NewReader(strings.NewReader("PROXY TCP4 1.2"))); err == nil {
		t.Fatal("a cut header must fail")
	}
}

// FuzzParseProxyHeader checks the parser against go-proxyproto: whatever
// either takes for a PROXY command over TCP, both take, with the same
// addresses.
func FuzzParseProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.9 192.0.2.1 40000 993\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add([]byte("PROXY TCP6 ::1 ::1 1 2\r\n"))
	f.Add(append(proxyV2Sig[:], 0x21, 0x11, 0x00, 0x0C, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2))
	f.Add(ProxyV2Local())
	f.Add([]byte("a1 CAPABILITY\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ProxyHeaderLen(b)
		if n < 0 || n > len(b) {
			t.Fatalf("length %d outside input of %d", n, len(b))
		}
		if err != nil || n == 0 {
			return
		}
		src, dst, ok, err := ParseProxyHeader(b[:n])
		lib, libErr := proxyproto.Read(bufio.NewReader(bytes.NewReader(b[:n])))
		libOK := false
		var ls, ld *net.TCPAddr
		if libErr == nil && !lib.Command.IsLocal() {
			ls, ld, libOK = lib.TCPAddrs()
		}
		if (err == nil && ok) != libOK {
			t.Fatalf("%q: ours ok=%v err=%v, library %v %v", b[:n], ok, err, lib, libErr)
		}
		if libOK && (src != unmap(ls.AddrPort()) || dst != unmap(ld.AddrPort())) {
			t.Fatalf("%q: %v %v, library %v %v", b[:n], src, dst, ls, ld)
		}
	})
}

func unmap(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }

// TestProxyHeaderLen: a header's length is known only once it is whole
// (every prefix asks for more), and what is not a header says so at once.
func TestProxyHeaderLen(t *testing.T) {
	v1 := []byte("PROXY TCP4 203.0.113.9 192.0.2.1 40000 993\r\na1 NOOP\r\n")
	n, err := ProxyHeaderLen(v1)
	if err != nil || n != len("PROXY TCP4 203.0.113.9 192.0.2.1 40000 993\r\n") {
		t.Fatalf("v1 length %d %v", n, err)
	}
	src, dst, ok, err := ParseProxyHeader(v1[:n])
	if err != nil || !ok || src.String() != "203.0.113.9:40000" || dst.String() != "192.0.2.1:993" {
		t.Fatalf("v1 parse: %v %v %v %v", src, dst, ok, err)
	}
	// Every prefix of a header asks for more bytes.
	for i := 0; i < n; i++ {
		if m, err := ProxyHeaderLen(v1[:i]); m != 0 || err != nil {
			t.Fatalf("prefix %d: %d %v", i, m, err)
		}
	}
	h := proxyproto.HeaderProxyFromAddrs(2, tcpAddr("[2001:db8::7]:5555"), tcpAddr("[2001:db8::1]:143"))
	v2, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(v2); i++ {
		if m, err := ProxyHeaderLen(v2[:i]); m != 0 || err != nil {
			t.Fatalf("v2 prefix %d: %d %v", i, m, err)
		}
	}
	if n, err := ProxyHeaderLen(append(v2, "x"...)); n != len(v2) || err != nil {
		t.Fatalf("v2 length %d %v", n, err)
	}
	src, _, ok, err = ParseProxyHeader(v2)
	if err != nil || !ok || src.String() != "[2001:db8::7]:5555" {
		t.Fatalf("v2 parse: %v %v %v", src, ok, err)
	}
	if _, err := ProxyHeaderLen([]byte("a1 LOGIN x y\r\n")); !errors.Is(err, ErrNoProxyHeader) {
		t.Fatalf("an IMAP command is not a header: %v", err)
	}
	if _, err := ProxyHeaderLen(bytes.Repeat([]byte("PROXY "), 30)); err == nil {
		t.Fatal("an endless v1 line must be refused")
	}
}

func tcpAddr(s string) *net.TCPAddr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		panic(err)
	}
	return a
}
