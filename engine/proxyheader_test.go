package engine

import (
	"bytes"
	"net"
	"testing"

	proxyproto "github.com/pires/go-proxyproto"
)

func TestProxyHeaderV1AndV2(t *testing.T) {
	v1 := []byte("PROXY TCP4 203.0.113.9 192.0.2.1 40000 993\r\na1 NOOP\r\n")
	n, err := proxyHeaderLen(v1)
	if err != nil || n != len("PROXY TCP4 203.0.113.9 192.0.2.1 40000 993\r\n") {
		t.Fatalf("v1 length %d %v", n, err)
	}
	src, dst, ok, err := parseProxyHeader(v1[:n])
	if err != nil || !ok || src.String() != "203.0.113.9:40000" || dst.String() != "192.0.2.1:993" {
		t.Fatalf("v1 parse: %v %v %v %v", src, dst, ok, err)
	}
	// Every prefix of a header asks for more bytes.
	for i := 0; i < n; i++ {
		if m, err := proxyHeaderLen(v1[:i]); m != 0 || err != nil {
			t.Fatalf("prefix %d: %d %v", i, m, err)
		}
	}
	h := proxyproto.HeaderProxyFromAddrs(2, mustTCP("[2001:db8::7]:5555"), mustTCP("[2001:db8::1]:143"))
	v2, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(v2); i++ {
		if m, err := proxyHeaderLen(v2[:i]); m != 0 || err != nil {
			t.Fatalf("v2 prefix %d: %d %v", i, m, err)
		}
	}
	if n, err := proxyHeaderLen(append(v2, "x"...)); n != len(v2) || err != nil {
		t.Fatalf("v2 length %d %v", n, err)
	}
	src, _, ok, err = parseProxyHeader(v2)
	if err != nil || !ok || src.String() != "[2001:db8::7]:5555" {
		t.Fatalf("v2 parse: %v %v %v", src, ok, err)
	}
	if _, err := proxyHeaderLen([]byte("a1 LOGIN x y\r\n")); err != errNoProxyHeader {
		t.Fatalf("an IMAP command is not a header: %v", err)
	}
	if _, err := proxyHeaderLen(bytes.Repeat([]byte("PROXY "), 30)); err == nil {
		t.Fatal("an endless v1 line must be refused")
	}
}

// FuzzProxyHeader: no input panics, lengths stay within the input, and a
// header the length function accepts either parses or fails cleanly.
func FuzzProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.9 192.0.2.1 40000 993\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add([]byte("PROXY TCP6 ::1 ::1 1 2\r\n"))
	f.Add([]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0x00, 0x0C, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2})
	f.Add([]byte("a1 CAPABILITY\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := proxyHeaderLen(b)
		if n < 0 || n > len(b) {
			t.Fatalf("length %d outside input of %d", n, len(b))
		}
		if err == nil && n > 0 {
			_, _, _, _ = parseProxyHeader(b[:n])
		}
	})
}

func mustTCP(s string) *net.TCPAddr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		panic(err)
	}
	return a
}
