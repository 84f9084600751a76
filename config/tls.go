package config

import (
	"crypto/tls"
	"fmt"
	"os"

	"github.com/switchyard-mail/switchyard/config/tlspolicy"
)

// [tls.protocols] as Go's crypto/tls can honour it: package tlspolicy.
// Every server TLS configuration built from [tls] (the listeners'
// implicit TLS and STARTTLS, HTTP/2 by ALPN, the admin API) takes its
// versions and suites from here, so that one file means one policy.

// TLS versions as configured ("1.2", "1.3").
const (
	TLS12 = tlspolicy.TLS12
	TLS13 = tlspolicy.TLS13
)

// Versions returns the lowest and highest TLS versions a server accepts
// (tls.Config MinVersion and MaxVersion). Unset or invalid values (which
// Validate refuses) give the defaults: TLS 1.2 to TLS 1.3.
func (p TLSProtocols) Versions() (lo, hi uint16) {
	return tlspolicy.Versions(p.MinVersion, p.MaxVersion)
}

// CipherSuites returns the TLS 1.2 suites a server offers
// (tls.Config.CipherSuites): nil, Go's defaults, when nothing is
// disabled; else Go's defaults without the disabled ones.
func (p TLSProtocols) CipherSuites() []uint16 { return tlspolicy.CipherSuites(p.DisableCipherSuites) }

// DefaultTLS12CipherSuites are the suites a Go server offers for TLS 1.2
// when tls.Config.CipherSuites is nil (tlspolicy).
func DefaultTLS12CipherSuites() []*tls.CipherSuite { return tlspolicy.DefaultTLS12CipherSuites() }

// tlsProtocols checks [tls.protocols].
func (v *validator) tlsProtocols() {
	p := &v.c.TLS.Protocols
	lo, hi := tlspolicy.Version(p.MinVersion), tlspolicy.Version(p.MaxVersion)
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
	left := len(tlspolicy.DefaultTLS12CipherSuites())
	seen := map[uint16]bool{}
	for i, name := range p.DisableCipherSuites {
		key := fmt.Sprintf("tls.protocols.disable_cipher_suites[%d]", i)
		s := tlspolicy.Lookup(name)
		switch {
		case s == nil:
			v.add(key, "%q is not a known cipher suite", name)
		case tlspolicy.TLS13Only(s):
			v.add(key, "%q is a TLS 1.3 suite: Go's crypto/tls always offers the three TLS 1.3 suites and cannot turn one off; remove it", name)
		case !seen[s.ID]:
			seen[s.ID] = true
			if tlspolicy.IsDefaultTLS12(s.ID) {
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
