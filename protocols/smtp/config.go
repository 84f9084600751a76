// Package smtp holds switchyard's sans-IO SMTP state machines (RFC 6409,
// ESMTP AUTH RFC 4954, STARTTLS RFC 3207, enhanced status codes RFC 3463):
// Server, the client-facing submission dialogue up to a complete AUTH, and
// Backend, which replays that authentication on a backend (Postfix, Dovecot
// submission, Stalwart) after EHLO, STARTTLS and XCLIENT; Relay, which
// serves SMTP on port 25 and LMTP (RFC 2033) and relays each transaction to
// the backend its recipients route to; and the pass-through pair for
// listeners bridged to one fixed destination. All implement the contracts
// in package protocols; none touches a socket, a goroutine or a clock.
package smtp

import (
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols/internal/frontend"
	"github.com/switchyard-mail/switchyard/protocols/internal/smtpwire"
)

// ServerConfig configures the client-facing machine. Zero values take the
// defaults documented on each field.
type ServerConfig struct {
	// Hostname is announced in the greeting and the EHLO reply (default
	// "localhost").
	Hostname string
	// Banner is the greeting text after "220 <hostname> ESMTP" (default
	// "ready").
	Banner string
	// Extensions are the EHLO keywords (with parameters, e.g. "SIZE
	// 35882577") advertised before authentication (default PIPELINING
	// 8BITMIME ENHANCEDSTATUSCODES SMTPUTF8). STARTTLS, AUTH and XCLIENT
	// are computed and ignored here; ENHANCEDSTATUSCODES is always added,
	// since every reply carries an enhanced code.
	Extensions []string
	// SASL lists the mechanisms offered with AUTH (default PLAIN LOGIN
	// OAUTHBEARER XOAUTH2); mechanisms package sasl cannot decode are
	// dropped.
	SASL []string
	// StartTLS offers STARTTLS (listener tls=starttls, not yet TLS).
	StartTLS bool
	// TLSActive says the client leg is already TLS (implicit TLS, 465).
	TLSActive bool
	// AllowPlainWithoutTLS allows AUTH in cleartext. Without it no AUTH is
	// advertised before TLS and AUTH gets 538 5.7.11.
	AllowPlainWithoutTLS bool
	// MaxAuthAttempts is the number of refused logins after which the
	// connection is closed (default 3).
	MaxAuthAttempts int
	// MaxErrors is the number of refused or unknown commands after which
	// the connection is closed, as Postfix's smtpd_hard_error_limit
	// (default 20).
	MaxErrors int
	// MaxLine bounds one command line without its CRLF (default 2048, as
	// Postfix's line_length_limit; never less than 510, RFC 5321).
	MaxLine int
	// MaxAuthLine bounds an AUTH command line or SASL response, which
	// carry base64 OAuth tokens of up to 16 KiB (default 32 KiB, and never
	// less than MaxLine).
	MaxAuthLine int
}

const (
	defaultBanner      = "ready"
	defaultMaxAuthLine = limits.MaxAuthLine
)

var (
	defaultExtensions = []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"}
)

func (c *ServerConfig) setDefaults() {
	c.Hostname = smtpwire.HostName(c.Hostname)
	frontend.Default(&c.Banner, defaultBanner)
	frontend.DefaultList(&c.Extensions, defaultExtensions)
	frontend.Defaults(&c.SASL, &c.MaxAuthAttempts)
	frontend.Default(&c.MaxErrors, smtpwire.DefaultMaxErrors)
	frontend.Default(&c.MaxLine, smtpwire.DefaultMaxLine)
	c.MaxLine = max(c.MaxLine, smtpwire.MinMaxLine)
	frontend.AuthLine(&c.MaxAuthLine, c.MaxLine)
}
