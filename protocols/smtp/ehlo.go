package smtp

import (
	"slices"
	"strings"

	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// ehloReply builds the whole multi-line EHLO reply for a connection that is
// (tls) or is not TLS: the host name, the configured extensions, STARTTLS
// before TLS when offered, and AUTH when a login is possible.
func ehloReply(cfg *ServerConfig, mechs []string, tls bool) []byte {
	lines := []string{cfg.Hostname}
	enhanced := false
	for _, e := range cfg.Extensions {
		e = strings.TrimSpace(e)
		kw, _, _ := strings.Cut(e, " ")
		switch {
		case !validExtension(e),
			strings.EqualFold(kw, "STARTTLS"),
			strings.EqualFold(kw, "AUTH"),
			len(kw) > 5 && strings.EqualFold(kw[:5], "AUTH="),
			strings.EqualFold(kw, "XCLIENT"),
			strings.EqualFold(kw, "XFORWARD"):
			continue
		}
		if strings.EqualFold(kw, "ENHANCEDSTATUSCODES") {
			if enhanced {
				continue
			}
			enhanced = true
		}
		lines = append(lines, e)
	}
	if !enhanced {
		// Every reply carries an enhanced code: say so.
		lines = append(lines, "ENHANCEDSTATUSCODES")
	}
	if cfg.StartTLS && !tls {
		lines = append(lines, "STARTTLS")
	}
	if (tls || cfg.AllowPlainWithoutTLS) && len(mechs) > 0 {
		lines = append(lines, "AUTH "+strings.Join(mechs, " "))
	}
	var b []byte
	for i, l := range lines {
		b = append(b, "250"...)
		if i == len(lines)-1 {
			b = append(b, ' ')
		} else {
			b = append(b, '-')
		}
		b = append(b, l...)
		b = append(b, "\r\n"...)
	}
	return b
}

// validExtension: ehlo-keyword *(SP ehlo-param), RFC 5321 section 4.1.1.1:
// the keyword is letters, digits and "-" starting with a letter or digit;
// parameters are printable ASCII.
func validExtension(e string) bool {
	kw, params, _ := strings.Cut(e, " ")
	if kw == "" || kw[0] == '-' || len(e) > 500 {
		return false
	}
	for i := 0; i < len(kw); i++ {
		c := kw[i]
		if !(c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'z' || c == '-') {
			return false
		}
	}
	for i := 0; i < len(params); i++ {
		if params[i] < ' ' || params[i] > '~' {
			return false
		}
	}
	return true
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
