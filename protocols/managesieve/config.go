// Package managesieve holds switchyard's sans-IO ManageSieve (RFC 5804)
// state machines: Server, the client-facing dialogue before
// authentication, and Backend, which replays the client's authentication
// on a backend. Both implement the contracts in package protocols; neither
// touches a socket, a goroutine or a clock.
package managesieve

import (
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols/internal/frontend"
)

// ServerConfig configures the client-facing machine. Zero values take the
// defaults documented on each field.
type ServerConfig struct {
	// Implementation is the IMPLEMENTATION capability (default
	// "switchyard").
	Implementation string
	// Sieve lists the Sieve extensions of the SIEVE capability (default: a
	// common Pigeonhole set). NOTIFY "mailto" is added when it holds
	// "enotify".
	Sieve []string
	// SASL lists the mechanisms offered (default PLAIN LOGIN OAUTHBEARER
	// XOAUTH2); mechanisms package sasl cannot decode are dropped.
	SASL []string
	// StartTLS offers STARTTLS (listener tls=starttls, not yet TLS).
	StartTLS bool
	// TLSActive says the client leg is already TLS (implicit TLS).
	TLSActive bool
	// AllowPlainWithoutTLS allows AUTHENTICATE in cleartext. Without it
	// every mechanism, OAuth ones included, needs TLS ("SASL" is empty).
	AllowPlainWithoutTLS bool
	// MaxAuthAttempts is the number of refused logins after which the
	// connection is closed (default 3).
	MaxAuthAttempts int
	// MaxCommand bounds one command or SASL response, literals included,
	// CRLF excluded (default 40 KiB: room for a base64 OAuth token of
	// 16 KiB in a literal).
	MaxCommand int
}

const (
	defaultMaxCommand     = limits.SieveMaxCommand
	minMaxCommand         = 64
	defaultImplementation = "switchyard"
)

var (
	defaultSieve = []string{"fileinto", "reject", "envelope", "encoded-character", "vacation",
		"subaddress", "comparator-i;ascii-numeric", "relational", "regex", "imap4flags", "copy",
		"include", "variables", "body", "enotify", "environment", "mailbox", "date", "index",
		"ihave", "duplicate", "mime", "foreverypart", "extracttext"}
)

func (c *ServerConfig) setDefaults() {
	frontend.Default(&c.Implementation, defaultImplementation)
	frontend.DefaultList(&c.Sieve, defaultSieve)
	frontend.Defaults(&c.SASL, &c.MaxAuthAttempts)
	frontend.Default(&c.MaxCommand, defaultMaxCommand)
	c.MaxCommand = max(c.MaxCommand, minMaxCommand)
}
