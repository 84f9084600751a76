package app

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/internal/ticketkeys"
)

// certSet picks the server certificate by SNI: an exact subject, then a
// wildcard one level up, then the default.
type certSet struct {
	byName map[string]*tls.Certificate
	def    *tls.Certificate
	config *tls.Config // shared by every handshake: one set of ticket keys, so sessions resume
}

// tickets is the process's session ticket ring and the random secret it
// uses when no key file is set. Both live as long as the process, so a
// reload keeps sessions resumable.
type tickets struct {
	ring   *ticketkeys.Ring
	random []byte
}

func newTickets() *tickets { return &tickets{random: ticketkeys.RandomSecret()} }

// apply gives the ring [tls.tickets]' secret (the key file, read again
// each time) and periods, making the ring at the first call.
func (t *tickets) apply(c *config.TLSTickets) error {
	secret := t.random
	if c.KeyFile != "" {
		var err error
		if secret, err = ticketkeys.ReadSecret(c.KeyFile); err != nil {
			return fmt.Errorf("tls.tickets.key_file: %w", err)
		}
	}
	var err error
	if t.ring == nil {
		t.ring, err = ticketkeys.New(secret, c.Rotation.D(), c.Lifetime.D())
	} else {
		err = t.ring.Set(secret, c.Rotation.D(), c.Lifetime.D())
	}
	if err != nil {
		return fmt.Errorf("tls.tickets: %w", err)
	}
	return nil
}

// loadCertSet builds the server TLS config from [tls]; t seals its
// session tickets (nil: only checking that the certificates load).
func loadCertSet(c *config.TLS, t *tickets) (*certSet, error) {
	cs := &certSet{byName: map[string]*tls.Certificate{}}
	var first *tls.Certificate
	for id, cc := range c.Certificate {
		pair, err := tls.LoadX509KeyPair(cc.Cert, cc.Key)
		if err != nil {
			return nil, fmt.Errorf("tls.certificate.%s: %w", id, err)
		}
		p := &pair
		if first == nil {
			first = p
		}
		if cc.Default {
			cs.def = p
		}
		for _, s := range cc.Subjects {
			cs.byName[strings.ToLower(s)] = p
		}
		if len(cc.Subjects) == 0 && p.Leaf != nil {
			for _, n := range p.Leaf.DNSNames {
				if _, dup := cs.byName[strings.ToLower(n)]; !dup {
					cs.byName[strings.ToLower(n)] = p
				}
			}
		}
	}
	if cs.def == nil {
		cs.def = first
	}
	// [tls.protocols] as crypto/tls can apply it (config/tls.go: what it
	// cannot, validation refused). The h2 listeners clone this config, so
	// they get the same versions and suites.
	lo, hi := c.Protocols.Versions()
	cs.config = &tls.Config{
		GetCertificate: cs.get,
		MinVersion:     lo,
		MaxVersion:     hi,
		CipherSuites:   c.Protocols.CipherSuites(),
	}
	switch {
	case !c.Tickets.Enabled:
		cs.config.SessionTicketsDisabled = true
	case t != nil:
		t.ring.Apply(cs.config)
	}
	return cs, nil
}

func (cs *certSet) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if name != "" {
		if c := cs.byName[name]; c != nil {
			return c, nil
		}
		if i := strings.IndexByte(name, '.'); i > 0 {
			if c := cs.byName["*"+name[i:]]; c != nil {
				return c, nil
			}
		}
	}
	if cs.def == nil {
		return nil, errors.New("no certificate configured")
	}
	return cs.def, nil
}

// serverConfig is the one server config; its clones (HTTP/2, the admin
// listener) seal tickets with the same ring.
func (cs *certSet) serverConfig() *tls.Config { return cs.config }

// clientTLS builds the TLS config for legs to one destination.
func clientTLS(id string, d *config.Destination) (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName:         d.TLSServerName,
		ClientSessionCache: tls.NewLRUClientSessionCache(256), // resume to backends
		MinVersion:         tls.VersionTLS12,
	}
	if cfg.ServerName == "" && net.ParseIP(d.Host) == nil {
		cfg.ServerName = d.Host
	}
	if d.TLSCAFile != "" {
		pem, err := os.ReadFile(d.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("destination.%s.tls_ca_file: %w", id, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("destination.%s.tls_ca_file: no certificate in %s", id, d.TLSCAFile)
		}
		cfg.RootCAs = pool
	}
	if d.TLSClientCert != "" {
		pair, err := tls.LoadX509KeyPair(d.TLSClientCert, d.TLSClientKey)
		if err != nil {
			return nil, fmt.Errorf("destination.%s.tls_client_cert: %w", id, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if d.TLSPinnedCertSHA256 != "" {
		pin, err := hex.DecodeString(strings.ReplaceAll(strings.ToLower(d.TLSPinnedCertSHA256), ":", ""))
		if err != nil || len(pin) != sha256.Size {
			return nil, fmt.Errorf("destination.%s.tls_pinned_cert_sha256: want 64 hex digits", id)
		}
		// A pin replaces chain verification: match the leaf's SPKI hash, or
		// the whole leaf certificate's hash for compatibility.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("backend sent no certificate")
			}
			leaf := cs.PeerCertificates[0]
			spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
			whole := sha256.Sum256(leaf.Raw)
			if bytes.Equal(spki[:], pin) || bytes.Equal(whole[:], pin) {
				return nil
			}
			return fmt.Errorf("backend certificate does not match the pin for destination %s", id)
		}
	} else if d.TLSAllowInvalidCerts {
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}
