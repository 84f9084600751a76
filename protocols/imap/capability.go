package imap

import (
	"strings"
)

// capabilityList builds the space-separated capability atoms advertised
// before authentication on a connection that is (tls) or is not TLS.
func capabilityList(cfg *ServerConfig, mechs []string, tls bool) []byte {
	b := make([]byte, 0, 160)
	add := func(atom string) {
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = append(b, atom...)
	}
	for _, c := range cfg.Capabilities {
		if strings.EqualFold(c, "STARTTLS") || strings.EqualFold(c, "LOGINDISABLED") ||
			len(c) >= 5 && strings.EqualFold(c[:5], "AUTH=") || !validAtom(c) {
			continue
		}
		add(c)
	}
	if cfg.StartTLS && !tls {
		add("STARTTLS")
	}
	if !tls && !cfg.AllowPlainWithoutTLS {
		// Every mechanism, the OAuth ones included, would expose a
		// replayable secret: none is offered before TLS.
		add("LOGINDISABLED")
		return b
	}
	for _, m := range mechs {
		add("AUTH=")
		b = append(b, m...)
	}
	return b
}

func validAtom(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAtomChar(s[i]) && s[i] != ']' {
			return false
		}
	}
	return true
}
