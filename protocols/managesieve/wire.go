package managesieve

import (
	"bytes"
	"strconv"

	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols/internal/ascii"
)

// ManageSieve syntax (RFC 5804 section 4): atoms, quoted strings with \"
// and \\ escapes, literals {n} / {n+} followed by CRLF and n octets.

// maxQuoted bounds a quoted string the reader accepts.
const maxQuoted = limits.SieveMaxQuoted

// reader walks one complete command or response (literals inline).
type reader struct {
	b   []byte
	pos int
}

func (r *reader) peek() byte {
	if r.pos < len(r.b) {
		return r.b[r.pos]
	}
	return 0
}

// sp consumes one space.
func (r *reader) sp() bool {
	if r.peek() == ' ' {
		r.pos++
		return true
	}
	return false
}

// eol reports whether only the line terminator is left.
func (r *reader) eol() bool {
	rest := r.b[r.pos:]
	return len(rest) == 0 || string(rest) == "\r\n" || string(rest) == "\n"
}

func isAtomChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', '}', '"', '\\', '%', '*', ']':
		return false
	}
	return true
}

// atom reads an atom.
func (r *reader) atom() []byte {
	start := r.pos
	for r.pos < len(r.b) && isAtomChar(r.b[r.pos]) {
		r.pos++
	}
	return r.b[start:r.pos]
}

// str reads a quoted string or a literal. ok is false on a syntax error.
func (r *reader) str() (s []byte, ok bool) {
	switch r.peek() {
	case '"':
		return r.quoted()
	case '{':
		return r.literal()
	}
	return nil, false
}

func (r *reader) quoted() ([]byte, bool) {
	r.pos++ // opening quote
	var out []byte
	for r.pos < len(r.b) {
		c := r.b[r.pos]
		r.pos++
		switch c {
		case '"':
			if out == nil {
				out = []byte{}
			}
			return out, true
		case '\\':
			if r.pos >= len(r.b) || (r.b[r.pos] != '"' && r.b[r.pos] != '\\') {
				return nil, false
			}
			c = r.b[r.pos]
			r.pos++
		case '\r', '\n', 0:
			return nil, false
		}
		if len(out) >= maxQuoted {
			return nil, false
		}
		out = append(out, c)
	}
	return nil, false
}

func (r *reader) literal() ([]byte, bool) {
	end := bytes.IndexByte(r.b[r.pos:], '\n')
	if end < 0 {
		return nil, false
	}
	line := bytes.TrimSuffix(r.b[r.pos:r.pos+end], []byte("\r"))
	n, ok := literalSuffix(line)
	if !ok || len(line) != len(literalHeader(line)) {
		return nil, false
	}
	start := r.pos + end + 1
	if int64(len(r.b)-start) < n {
		return nil, false
	}
	r.pos = start + int(n)
	return r.b[start:r.pos], true
}

// literalSuffix reports whether line ends with a literal header "{n}" or
// "{n+}" and returns n.
func literalSuffix(line []byte) (int64, bool) {
	h := literalHeader(line)
	if h == nil {
		return 0, false
	}
	digits := bytes.TrimSuffix(h[1:len(h)-1], []byte("+"))
	n, err := strconv.ParseInt(string(digits), 10, 64)
	return n, err == nil
}

// literalHeader returns the "{n}" or "{n+}" at the end of line, or nil.
func literalHeader(line []byte) []byte {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return nil
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return nil
	}
	digits := bytes.TrimSuffix(line[i+1:len(line)-1], []byte("+"))
	if len(digits) == 0 || len(digits) > 10 {
		return nil
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return nil
		}
	}
	return line[i:]
}

// appendString appends s as a quoted string, or as a literal when it
// cannot be quoted (CR, LF, NUL, or too long).
func appendString(out []byte, s []byte) []byte {
	if len(s) <= 1024 && !bytes.ContainsAny(s, "\r\n\x00") {
		out = append(out, '"')
		for _, c := range s {
			if c == '"' || c == '\\' {
				out = append(out, '\\')
			}
			out = append(out, c)
		}
		return append(out, '"')
	}
	out = append(out, '{')
	out = strconv.AppendInt(out, int64(len(s)), 10)
	out = append(out, "}\r\n"...)
	return append(out, s...)
}

// quotableText keeps what configured text may hold inside a quoted
// string: no controls, no quote, no backslash.
func quotableText(c byte) bool { return ascii.NotControl(c) && c != '"' && c != '\\' }
