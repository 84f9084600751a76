package smtp

import (
	"slices"

	"github.com/switchyard-mail/switchyard/protocols/internal/smtpwire"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
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

// offeredMechanisms keeps the configured mechanisms package sasl decodes,
// in canonical spelling and without duplicates.
func offeredMechanisms(cfg []string) []string {
	out := make([]string, 0, len(cfg))
	for _, m := range cfg {
		c := sasl.Canonical(m)
		if c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}
