// Package check reads and checks single configuration values that need no
// knowledge of the schema: bind addresses, networks, fingerprints, host
// names, and the PEM and token files a configuration names.
package check

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/switchyard-mail/switchyard/limits"
)

// Bind reads a listener address: an IP literal and a port. Port 0
// asks the kernel for a free port (tests, and anything that reads the
// bound addresses back from --ready-file).
func Bind(s string) (netip.AddrPort, error) {
	host, port, ok := SplitHostPort(s)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("%q is not an \"ip:port\" address (IPv6 as \"[::]:993\")", s)
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: %q is not an IP address (bind to \"0.0.0.0\" or \"[::]\" for all)", s, host)
	}
	// Port 0 lets the kernel choose (tests and ad-hoc runs); the ports
	// chosen are logged at start.
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return netip.AddrPort{}, fmt.Errorf("%q: port %q is not 0-65535", s, port)
	}
	return netip.AddrPortFrom(addr, uint16(n)), nil
}

// SplitHostPort splits "host:port", "[v6]:port" as net.SplitHostPort
// does (same inputs accepted), without importing net: config stays
// free of the network stack.
func SplitHostPort(hostport string) (host, port string, ok bool) {
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 {
		return "", "", false // missing port
	}
	j, k := 0, 0
	if hostport[0] == '[' {
		end := strings.IndexByte(hostport, ']')
		if end < 0 || end+1 != i {
			return "", "", false // missing ']', or text or colons after it
		}
		host, j, k = hostport[1:end], 1, end+1
	} else {
		host = hostport[:i]
		if strings.IndexByte(host, ':') >= 0 {
			return "", "", false // too many colons
		}
	}
	if strings.IndexByte(hostport[j:], '[') >= 0 || strings.IndexByte(hostport[k:], ']') >= 0 {
		return "", "", false
	}
	return host, hostport[i+1:], true
}

// Prefix reads a trusted network: a CIDR ("10.0.0.0/8") or a single
// address ("192.0.2.1", taken as /32 or /128).
func Prefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR network (\"10.0.0.0/8\")", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR network", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Fingerprint reads a SHA-256 certificate fingerprint written as 64
// hex digits, with or without colons.
func Fingerprint(s string) ([sha256.Size]byte, error) {
	var fp [sha256.Size]byte
	h := strings.ReplaceAll(s, ":", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return fp, fmt.Errorf("%q is not a SHA-256 fingerprint (64 hex digits, colons allowed)", s)
	}
	copy(fp[:], b)
	return fp, nil
}

// maxPEMFile bounds the certificate, key and CA files Validate reads.
const maxPEMFile = limits.MaxPEMFile

// KeyPair checks that a certificate and a key file load as a pair.
func KeyPair(certFile, keyFile string) error {
	certPEM, err := ReadSmallFile(certFile)
	if err != nil {
		return fmt.Errorf("%q: %v", certFile, err)
	}
	keyPEM, err := ReadSmallFile(keyFile)
	if err != nil {
		return fmt.Errorf("%q: %v", keyFile, err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return err
	}
	return nil
}

// CAFile checks that path holds at least one PEM certificate.
func CAFile(path string) error {
	b, err := ReadSmallFile(path)
	if err != nil {
		return err
	}
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			return fmt.Errorf("certificate %d: %v", n+1, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no PEM certificate found")
	}
	return nil
}

// ReadableFile checks that path is a regular file that can be opened
// for reading. It never opens anything else (a FIFO would block).
func ReadableFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return UnwrapPathError(err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("is not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return UnwrapPathError(err)
	}
	return f.Close()
}

// ReadSmallFile reads a readable regular file of at most maxPEMFile bytes.
func ReadSmallFile(path string) ([]byte, error) {
	if err := ReadableFile(path); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, UnwrapPathError(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPEMFile {
		return nil, fmt.Errorf("larger than %d bytes", maxPEMFile)
	}
	return b, nil
}

// UnwrapPathError drops the "open <path>:" prefix; callers quote the path.
func UnwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

var hostLabel = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$`)

// Hostname reports a well-formed DNS name (labels of letters, digits,
// "_" and "-"; a final dot allowed).
func Hostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !hostLabel.MatchString(l) {
			return false
		}
	}
	return true
}

// Subject reports a certificate subject: a Hostname or "*." and one.
func Subject(s string) bool {
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		return Hostname(rest)
	}
	return Hostname(s)
}

// HostPattern is one entry of admin.allow.destination_hosts: a host name
// (any case), "*.example.com" (every name below example.com, not
// example.com itself), an IP address or a CIDR network. It matches a
// destination's host as written in the configuration: a name is never
// resolved to match an address pattern.
type HostPattern struct {
	name   string // lowercased; a suffix ".example.com" when wild
	wild   bool
	prefix netip.Prefix // valid for an address or a network
}

// ParseHostPattern reads one destination_hosts entry.
func ParseHostPattern(s string) (HostPattern, error) {
	if p, err := Prefix(s); err == nil {
		return HostPattern{prefix: p}, nil
	}
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		if !Hostname(rest) || strings.Contains(rest, "*") {
			return HostPattern{}, fmt.Errorf("%q is not a host name, *.domain, IP address or CIDR network", s)
		}
		return HostPattern{name: "." + strings.ToLower(rest), wild: true}, nil
	}
	if !Hostname(s) {
		return HostPattern{}, fmt.Errorf("%q is not a host name, *.domain, IP address or CIDR network", s)
	}
	return HostPattern{name: strings.ToLower(s)}, nil
}

// Match reports whether host (a destination's host) fits the pattern.
func (p HostPattern) Match(host string) bool {
	if p.prefix.IsValid() {
		a, err := netip.ParseAddr(strings.Trim(host, "[]"))
		return err == nil && p.prefix.Contains(a.Unmap())
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if p.wild {
		return strings.HasSuffix(host, p.name) && len(host) > len(p.name)
	}
	return host == p.name
}
