package forward

import (
	"strconv"
	"strings"
)

// RFC 2971 limits on the ID command's field-value list.
const (
	MaxIDPairs    = 30   // field-value pairs per ID command
	MaxIDNameLen  = 30   // octets in a field name
	MaxIDValueLen = 1024 // octets in a value
)

// maxSessionIDLen is Dovecot's LOGIN_MAX_SESSION_ID_LEN: a longer
// x-session-id / SESSION value is silently ignored, so it is not sent.
const maxSessionIDLen = 64

// Client transport values that Dovecot reads from x-client-transport and
// XCLIENT CLIENT-TRANSPORT ("TLS" prefix means secured).
const (
	transportTLS      = "TLS"
	transportInsecure = "insecure"
)

// IMAPIDParams returns the name/value pairs (flattened: name, value, name,
// value...) for the IMAP ID command sent to a backend: the client's own ID
// pairs first, then the connection facts Dovecot's imap-login accepts from
// a trusted proxy (login_trusted_networks): x-originating-ip,
// x-originating-port, x-connected-ip, x-connected-port, x-session-ext-id,
// x-proxy-ttl and x-client-transport.
//
// Every client pair whose name starts with "x-" (any case) is dropped: those
// are the names a backend trusts from a proxy, so a client must not be able
// to pass them through. Client pairs that FormatIMAPID would refuse are
// dropped here too, and the client's pairs are cut so that the whole list
// stays within MaxIDPairs with the proxy's own pairs intact. A trailing
// unpaired element of clientID is ignored.
func IMAPIDParams(info Info, clientID []string) []string {
	own := make([]string, 0, 14)
	if info.Client.Addr().IsValid() {
		own = append(own,
			"x-originating-ip", canonAddr(info.Client.Addr()).String(),
			"x-originating-port", strconv.Itoa(int(info.Client.Port())))
	}
	if info.Local.Addr().IsValid() {
		own = append(own,
			"x-connected-ip", canonAddr(info.Local.Addr()).String(),
			"x-connected-port", strconv.Itoa(int(info.Local.Port())))
	}
	if validSessionID(info.SessionID) {
		// Dovecot treats x-session-id and x-session-ext-id alike; the
		// latter is the name for an id assigned outside Dovecot.
		own = append(own, "x-session-ext-id", info.SessionID)
	}
	if info.TTL > 0 {
		own = append(own, "x-proxy-ttl", strconv.Itoa(info.TTL))
	}
	transport := transportInsecure
	if info.TLS {
		transport = transportTLS
	}
	own = append(own, "x-client-transport", transport)

	room := MaxIDPairs - len(own)/2
	out := make([]string, 0, 2*min(room, len(clientID)/2)+len(own))
	for i := 0; i+1 < len(clientID) && room > 0; i += 2 {
		name, value := clientID[i], clientID[i+1]
		if hasPrefixFold(name, "x-") || !validIDName(name) || !validIDValue(value) {
			continue
		}
		out = append(out, name, value)
		room--
	}
	return append(out, own...)
}

// FormatIMAPID renders an ID parameter list as it follows "ID " on the
// wire: ("name" "value" ...) with IMAP quoted strings, or NIL when no pair
// is left. A pair is dropped, never repaired, when its name is empty or over
// MaxIDNameLen octets, its value is over MaxIDValueLen octets, or either
// holds a byte outside printable ASCII (0x20-0x7E): CR, LF and NUL could
// inject commands, and 8-bit text is not allowed in quoted strings before
// IMAP4rev2, so a strict backend would refuse the whole command. An empty
// value is sent as "". At most MaxIDPairs pairs are written; a trailing
// unpaired element is ignored.
func FormatIMAPID(params []string) string {
	var b strings.Builder
	n := 0
	for i := 0; i+1 < len(params) && n < MaxIDPairs; i += 2 {
		name, value := params[i], params[i+1]
		if !validIDName(name) || !validIDValue(value) {
			continue
		}
		if n == 0 {
			b.WriteByte('(')
		} else {
			b.WriteByte(' ')
		}
		appendQuoted(&b, name)
		b.WriteByte(' ')
		appendQuoted(&b, value)
		n++
	}
	if n == 0 {
		return "NIL"
	}
	b.WriteByte(')')
	return b.String()
}

func appendQuoted(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}

func validIDName(s string) bool {
	return s != "" && len(s) <= MaxIDNameLen && printableASCII(s)
}

func validIDValue(s string) bool {
	return len(s) <= MaxIDValueLen && printableASCII(s)
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// validSessionID: short enough for Dovecot to keep, and made of characters
// that need no quoting or encoding in any of the three forms (ID string,
// XCLIENT atom, xtext), so the backend logs the same string we do.
func validSessionID(s string) bool {
	if s == "" || len(s) > maxSessionIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !atomSafe(s[i]) {
			return false
		}
	}
	return true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
