package managesieve

import (
	"strings"
)

// capabilities appends the capability lines for the current TLS state
// (RFC 5804 section 1.7). SASL is empty where no login may happen
// (cleartext not allowed); STARTTLS is listed only before TLS.
func (s *Server) capabilities(out []byte) []byte {
	out = append(out, "\"IMPLEMENTATION\" "...)
	out = appendString(out, []byte(s.cfg.Implementation))
	out = append(out, "\r\n\"SASL\" \""...)
	if s.cleartextOK() {
		out = append(out, strings.Join(s.mechs, " ")...)
	}
	out = append(out, "\"\r\n\"SIEVE\" \""...)
	enotify := false
	n := 0
	for _, e := range s.cfg.Sieve {
		if !validExtension(e) {
			continue
		}
		if n > 0 {
			out = append(out, ' ')
		}
		out = append(out, e...)
		n++
		enotify = enotify || strings.EqualFold(e, "enotify")
	}
	out = append(out, "\"\r\n"...)
	if enotify {
		out = append(out, "\"NOTIFY\" \"mailto\"\r\n"...)
	}
	if s.cfg.StartTLS && !s.TLS {
		out = append(out, "\"STARTTLS\"\r\n"...)
	}
	return append(out, "\"VERSION\" \"1.0\"\r\n"...)
}

// validExtension: a Sieve capability string goes inside a quoted string
// as is.
func validExtension(e string) bool {
	if e == "" {
		return false
	}
	for i := 0; i < len(e); i++ {
		if e[i] <= ' ' || e[i] >= 0x7f || e[i] == '"' || e[i] == '\\' {
			return false
		}
	}
	return true
}
