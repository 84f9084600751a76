package managesieve

import (
	"bytes"
	"strconv"

	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols/internal/ascii"
	"github.com/switchyard-mail/switchyard/protocols/internal/cursor"
)

// ManageSieve syntax (RFC 5804 section 4): atoms, quoted strings with \"
// and \\ escapes, literals {n} / {n+} followed by CRLF and n octets.

// maxQuoted bounds a quoted string the reader accepts.
const maxQuoted = limits.SieveMaxQuoted

// reader walks one complete command or response (literals inline).
type reader struct{ cursor.Cursor }

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
func (r *reader) atom() []byte { return r.Take(isAtomChar) }

// str reads a quoted string or a literal. ok is false on a syntax error.
func (r *reader) str() (s []byte, ok bool) {
	switch r.Peek() {
	case '"':
		return r.quoted()
	case '{':
		return r.literal()
	}
	return nil, false
}

func (r *reader) quoted() ([]byte, bool) {
	r.Pos++ // opening quote
	var out []byte
	for r.Pos < len(r.B) {
		c := r.B[r.Pos]
		r.Pos++
		switch c {
		case '"':
			if out == nil {
				out = []byte{}
			}
			return out, true
		case '\\':
			if r.Pos >= len(r.B) || (r.B[r.Pos] != '"' && r.B[r.Pos] != '\\') {
				return nil, false
			}
			c = r.B[r.Pos]
			r.Pos++
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
	return r.Literal(func(line []byte) (int64, bool) {
		n, ok := literalSuffix(line)
		return n, ok && len(line) == len(literalHeader(line))
	})
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
