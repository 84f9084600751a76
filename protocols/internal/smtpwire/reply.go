// Package smtpwire holds what the SMTP submission machine (protocols/smtp)
// and the port-25/LMTP relay (protocols/smtprelay) both speak: the fixed
// replies they share, the client line framer, the EHLO reply, and the
// backend reply-line parser with the EHLO extensions it reads.
package smtpwire

import "strings"

// Fixed replies of the client-facing machines. Every reply carries an
// enhanced status code (RFC 3463); texts follow Postfix where a client or
// an operator may already know them.
const (
	ReplyOK          = "250 2.0.0 Ok\r\n"
	ReplyBye         = "221 2.0.0 Bye\r\n"
	ReplyStartTLS    = "220 2.0.0 Ready to start TLS\r\n"
	ReplyEHLOSyntax  = "501 5.5.4 Syntax: EHLO hostname\r\n"
	ReplyHELOSyntax  = "501 5.5.4 Syntax: HELO hostname\r\n"
	ReplyNoArgs      = "501 5.5.4 Syntax: no parameters allowed\r\n"
	ReplySendHelo    = "503 5.5.1 Error: send HELO/EHLO first\r\n"
	ReplyTLSActive   = "554 5.5.1 Error: TLS already active\r\n"
	ReplyNoTLS       = "502 5.5.1 Error: STARTTLS not available\r\n"
	ReplyUnknown     = "502 5.5.2 Error: command not recognized\r\n"
	ReplyNotImpl     = "502 5.5.1 Error: command not implemented\r\n"
	ReplyBadSyntax   = "500 5.5.2 Error: bad syntax\r\n"
	ReplyLineTooLong = "500 5.5.0 Error: line too long\r\n"
)

// Replies that name the host (RFC 5321 section 3.8: a 421 names the
// server that closes); the enhanced code comes first (RFC 2034).
const (
	TextTooBusy       = "4.3.2 Too many connections, try again later"
	TextTimeout       = "4.4.2 Error: timeout exceeded"
	TextShutdown      = "4.3.0 Server shutting down"
	TextTooManyErrors = "4.7.0 Error: too many errors"
)

// Append421 appends "421 <enhanced code> <host> <text>"; text starts with
// the enhanced code.
func Append421(out []byte, host, text string) []byte {
	code, rest, _ := strings.Cut(text, " ")
	out = append(out, "421 "...)
	out = append(out, code...)
	out = append(out, ' ')
	out = append(out, host...)
	out = append(out, ' ')
	out = append(out, rest...)
	return append(out, "\r\n"...)
}

// Host is the name an SMTP machine gives in its replies. Its methods are
// the engine's closing replies (protocols.FrontEnd's TooBusy, Timeout and
// ShuttingDown), each a 421 that names it.
type Host string

// TooBusy appends the reply for a connection refused by a limit.
func (h Host) TooBusy(out []byte) []byte { return Append421(out, string(h), TextTooBusy) }

// Timeout appends the reply sent before closing an idle connection.
func (h Host) Timeout(out []byte) []byte { return Append421(out, string(h), TextTimeout) }

// ShuttingDown appends the reply sent when the proxy drains.
func (h Host) ShuttingDown(out []byte) []byte { return Append421(out, string(h), TextShutdown) }
