package pop3

import (
	"bytes"
	"strings"

	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
)

// Bounds on what a backend may send before the verdict.
const (
	maxResponseLine = limits.POP3MaxBackendLine // one status or CAPA line
	maxCapaLines    = limits.POP3MaxCapaLines   // lines of one CAPA response
)

// frameResponse finds the end of one status or CAPA line (eol.Frame).
func frameResponse(in []byte, scan int) (end, nextScan int, tooLong bool) {
	return eol.Frame(in, scan, maxResponseLine)
}

// reply is one backend status line: +OK, -ERR or a "+ " continuation.
type reply struct {
	kind byte   // '+' +OK, '-' -ERR, 'c' continuation
	code []byte // RFC 2449 response code inside [...], if any
	line []byte // the whole line, terminator removed
}

func parseReply(line []byte) (reply, bool) {
	r := reply{line: line}
	switch {
	case hasPrefixFold(line, "+OK") && (len(line) == 3 || line[3] == ' '):
		r.kind = '+'
		r.code = responseCode(line[3:])
	case hasPrefixFold(line, "-ERR") && (len(line) == 4 || line[4] == ' '):
		r.kind = '-'
		r.code = responseCode(line[4:])
	case len(line) >= 1 && line[0] == '+' && (len(line) == 1 || line[1] == ' '):
		r.kind = 'c'
	default:
		return r, false
	}
	return r, true
}

// responseCode returns the text inside a leading " [...]", if any.
func responseCode(text []byte) []byte {
	if len(text) > 2 && text[0] == ' ' && text[1] == '[' {
		if i := bytes.IndexByte(text, ']'); i > 2 {
			return text[2:i]
		}
	}
	return nil
}

func hasPrefixFold(b []byte, p string) bool {
	return len(b) >= len(p) && bytes.EqualFold(b[:len(p)], []byte(p))
}

// capaSet is what the replay needs from a backend's CAPA response.
type capaSet struct {
	stls       bool
	user       bool
	pipelining bool
	utf8       bool     // RFC 6856 UTF8, with or without USER
	mechs      []string // SASL mechanisms, upper-cased
	xclient    []string // XCLIENT attributes; nil: not advertised
}

// addLine records one line of a CAPA response.
func (c *capaSet) addLine(line []byte) {
	fields := strings.Fields(string(line))
	if len(fields) == 0 {
		return
	}
	switch strings.ToUpper(fields[0]) {
	case "STLS":
		c.stls = true
	case "USER":
		c.user = true
	case "PIPELINING":
		c.pipelining = true
	case "UTF8":
		c.utf8 = true
	case "SASL":
		for _, m := range fields[1:] {
			c.mechs = append(c.mechs, strings.ToUpper(m))
		}
	case "XCLIENT":
		c.xclient = forward.ParseXClientCapability(string(line))
	}
}

func (c *capaSet) hasMech(m string) bool {
	for _, x := range c.mechs {
		if x == m {
			return true
		}
	}
	return false
}
