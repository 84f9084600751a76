package smtpwire

import "github.com/switchyard-mail/switchyard/limits"

// Defaults both client-facing machines apply.
const (
	DefaultHostname  = "localhost"
	DefaultMaxLine   = limits.SMTPMaxLine
	MinMaxLine       = 510 // RFC 5321's command line, CRLF excluded
	DefaultMaxErrors = limits.SMTPMaxErrors
)

// HostName is the name a machine gives in its replies and EHLO: name when
// it is valid domain text, else DefaultHostname.
func HostName(name string) string {
	if !ValidDomainText(name) {
		return DefaultHostname
	}
	return name
}
