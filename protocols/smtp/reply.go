package smtp

// Fixed replies of the submission machine; those the relay shares are in
// smtpwire. Every reply carries an enhanced status code (RFC 3463).
const (
	replyHelp         = "214 2.0.0 Commands: EHLO HELO STARTTLS AUTH NOOP RSET QUIT\r\n"
	replyAuthRequired = "530 5.7.0 Authentication required\r\n"
	replyEncryptAuth  = "538 5.7.11 Encryption required for requested authentication mechanism\r\n"
	replyAborted      = "501 5.0.0 Authentication aborted\r\n"
	replyBadBase64    = "501 5.5.2 Cannot decode response\r\n"
	replyBadMechanism = "504 5.5.4 Unrecognized authentication type\r\n"
	replyAuthSyntax   = "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n"
	replyAuthFailed   = "535 5.7.8 Authentication credentials invalid\r\n"
	replyTempAuthFail = "454 4.7.0 Temporary authentication failure\r\n"
)

// textTooManyAuth goes in a 421 (smtpwire.Append421).
const textTooManyAuth = "4.7.0 Error: too many failed authentication attempts"
