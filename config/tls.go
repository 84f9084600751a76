package config

import (
	"crypto/tls"
	"fmt"
	"os"
	"strings"
)

// [tls.protocols] as Go's crypto/tls can honour it. Every server TLS
// configuration built from [tls] (the listeners' implicit TLS and
// STARTTLS, HTTP/2 by ALPN, the admin API) takes its versions and suites
// from here, so that one file means one policy.
//
// What crypto/tls cannot do, Validate refuses with the reason:
//   - TLS 1.3 suites cannot be turned off: Config.CipherSuites applies to
//     TLS 1.0-1.2 only, and all three TLS 1.3 suites (AES-128-GCM,
//     AES-256-GCM, ChaCha20-Poly1305) are always offered.
//   - The client's cipher order is never followed (since Go 1.17 the
//     server picks by its own preference order; PreferServerCipherSuites
//     is ignored since Go 1.18), so ignore_client_order = false cannot be
//     honoured; true describes what happens anyway.

// TLS versions as configured ("1.2", "1.3").
const (
	TLS12 = "1.2"
	TLS13 = "1.3"
)

// tlsVersion maps a configured version to crypto/tls's constant, 0 if it
// is not one switchyard serves.
func tlsVersion(v string) uint16 {
	switch v {
	case TLS12:
		return tls.VersionTLS12
	case TLS13:
		return tls.VersionTLS13
	}
	return 0
}

// Versions returns the lowest and highest TLS versions a server accepts
// (tls.Config MinVersion and MaxVersion). Unset or invalid values (which
// Validate refuses) give the defaults: TLS 1.2 to TLS 1.3.
func (p TLSProtocols) Versions() (lo, hi uint16) {
	lo, hi = tlsVersion(p.MinVersion), tlsVersion(p.MaxVersion)
	if lo == 0 {
		lo = tls.VersionTLS12
	}
	if hi == 0 {
		hi = tls.VersionTLS13
	}
	return lo, hi
}

// CipherSuites returns the TLS 1.2 suites a server offers
// (tls.Config.CipherSuites): nil, Go's defaults, when nothing is
// disabled; else Go's defaults without the disabled ones. Names that
// Validate refuses are ignored here.
func (p TLSProtocols) CipherSuites() []uint16 {
	if len(p.DisableCipherSuites) == 0 {
		return nil
	}
	off := make(map[uint16]bool, len(p.DisableCipherSuites))
	for _, name := range p.DisableCipherSuites {
		if s := lookupCipherSuite(name); s != nil {
			off[s.ID] = true
		}
	}
	ids := []uint16{}
	for _, s := range DefaultTLS12CipherSuites() {
		if !off[s.ID] {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// DefaultTLS12CipherSuites are the suites a Go server offers for TLS 1.2
// when tls.Config.CipherSuites is nil: the ones crypto/tls does not call
// insecure (ECDHE key exchange with AES-GCM, ChaCha20-Poly1305 or
// AES-CBC-SHA). A test checks this against a real handshake, so a Go
// release that changes its defaults is noticed.
func DefaultTLS12CipherSuites() []*tls.CipherSuite {
	var out []*tls.CipherSuite
	for _, s := range tls.CipherSuites() {
		if !tls13Only(s) {
			out = append(out, s)
		}
	}
	return out
}

func tls13Only(s *tls.CipherSuite) bool {
	return len(s.SupportedVersions) == 1 && s.SupportedVersions[0] == tls.VersionTLS13
}

// lookupCipherSuite finds a suite by name, in any case: Go's names
// ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", and the older
// "..._CHACHA20_POLY1305" without "_SHA256") and rustls' names, which the
// reference proxy takes ("TLS13_AES_128_GCM_SHA256" for TLS 1.3 suites).
func lookupCipherSuite(name string) *tls.CipherSuite {
	n := strings.ToUpper(strings.TrimSpace(name))
	if rest, ok := strings.CutPrefix(n, "TLS13_"); ok {
		n = "TLS_" + rest
	}
	if strings.HasSuffix(n, "_CHACHA20_POLY1305") {
		n += "_SHA256"
	}
	for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
		for _, s := range list {
			if s.Name == n {
				return s
			}
		}
	}
	return nil
}

// tlsProtocols checks [tls.protocols].
func (v *validator) tlsProtocols() {
	p := &v.c.TLS.Protocols
	lo, hi := tlsVersion(p.MinVersion), tlsVersion(p.MaxVersion)
	if lo == 0 {
		v.add("tls.protocols.min_version", "%q is not \"1.2\" or \"1.3\"", p.MinVersion)
	}
	if hi == 0 {
		v.add("tls.protocols.max_version", "%q is not \"1.2\" or \"1.3\"", p.MaxVersion)
	}
	if lo != 0 && hi != 0 && lo > hi {
		v.add("tls.protocols.max_version", "%q is below min_version %q: no TLS version would be left", p.MaxVersion, p.MinVersion)
	}
	if p.IgnoreClientOrder != nil && !*p.IgnoreClientOrder {
		v.add("tls.protocols.ignore_client_order", "false asks for the client's cipher suite order, which Go's crypto/tls never follows "+
			"(the server picks by its own order, strongest first; PreferServerCipherSuites is ignored since Go 1.18): "+
			"remove the key, or set true, which is what happens")
	}
	left := len(DefaultTLS12CipherSuites())
	seen := map[uint16]bool{}
	for i, name := range p.DisableCipherSuites {
		key := fmt.Sprintf("tls.protocols.disable_cipher_suites[%d]", i)
		s := lookupCipherSuite(name)
		switch {
		case s == nil:
			v.add(key, "%q is not a known cipher suite", name)
		case tls13Only(s):
			v.add(key, "%q is a TLS 1.3 suite: Go's crypto/tls always offers the three TLS 1.3 suites and cannot turn one off; remove it", name)
		case !seen[s.ID]:
			seen[s.ID] = true
			if isDefaultTLS12(s.ID) {
				left--
			}
		}
	}
	if left == 0 && lo == tls.VersionTLS12 {
		v.add("tls.protocols.disable_cipher_suites", "turns off every TLS 1.2 suite, so no TLS 1.2 client could connect: set min_version = \"1.3\" instead")
	}
}

// tlsTickets checks [tls.tickets]: periods every instance sharing the key
// file can agree on, and a key file that exists and holds enough secret
// (read again at every reload).
func (v *validator) tlsTickets() {
	t := &v.c.TLS.Tickets
	v.positive("tls.tickets.rotation", t.Rotation)
	v.positive("tls.tickets.lifetime", t.Lifetime)
	if t.Rotation > 0 && t.Lifetime < t.Rotation {
		v.add("tls.tickets.lifetime", "%s is shorter than rotation %s: a ticket must outlive its key's period", t.Lifetime, t.Rotation)
	}
	if t.KeyFile != "" {
		switch fi, err := os.Stat(t.KeyFile); {
		case err != nil:
			v.add("tls.tickets.key_file", "%v", err)
		case fi.Size() < minTicketSecret:
			v.add("tls.tickets.key_file", "%s holds %d bytes; a ticket key file holds at least %d random bytes (openssl rand 32 > file)", t.KeyFile, fi.Size(), minTicketSecret)
		}
	}
}

// minTicketSecret is internal/ticketkeys.MinSecret (config imports no
// internal package): 256 bits.
const minTicketSecret = 32

func isDefaultTLS12(id uint16) bool {
	for _, s := range DefaultTLS12CipherSuites() {
		if s.ID == id {
			return true
		}
	}
	return false
}
