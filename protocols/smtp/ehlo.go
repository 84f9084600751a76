package smtp

import (
	"github.com/switchyard-mail/switchyard/protocols/internal/smtpwire"
)

// ehloReply builds the whole multi-line EHLO reply for a connection that is
// (tls) or is not TLS: the host name, the configured extensions, STARTTLS
// before TLS when offered, and AUTH when a login is possible.
func ehloReply(cfg *ServerConfig, mechs []string, tls bool) []byte {
	if !tls && !cfg.AllowPlainWithoutTLS {
		mechs = nil
	}
	return smtpwire.EHLOReply(cfg.Hostname, cfg.Extensions, cfg.StartTLS && !tls, mechs)
}
