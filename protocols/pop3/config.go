// Package pop3 holds switchyard's sans-IO POP3 state machines: Server, the
// client-facing AUTHORIZATION state (RFC 1939, CAPA RFC 2449, STLS RFC 2595,
// AUTH RFC 5034, response codes RFC 2449/3206, UTF8 RFC 6856), and Backend,
// which replays the client's authentication on a backend. Both implement the
// contracts in package protocols; neither touches a socket, a goroutine or a
// clock.
package pop3

import (
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols/internal/frontend"
)

// ServerConfig configures the client-facing machine. Zero values take the
// defaults documented on each field.
type ServerConfig struct {
	// SASL lists the mechanisms offered with AUTH (default PLAIN LOGIN
	// OAUTHBEARER XOAUTH2); mechanisms package sasl cannot decode are
	// dropped.
	SASL []string
	// Banner is the greeting text (default "POP3 server ready.").
	Banner string
	// StartTLS offers STLS (listener tls=starttls, not yet TLS).
	StartTLS bool
	// TLSActive says the client leg is already TLS (implicit TLS).
	TLSActive bool
	// AllowPlainWithoutTLS allows USER/PASS and AUTH in cleartext. Without
	// it every mechanism, OAuth ones included, needs TLS.
	AllowPlainWithoutTLS bool
	// NoUTF8 stops advertising UTF8 in CAPA and refuses the UTF8 command
	// (RFC 6856). By default both are on.
	NoUTF8 bool
	// MaxAuthAttempts is the number of refused logins after which the
	// connection is closed (default 3).
	MaxAuthAttempts int
	// MaxLine bounds one command line without its CRLF (default 2 KiB:
	// room for PASS with a 1024-octet password; RFC 2449 asks for 255).
	MaxLine int
	// MaxAuthLine bounds an AUTH command line or SASL response, which
	// carry base64 OAuth tokens of up to 16 KiB (default 32 KiB, and never
	// less than MaxLine).
	MaxAuthLine int
}

const (
	defaultMaxLine     = limits.POP3MaxLine
	defaultMaxAuthLine = limits.MaxAuthLine
	defaultBanner      = "POP3 server ready."
)

func (c *ServerConfig) setDefaults() {
	frontend.Defaults(&c.SASL, &c.MaxAuthAttempts)
	frontend.Default(&c.Banner, defaultBanner)
	frontend.Default(&c.MaxLine, defaultMaxLine)
	frontend.AuthLine(&c.MaxAuthLine, c.MaxLine)
}
