// Package imap holds switchyard's sans-IO IMAP state machines: Server, the
// client-facing pre-authentication dialogue (RFC 3501 / RFC 9051), and
// Backend, which replays the client's authentication on a backend. Both
// implement the contracts in package protocols; neither touches a socket,
// a goroutine or a clock.
package imap

import (
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols/internal/frontend"
)

// ServerConfig configures the client-facing machine. Zero values take the
// defaults documented on each field.
type ServerConfig struct {
	// Capabilities are the atoms advertised before authentication
	// (default IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE). STARTTLS,
	// LOGINDISABLED and AUTH= atoms are computed and ignored here.
	Capabilities []string
	// SASL lists the mechanisms offered with AUTHENTICATE (default PLAIN
	// LOGIN OAUTHBEARER XOAUTH2); mechanisms package sasl cannot decode
	// are dropped.
	SASL []string
	// Banner is the greeting text (default "IMAP server ready.").
	Banner string
	// StartTLS offers STARTTLS (listener tls=starttls, not yet TLS).
	StartTLS bool
	// TLSActive says the client leg is already TLS (implicit TLS).
	TLSActive bool
	// AllowPlainWithoutTLS allows LOGIN and AUTHENTICATE in cleartext.
	// Without it every mechanism, OAuth ones included, needs TLS.
	AllowPlainWithoutTLS bool
	// MaxAuthAttempts is the number of refused logins after which the
	// connection is closed (default 3).
	MaxAuthAttempts int
	// MaxLine bounds one command line, literals excluded (default 8 KiB).
	MaxLine int
	// MaxLiteral bounds the literal octets of one command (default 8 KiB).
	MaxLiteral int
	// MaxAuthLine bounds an AUTHENTICATE command line or SASL response,
	// which carry base64 OAuth tokens of up to 16 KiB (default 32 KiB, and
	// never less than MaxLine).
	MaxAuthLine int
	// ServerID are the name/value pairs of our reply to ID; empty: NIL.
	ServerID []string
}

const (
	defaultMaxLine     = limits.IMAPMaxLine
	defaultMaxLiteral  = limits.IMAPMaxLiteral
	defaultMaxAuthLine = limits.MaxAuthLine
	defaultBanner      = "IMAP server ready."
)

var (
	defaultCapabilities = []string{"IMAP4rev1", "SASL-IR", "LITERAL+", "ID", "ENABLE", "IDLE"}
)

func (c *ServerConfig) setDefaults() {
	frontend.DefaultList(&c.Capabilities, defaultCapabilities)
	frontend.Defaults(&c.SASL, &c.MaxAuthAttempts)
	frontend.Default(&c.Banner, defaultBanner)
	frontend.Default(&c.MaxLine, defaultMaxLine)
	frontend.Default(&c.MaxLiteral, defaultMaxLiteral)
	frontend.AuthLine(&c.MaxAuthLine, c.MaxLine)
}
