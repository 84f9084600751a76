package codec

import (
	"net/netip"
	"strings"
)

// parseTarget classifies and checks the request-target (RFC 9112 3.2).
// Nothing is decoded; malformed percent-escapes are refused so that no
// backend has to guess what they mean.
func (h *RequestHead) parseTarget() *Error {
	t := h.Target
	switch {
	case t == "":
		return errTarget
	case t == "*":
		if h.Method != "OPTIONS" {
			return errAsterisk
		}
		h.Form = AsteriskForm
		return nil
	case h.Method == "CONNECT":
		// authority-form: host and port, nothing else (RFC 9110 9.3.6).
		if !validHost(t, true, false) {
			return errConnectTarget
		}
		h.Form, h.Host = AuthorityForm, t
		return nil
	case t[0] == '/':
		if !validPathQuery(t) {
			return errTarget
		}
		h.Form = OriginForm
		h.Path, h.Query, _ = strings.Cut(t, "?")
		return nil
	}
	i := strings.Index(t, "://")
	if i <= 0 {
		if validHost(t, true, false) {
			return errAuthorityForm
		}
		return errTarget
	}
	if !EqualFold(t[:i], "http") && !EqualFold(t[:i], "https") {
		return errScheme
	}
	rest := t[i+3:]
	j := strings.IndexAny(rest, "/?")
	if j < 0 {
		j = len(rest)
	}
	auth, pq := rest[:j], rest[j:]
	if strings.IndexByte(auth, '@') >= 0 {
		return errUserinfo // deprecated, and a classic phishing vector (RFC 9110 4.2.4)
	}
	// An http(s) URI with an empty host is invalid (RFC 9110 4.2.1).
	if !validHost(auth, false, false) {
		return errTarget
	}
	if pq != "" && !validPathQuery(pq) {
		return errTarget
	}
	h.Form, h.Host = AbsoluteForm, auth
	h.Path, h.Query, _ = strings.Cut(pq, "?")
	if h.Path == "" {
		h.Path = "/" // RFC 9112 3.2.1
	}
	return nil
}

// validPathQuery accepts visible ASCII except "#" (a fragment is never
// sent), with every "%" starting a valid escape. It is looser than the
// pchar grammar on purpose: clients do send "|", "[", "]" or "{" raw in
// queries, and none of them can confuse framing or routing.
func validPathQuery(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c <= ' ' || c >= 0x7f || c == '#':
			return false
		case c == '%':
			if i+2 >= len(s) || hexTab[s[i+1]] < 0 || hexTab[s[i+2]] < 0 {
				return false
			}
		}
	}
	return true
}

// validHost checks uri-host [ ":" port ] (RFC 9110 7.2). reg-name is
// restricted to unreserved characters: the sub-delims and percent-escapes
// RFC 3986 also allows (",", ";", "%41", ...) appear in no real host name
// (international names travel as punycode), and backends would split on
// them or decode them differently. IP literals are IPv6 without a zone.
// The port, when there is a colon, is 1 to 5 digits up to 65535.
func validHost(s string, needPort, allowEmpty bool) bool {
	if s == "" {
		return allowEmpty
	}
	var host, port string
	hasPort := false
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		a, err := netip.ParseAddr(s[1:end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return false
		}
		rest := s[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return false
			}
			port, hasPort = rest[1:], true
		}
	} else {
		host, port, hasPort = strings.Cut(s, ":")
		if host == "" {
			return false
		}
		for i := 0; i < len(host); i++ {
			c := host[i]
			switch {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
				c == '-', c == '.', c == '_', c == '~':
			default:
				return false
			}
		}
	}
	if !hasPort {
		return !needPort
	}
	if port == "" || len(port) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return false
		}
		n = n*10 + int(port[i]-'0')
	}
	return n <= 65535
}
