package smtpwire

import "github.com/switchyard-mail/switchyard/limits"

// Defaults both client-facing machines apply.
const (
	DefaultHostname  = "localhost"
	DefaultMaxLine   = limits.SMTPMaxLine
	MinMaxLine       = 510 // RFC 5321's command line, CRLF excluded
	DefaultMaxErrors = limits.SMTPMaxErrors
)
