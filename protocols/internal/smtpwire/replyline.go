package smtpwire

import (
	"strings"

	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
)

// Bounds on what a backend may send before the login completes.
const (
	MaxReplyLine  = limits.SMTPMaxReplyLine    // one reply line
	MaxReplyLines = limits.SMTPMaxReplyLines   // lines of one multi-line reply
	MaxRelay      = limits.SMTPMaxBackendRelay // reply octets kept for the client
)

// Reply is one backend reply line: "ddd-text" (more follow), "ddd
// text" or "ddd" (the last).
type Reply struct {
	Code int
	Last bool
	Text []byte // after the separator, terminator removed
	Line []byte // the whole line including its terminator
}

// ParseReply reads one reply line (ok false: not a reply line).
func ParseReply(line []byte) (Reply, bool) {
	r := Reply{Line: line}
	l := eol.Trim(line)
	if len(l) < 3 || !isDigit(l[0]) || !isDigit(l[1]) || !isDigit(l[2]) || l[0] < '2' || l[0] > '5' {
		return r, false
	}
	r.Code = int(l[0]-'0')*100 + int(l[1]-'0')*10 + int(l[2]-'0')
	switch {
	case len(l) == 3:
		r.Last = true
	case l[3] == ' ':
		r.Last, r.Text = true, l[4:]
	case l[3] == '-':
		r.Text = l[4:]
	default:
		return r, false
	}
	return r, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Extensions is what an EHLO reply said that the replay (and the Relay's
// MAIL replay) needs.
type Extensions struct {
	StartTLS bool
	Auth     []string // mechanisms, upper-cased
	XClient  []string // XCLIENT attribute names; nil: not advertised
	Size     bool     // SIZE (RFC 1870)
	EightBit bool     // 8BITMIME (RFC 6152)
	SMTPUTF8 bool     // SMTPUTF8 (RFC 6531)
}

// Parse reads one EHLO reply line after the first (which names
// the server). "AUTH=PLAIN LOGIN", the pre-RFC spelling, counts too.
func (e *Extensions) Parse(text []byte) {
	s := string(text)
	kw, params, _ := strings.Cut(s, " ")
	switch {
	case strings.EqualFold(kw, "STARTTLS"):
		e.StartTLS = true
	case strings.EqualFold(kw, "AUTH"), len(kw) > 5 && strings.EqualFold(kw[:5], "AUTH="):
		if len(kw) > 5 {
			params = kw[5:] + " " + params
		}
		for _, m := range strings.Fields(params) {
			m = strings.ToUpper(m)
			if len(e.Auth) < 32 && !contains(e.Auth, m) {
				e.Auth = append(e.Auth, m)
			}
		}
	case strings.EqualFold(kw, "SIZE"):
		e.Size = true
	case strings.EqualFold(kw, "8BITMIME"):
		e.EightBit = true
	case strings.EqualFold(kw, "SMTPUTF8"):
		e.SMTPUTF8 = true
	case strings.EqualFold(kw, "XCLIENT"):
		e.XClient = forward.ParseXClientCapability(s)
		if e.XClient == nil {
			e.XClient = []string{}
		}
	}
}

// HasAuth: the reply offered AUTH mech (upper case).
func (e *Extensions) HasAuth(mech string) bool { return contains(e.Auth, mech) }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// FrameReply finds the end of one reply line in in; scan is how far
// earlier calls looked. end is 0 while more input is needed.
func FrameReply(in []byte, scan int) (end, nextScan int, tooLong bool) {
	return eol.Frame(in, scan, MaxReplyLine)
}
