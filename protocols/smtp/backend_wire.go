package smtp

import (
	"bytes"
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
	"strings"

	"github.com/switchyard-mail/switchyard/protocols/forward"
)

// Bounds on what a backend may send before the login completes.
const (
	maxReplyLine  = limits.SMTPMaxReplyLine    // one reply line
	maxReplyLines = limits.SMTPMaxReplyLines   // lines of one multi-line reply
	maxRelay      = limits.SMTPMaxBackendRelay // reply octets kept for the client
)

// replyLine is one backend reply line: "ddd-text" (more follow), "ddd
// text" or "ddd" (the last).
type replyLine struct {
	code int
	last bool
	text []byte // after the separator, terminator removed
	line []byte // the whole line including its terminator
}

func parseReplyLine(line []byte) (replyLine, bool) {
	r := replyLine{line: line}
	l := eol.Trim(line)
	if len(l) < 3 || !isDigit(l[0]) || !isDigit(l[1]) || !isDigit(l[2]) || l[0] < '2' || l[0] > '5' {
		return r, false
	}
	r.code = int(l[0]-'0')*100 + int(l[1]-'0')*10 + int(l[2]-'0')
	switch {
	case len(l) == 3:
		r.last = true
	case l[3] == ' ':
		r.last, r.text = true, l[4:]
	case l[3] == '-':
		r.text = l[4:]
	default:
		return r, false
	}
	return r, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// extensions is what an EHLO reply said that the replay (and the Relay's
// MAIL replay) needs.
type extensions struct {
	startTLS bool
	auth     []string // mechanisms, upper-cased
	xclient  []string // XCLIENT attribute names; nil: not advertised
	size     bool     // SIZE (RFC 1870)
	eightBit bool     // 8BITMIME (RFC 6152)
	smtpUTF8 bool     // SMTPUTF8 (RFC 6531)
}

// parseExtension reads one EHLO reply line after the first (which names
// the server). "AUTH=PLAIN LOGIN", the pre-RFC spelling, counts too.
func (e *extensions) parseExtension(text []byte) {
	s := string(text)
	kw, params, _ := strings.Cut(s, " ")
	switch {
	case strings.EqualFold(kw, "STARTTLS"):
		e.startTLS = true
	case strings.EqualFold(kw, "AUTH"), len(kw) > 5 && strings.EqualFold(kw[:5], "AUTH="):
		if len(kw) > 5 {
			params = kw[5:] + " " + params
		}
		for _, m := range strings.Fields(params) {
			m = strings.ToUpper(m)
			if len(e.auth) < 32 && !contains(e.auth, m) {
				e.auth = append(e.auth, m)
			}
		}
	case strings.EqualFold(kw, "SIZE"):
		e.size = true
	case strings.EqualFold(kw, "8BITMIME"):
		e.eightBit = true
	case strings.EqualFold(kw, "SMTPUTF8"):
		e.smtpUTF8 = true
	case strings.EqualFold(kw, "XCLIENT"):
		e.xclient = forward.ParseXClientCapability(s)
		if e.xclient == nil {
			e.xclient = []string{}
		}
	}
}

func (e *extensions) hasAuth(mech string) bool { return contains(e.auth, mech) }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// frameReplyLine finds the end of one reply line in in; scan is how far
// earlier calls looked. end is 0 while more input is needed.
func frameReplyLine(in []byte, scan int) (end, nextScan int, tooLong bool) {
	if scan > len(in) {
		scan = 0
	}
	i := bytes.IndexByte(in[scan:], '\n')
	if i < 0 {
		if len(in) > maxReplyLine {
			return 0, 0, true
		}
		return 0, len(in), false
	}
	end = scan + i + 1
	if end > maxReplyLine+2 {
		return 0, 0, true
	}
	return end, 0, false
}
