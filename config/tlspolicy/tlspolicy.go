// Package tlspolicy is [tls.protocols] as Go's crypto/tls can honour it:
// the versions and the TLS 1.2 suites a server offers, and why a setting
// crypto/tls cannot honour is refused.
//
// What crypto/tls cannot do, config's Validate refuses with the reason:
//   - TLS 1.3 suites cannot be turned off: Config.CipherSuites applies to
//     TLS 1.0-1.2 only, and all three TLS 1.3 suites (AES-128-GCM,
//     AES-256-GCM, ChaCha20-Poly1305) are always offered.
//   - The client's cipher order is never followed (since Go 1.17 the
//     server picks by its own preference order; PreferServerCipherSuites
//     is ignored since Go 1.18), so ignore_client_order = false cannot be
//     honoured; true describes what happens anyway.
package tlspolicy

import (
	"crypto/tls"
	"strings"
)

// TLS versions as configured ("1.2", "1.3").
const (
	TLS12 = "1.2"
	TLS13 = "1.3"
)

// Version maps a configured version to crypto/tls's constant, 0 if it
// is not one switchyard serves.
func Version(v string) uint16 {
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
func Versions(minVersion, maxVersion string) (lo, hi uint16) {
	lo, hi = Version(minVersion), Version(maxVersion)
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
func CipherSuites(disabled []string) []uint16 {
	if len(disabled) == 0 {
		return nil
	}
	off := make(map[uint16]bool, len(disabled))
	for _, name := range disabled {
		if s := Lookup(name); s != nil {
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
		if !TLS13Only(s) {
			out = append(out, s)
		}
	}
	return out
}

// TLS13Only reports a suite that exists only in TLS 1.3 (and so cannot be
// turned off).
func TLS13Only(s *tls.CipherSuite) bool {
	return len(s.SupportedVersions) == 1 && s.SupportedVersions[0] == tls.VersionTLS13
}

// Lookup finds a suite by name, in any case: Go's names
// ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", and the older
// "..._CHACHA20_POLY1305" without "_SHA256") and rustls' names, which the
// reference proxy takes ("TLS13_AES_128_GCM_SHA256" for TLS 1.3 suites).
func Lookup(name string) *tls.CipherSuite {
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

// IsDefaultTLS12 reports whether id is one of DefaultTLS12CipherSuites.
func IsDefaultTLS12(id uint16) bool {
	for _, s := range DefaultTLS12CipherSuites() {
		if s.ID == id {
			return true
		}
	}
	return false
}
