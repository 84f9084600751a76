package forward

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// ErrNoProxyHeader: the bytes cannot start a PROXY header.
var ErrNoProxyHeader = errors.New("no PROXY protocol header")

var (
	v1Prefix         = []byte("PROXY ")
	errProxyV1       = errors.New("PROXY v1 header: malformed")
	errProxyV2       = errors.New("PROXY v2 header: malformed")
	errProxyNotTCP   = errors.New("PROXY header: not a TCP connection")
	errProxyV2Length = errors.New("PROXY v2 header: address block too short for its family")
)

const (
	maxV1Header = 107  // the spec's longest v1 line, CRLF included
	maxV2Body   = 2048 // addresses plus modest TLVs; refuse memory games
)

// ProxyHeaderLen reports how many bytes the PROXY header (v1 or v2) at the
// start of b spans: 0 with a nil error when more bytes are needed,
// ErrNoProxyHeader when b does not start one.
func ProxyHeaderLen(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if b[0] == 'P' {
		n := min(len(b), len(v1Prefix))
		if !bytes.Equal(b[:n], v1Prefix[:n]) {
			return 0, ErrNoProxyHeader
		}
		if i := bytes.Index(b[:min(len(b), maxV1Header)], []byte("\r\n")); i >= 0 {
			return i + 2, nil
		}
		if len(b) >= maxV1Header {
			return 0, errors.New("PROXY v1 header too long")
		}
		return 0, nil
	}
	n := min(len(b), len(proxyV2Sig))
	if !bytes.Equal(b[:n], proxyV2Sig[:n]) {
		return 0, ErrNoProxyHeader
	}
	if len(b) < v2FixedLen {
		return 0, nil
	}
	total := v2FixedLen + int(binary.BigEndian.Uint16(b[14:16]))
	if total > v2FixedLen+maxV2Body {
		return 0, errors.New("PROXY v2 header too long")
	}
	if len(b) < total {
		return 0, nil
	}
	return total, nil
}

// ParseProxyHeader decodes one complete header, as ProxyHeaderLen framed
// it. A LOCAL command (v2) or UNKNOWN protocol (v1) returns ok=false: the
// connection's own addresses stand. Addresses come back unmapped.
func ParseProxyHeader(b []byte) (src, dst netip.AddrPort, ok bool, err error) {
	if bytes.HasPrefix(b, v1Prefix) {
		return parseProxyV1(b)
	}
	if bytes.HasPrefix(b, proxyV2Sig[:]) {
		return parseProxyV2(b)
	}
	return src, dst, false, ErrNoProxyHeader
}

// parseProxyV1 reads "PROXY TCP4|TCP6 src dst sport dport\r\n" or "PROXY
// UNKNOWN ...\r\n", strictly: single spaces, no zones, no leading zeros.
func parseProxyV1(b []byte) (src, dst netip.AddrPort, ok bool, err error) {
	line, found := strings.CutSuffix(string(b), "\r\n")
	if !found || len(b) > maxV1Header || strings.Contains(line, "\n") {
		return src, dst, false, errProxyV1
	}
	f := strings.Split(line, " ")
	if len(f) >= 2 && f[1] == "UNKNOWN" {
		return src, dst, false, nil
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return src, dst, false, errProxyV1
	}
	v4 := f[1] == "TCP4"
	sa, err1 := v1Addr(f[2], v4)
	da, err2 := v1Addr(f[3], v4)
	sp, err3 := v1Port(f[4])
	dp, err4 := v1Port(f[5])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return src, dst, false, err
	}
	return netip.AddrPortFrom(sa.Unmap(), sp), netip.AddrPortFrom(da.Unmap(), dp), true, nil
}

func v1Addr(s string, v4 bool) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4() != v4 {
		return netip.Addr{}, errors.New("PROXY v1 header: bad address " + strconv.Quote(s))
	}
	return a, nil
}

func v1Port(s string) (uint16, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil || (len(s) > 1 && s[0] == '0') {
		return 0, errors.New("PROXY v1 header: bad port " + strconv.Quote(s))
	}
	return uint16(p), nil
}

// parseProxyV2 reads the binary header. Only the families the spec defines are
// accepted; PROXY needs a TCP one, LOCAL any (its addresses are ignored).
// TLVs are skipped.
func parseProxyV2(b []byte) (src, dst netip.AddrPort, ok bool, err error) {
	if len(b) < v2FixedLen || len(b) != v2FixedLen+int(binary.BigEndian.Uint16(b[14:16])) {
		return src, dst, false, errProxyV2
	}
	cmd, fam, body := b[12], b[13], b[v2FixedLen:]
	switch fam {
	case v2Unspec, v2TCP4, v2UDP4, v2TCP6, v2UDP6, v2Stream, v2Dgram:
	default:
		return src, dst, false, errProxyV2
	}
	switch {
	case cmd == v2Local:
		return src, dst, false, nil
	case cmd != v2Proxy:
		return src, dst, false, errProxyV2
	case fam != v2TCP4 && fam != v2TCP6:
		return src, dst, false, errProxyNotTCP
	}
	n := 4
	if fam == v2TCP6 {
		n = 16
	}
	if len(body) < 2*n+4 {
		return src, dst, false, errProxyV2Length
	}
	sa, _ := netip.AddrFromSlice(body[:n])
	da, _ := netip.AddrFromSlice(body[n : 2*n])
	sp := binary.BigEndian.Uint16(body[2*n:])
	dp := binary.BigEndian.Uint16(body[2*n+2:])
	return netip.AddrPortFrom(sa.Unmap(), sp), netip.AddrPortFrom(da.Unmap(), dp), true, nil
}

// ReadProxyHeader reads an optional PROXY header from the start of br
// (test servers and mocks that own a blocking connection): ErrNoProxyHeader,
// with nothing consumed, when the first bytes cannot start one. The caller
// bounds the wait with a read deadline.
func ReadProxyHeader(br *bufio.Reader) (src, dst netip.AddrPort, ok bool, err error) {
	for want := 1; ; want++ {
		b, perr := br.Peek(want)
		n, err := ProxyHeaderLen(b)
		switch {
		case err != nil:
			return src, dst, false, err
		case n > 0:
			src, dst, ok, err = ParseProxyHeader(b[:n])
			_, _ = br.Discard(n)
			return src, dst, ok, err
		case perr == io.EOF && len(b) == 0:
			return src, dst, false, ErrNoProxyHeader
		case perr != nil:
			return src, dst, false, perr
		}
		want = max(want, br.Buffered())
	}
}
