package smtp

import (
	"strings"
)

// Fixed replies of the client-facing machine. Every reply carries an
// enhanced status code (RFC 3463); texts follow Postfix where a client or
// an operator may already know them.
const (
	replyOK           = "250 2.0.0 Ok\r\n"
	replyBye          = "221 2.0.0 Bye\r\n"
	replyHelp         = "214 2.0.0 Commands: EHLO HELO STARTTLS AUTH NOOP RSET QUIT\r\n"
	replyStartTLS     = "220 2.0.0 Ready to start TLS\r\n"
	replyAuthRequired = "530 5.7.0 Authentication required\r\n"
	replyEncryptAuth  = "538 5.7.11 Encryption required for requested authentication mechanism\r\n"
	replyAborted      = "501 5.0.0 Authentication aborted\r\n"
	replyBadBase64    = "501 5.5.2 Cannot decode response\r\n"
	replyBadMechanism = "504 5.5.4 Unrecognized authentication type\r\n"
	replyAuthSyntax   = "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n"
	replyEHLOSyntax   = "501 5.5.4 Syntax: EHLO hostname\r\n"
	replyHELOSyntax   = "501 5.5.4 Syntax: HELO hostname\r\n"
	replyNoArgs       = "501 5.5.4 Syntax: no parameters allowed\r\n"
	replySendHelo     = "503 5.5.1 Error: send HELO/EHLO first\r\n"
	replyTLSActive    = "554 5.5.1 Error: TLS already active\r\n"
	replyNoTLS        = "502 5.5.1 Error: STARTTLS not available\r\n"
	replyUnknown      = "502 5.5.2 Error: command not recognized\r\n"
	replyNotImpl      = "502 5.5.1 Error: command not implemented\r\n"
	replyBadSyntax    = "500 5.5.2 Error: bad syntax\r\n"
	replyLineTooLong  = "500 5.5.0 Error: line too long\r\n"
	replyAuthFailed   = "535 5.7.8 Authentication credentials invalid\r\n"
	replyTempAuthFail = "454 4.7.0 Temporary authentication failure\r\n"
)

// Replies that name the host (RFC 5321 section 3.8: a 421 names the
// server that closes); the enhanced code comes first (RFC 2034).
const (
	textTooBusy       = "4.3.2 Too many connections, try again later"
	textTimeout       = "4.4.2 Error: timeout exceeded"
	textShutdown      = "4.3.0 Server shutting down"
	textTooManyErrors = "4.7.0 Error: too many errors"
	textTooManyAuth   = "4.7.0 Error: too many failed authentication attempts"
)

// append421 appends "421 <enhanced code> <host> <text>"; text starts with
// the enhanced code.
func append421(out []byte, host, text string) []byte {
	code, rest, _ := strings.Cut(text, " ")
	out = append(out, "421 "...)
	out = append(out, code...)
	out = append(out, ' ')
	out = append(out, host...)
	out = append(out, ' ')
	out = append(out, rest...)
	return append(out, "\r\n"...)
}
