package forward

import (
	"net/netip"
	"strconv"
	"strings"
)

// MaxXClientLine is the longest XCLIENT command line XClientArgs returns,
// without the CRLF the caller appends: RFC 5321's 512-octet command line
// limit includes the CRLF.
const MaxXClientLine = 510

// unavailable is Postfix's value for an attribute the client does not know.
const unavailable = "[UNAVAILABLE]"

// maxHeloLen: Postfix accepts HELO values of up to 255 characters.
const maxHeloLen = 255

// xclientOrder is the set of attributes switchyard may send, in the order
// sent. Postfix advises the address attributes first, then HELO and PROTO.
// LOGIN is deliberately absent: it would tell the backend the client is
// already authenticated, while the proxy replays the real authentication.
var xclientOrder = [...]string{"ADDR", "PORT", "DESTADDR", "DESTPORT", "HELO", "PROTO", "SESSION", "TTL"}

// dovecotImplicit is what Dovecot's POP3 and ManageSieve logins accept when
// they advertise a bare XCLIENT capability without an attribute list.
var dovecotImplicit = [...]string{"ADDR", "PORT", "SESSION", "TTL"}

// DovecotXClientArgs is XClientArgs in Dovecot's raw dialect (POP3,
// ManageSieve) whatever info.Proto says; none when there is no info to
// forward or the backend does not advertise XCLIENT (advertised nil).
func DovecotXClientArgs(info *Info, advertised []string) []string {
	if info == nil || advertised == nil {
		return nil
	}
	raw := *info
	raw.Proto = "" // Dovecot's dialect: raw values, no HELO/PROTO
	return XClientArgs(raw, advertised)
}

// XClientArgs returns the XCLIENT command lines (without CRLF) that pass the
// client's facts to a backend, using only attributes in advertised (matched
// case-insensitively) out of ADDR, PORT, DESTADDR, DESTPORT, HELO, PROTO,
// SESSION and TTL. It returns nil when there is nothing to send. Each line is
// at most MaxXClientLine octets; when the attributes do not fit one line they
// are spread over several, as Postfix suggests. Every XCLIENT resets an SMTP
// session (the server answers 220 and expects EHLO again).
//
// Two dialects, chosen by info.Proto:
//
//   - SMTP family (info.Proto not empty: Postfix, Dovecot submission and
//     LMTP): values are xtext (RFC 3461); IPv6 ADDR and DESTADDR carry the
//     "IPV6:" prefix; an unknown address, port or HELO is sent as
//     [UNAVAILABLE]; PROTO is info.Proto when it is SMTP, ESMTP or LMTP.
//   - Dovecot POP3 and ManageSieve (info.Proto empty): the values are
//     parsed raw (ManageSieve as atoms), so addresses go without prefix,
//     unknown values are left out (Dovecot would refuse [UNAVAILABLE] as an
//     address), and HELO and PROTO are never sent.
//
// SESSION is sent only when info.SessionID is 1..64 safe characters
// (Dovecot ignores longer ones), TTL only when info.TTL > 0.
func XClientArgs(info Info, advertised []string) []string {
	smtp := info.Proto != ""
	var lines []string
	line := make([]byte, 0, MaxXClientLine)
	line = append(line, "XCLIENT"...)
	n := 0
	for _, name := range xclientOrder {
		if !containsFold(advertised, name) {
			continue
		}
		value, ok := xclientValue(info, name, smtp)
		if !ok {
			continue
		}
		itemLen := 1 + len(name) + 1 + len(value)
		if len("XCLIENT")+itemLen > MaxXClientLine {
			continue // cannot fit on any line
		}
		if len(line)+itemLen > MaxXClientLine {
			lines = append(lines, string(line))
			line = append(line[:0], "XCLIENT"...)
			n = 0
		}
		line = append(line, ' ')
		line = append(line, name...)
		line = append(line, '=')
		line = append(line, value...)
		n++
	}
	if n > 0 {
		lines = append(lines, string(line))
	}
	return lines
}

func xclientValue(info Info, name string, smtp bool) (string, bool) {
	switch name {
	case "ADDR", "PORT", "DESTADDR", "DESTPORT":
		// The client's end, or with DEST the proxy's end it connected to.
		ap := info.Client
		if strings.HasPrefix(name, "DEST") {
			ap = info.Local
		}
		switch {
		case !ap.Addr().IsValid():
			return unavailable, smtp
		case strings.HasSuffix(name, "ADDR"):
			return xclientAddr(ap.Addr(), smtp), true
		}
		return strconv.Itoa(int(ap.Port())), true
	case "HELO":
		if !smtp {
			return "", false
		}
		if info.Helo == "" || len(info.Helo) > maxHeloLen || !printableNoSpace(info.Helo) {
			return unavailable, true
		}
		v := xtext(info.Helo)
		if len("XCLIENT HELO=")+len(v) > MaxXClientLine {
			return unavailable, true
		}
		return v, true
	case "PROTO":
		p := strings.ToUpper(info.Proto)
		if !smtp || (p != "SMTP" && p != "ESMTP" && p != "LMTP") {
			return "", false
		}
		return p, true
	case "SESSION":
		if !validSessionID(info.SessionID) {
			return "", false
		}
		return info.SessionID, true // atom-safe, so also its own xtext
	case "TTL":
		if info.TTL <= 0 {
			return "", false
		}
		return strconv.Itoa(info.TTL), true
	}
	return "", false
}

func xclientAddr(a netip.Addr, smtp bool) string {
	a = canonAddr(a)
	if smtp && a.Is6() {
		return "IPV6:" + a.String()
	}
	return a.String()
}

// xtext encodes s per RFC 3461 section 4: "!" to "~" stand for themselves
// except "+" and "=", everything else is "+" and two upper-case hex digits.
func xtext(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '!' && c <= '~' && c != '+' && c != '=' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('+')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0x0f])
	}
	return b.String()
}

func printableNoSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// atomSafe: printable, and special neither in IMAP/ManageSieve atoms nor in
// xtext, nor as a NAME=VALUE separator.
func atomSafe(c byte) bool {
	if c <= 0x20 || c > 0x7e {
		return false
	}
	switch c {
	case '"', '\\', '(', ')', '{', '}', '%', '*', '[', ']', '+', '=':
		return false
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// Bounds for ParseXClientCapability: capability lines are short (SMTP
// replies are at most 512 octets), so anything past these is not real.
const (
	maxCapabilityScan = 1024
	maxXClientAttrs   = 32
	maxAttrNameLen    = 32
)

// ParseXClientCapability reads the attribute names from one capability line
// that advertises XCLIENT: an SMTP EHLO line ("250-XCLIENT NAME ADDR PORT",
// with or without the reply code), a POP3 CAPA line ("XCLIENT") or a
// ManageSieve capability ("\"XCLIENT\""). Names come back upper-cased,
// de-duplicated, in the order given. A bare XCLIENT, as Dovecot's POP3 and
// ManageSieve logins advertise it, stands for the attributes both accept:
// ADDR, PORT, SESSION and TTL. It returns nil when the line does not
// advertise XCLIENT. Only the first 1024 octets are read.
func ParseXClientCapability(ehloOrCapaLine string) []string {
	s := ehloOrCapaLine
	if len(s) > maxCapabilityScan {
		s = s[:maxCapabilityScan]
		// Drop a word the cut may have split.
		if i := strings.LastIndexAny(s, " \t\""); i >= 0 {
			s = s[:i]
		}
	}
	// SMTP reply code ("250-" or "250 ").
	if len(s) >= 4 && isDigit(s[0]) && isDigit(s[1]) && isDigit(s[2]) && (s[3] == '-' || s[3] == ' ') {
		s = s[4:]
	}
	words := strings.FieldsFunc(s, func(r rune) bool {
		// ManageSieve quotes the capability (and any argument).
		return r == ' ' || r == '\t' || r == '\r' || r == '\n' || r == '"'
	})
	if len(words) == 0 || !strings.EqualFold(words[0], "XCLIENT") {
		return nil
	}
	attrs := make([]string, 0, len(dovecotImplicit))
	for _, w := range words[1:] {
		if len(attrs) == maxXClientAttrs {
			break
		}
		if !validAttrName(w) {
			continue
		}
		w = strings.ToUpper(w)
		if !containsFold(attrs, w) {
			attrs = append(attrs, w)
		}
	}
	if len(words) == 1 {
		attrs = append(attrs, dovecotImplicit[:]...)
	}
	return attrs
}

func validAttrName(w string) bool {
	if w == "" || len(w) > maxAttrNameLen {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if !(isDigit(c) || c == '-' || (c|0x20 >= 'a' && c|0x20 <= 'z')) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
