package engine

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"

	proxyproto "github.com/pires/go-proxyproto"
)

var (
	v1Prefix = []byte("PROXY ")
	v2Sig    = []byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}
	// errNoProxyHeader: the bytes cannot start a PROXY header.
	errNoProxyHeader = errors.New("no PROXY protocol header")
)

const maxV1Header = 107 // RFC: the longest v1 line, CRLF included

// proxyHeaderLen reports how many bytes the PROXY header at the start of b
// spans: 0 with a nil error when more bytes are needed, errNoProxyHeader
// when b does not start one.
func proxyHeaderLen(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if b[0] == 'P' {
		n := min(len(b), len(v1Prefix))
		if !bytes.Equal(b[:n], v1Prefix[:n]) {
			return 0, errNoProxyHeader
		}
		if i := bytes.Index(b[:min(len(b), maxV1Header)], []byte("\r\n")); i >= 0 {
			return i + 2, nil
		}
		if len(b) >= maxV1Header {
			return 0, errors.New("PROXY v1 header too long")
		}
		return 0, nil
	}
	n := min(len(b), len(v2Sig))
	if !bytes.Equal(b[:n], v2Sig[:n]) {
		return 0, errNoProxyHeader
	}
	if len(b) < 16 {
		return 0, nil
	}
	total := 16 + int(binary.BigEndian.Uint16(b[14:16]))
	if total > 16+2048 { // addresses plus modest TLVs; refuse memory games
		return 0, errors.New("PROXY v2 header too long")
	}
	if len(b) < total {
		return 0, nil
	}
	return total, nil
}

// parseProxyHeader decodes a complete header. A LOCAL command (health
// checks) returns ok=false: the connection's own addresses stand.
func parseProxyHeader(b []byte) (src, dst netip.AddrPort, ok bool, err error) {
	h, err := proxyproto.Read(bufio.NewReaderSize(bytes.NewReader(b), max(len(b), 128)))
	if err != nil {
		return src, dst, false, err
	}
	if h.Command.IsLocal() {
		return src, dst, false, nil
	}
	s, sok := h.SourceAddr.(*net.TCPAddr)
	d, dok := h.DestinationAddr.(*net.TCPAddr)
	if !sok || !dok {
		return src, dst, false, errors.New("PROXY header: not a TCP connection")
	}
	return addrPortOf(s), addrPortOf(d), true, nil
}
