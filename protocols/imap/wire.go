package imap

import (
	"bytes"
	"errors"

	"github.com/switchyard-mail/switchyard/protocols/internal/cursor"
)

// Wire syntax shared by both machines (RFC 3501 section 9, RFC 9051
// section 9). Commands are parsed only once the framer has checked that a
// whole command, literals included, is present.

var errSyntax = errors.New("syntax error")

// isAtomChar reports whether c is an ATOM-CHAR: any CHAR except
// atom-specials ( ) { SP CTL % * " \ ].
func isAtomChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', '%', '*', '"', '\\', ']':
		return false
	}
	return true
}

// isTagChar: ASTRING-CHAR except "+".
func isTagChar(c byte) bool { return c != '+' && (isAtomChar(c) || c == ']') }

// isAstringChar also accepts 8-bit octets: clients put UTF-8 user names in
// atoms and servers (Dovecot among them) accept them.
func isAstringChar(c byte) bool { return isAtomChar(c) || c == ']' || c >= 0x80 }

// reader walks one complete command or response.
type reader struct{ cursor.Cursor }

func (r *reader) tag() []byte  { return r.Take(isTagChar) }
func (r *reader) atom() []byte { return r.Take(isAtomChar) }

// word reads up to the next SP or line end (SASL initial responses).
func (r *reader) word() []byte {
	return r.Take(func(c byte) bool { return c != ' ' && c != '\r' && c != '\n' })
}

// astring reads an atom, a quoted string or a literal.
func (r *reader) astring() ([]byte, error) {
	switch r.Peek() {
	case '"':
		return r.quoted()
	case '{':
		return r.literal()
	}
	a := r.Take(isAstringChar)
	if len(a) == 0 {
		return nil, errSyntax
	}
	return a, nil
}

// nstring reads NIL, a quoted string or a literal. Atoms are accepted too:
// some clients send ID values unquoted.
func (r *reader) nstring() (v []byte, isNil bool, err error) {
	if c := r.Peek(); c != '"' && c != '{' {
		a := r.Take(isAstringChar)
		if len(a) == 0 {
			return nil, false, errSyntax
		}
		return a, bytes.EqualFold(a, []byte("NIL")), nil
	}
	v, err = r.astring()
	return v, false, err
}

// quoted reads a quoted string; only \" and \\ are valid escapes.
func (r *reader) quoted() ([]byte, error) {
	r.Pos++ // opening quote
	start := r.Pos
	escaped := false
	for ; r.Pos < len(r.B); r.Pos++ {
		switch c := r.B[r.Pos]; c {
		case '"':
			v := r.B[start:r.Pos]
			r.Pos++
			if escaped {
				return unescape(v), nil
			}
			return v, nil
		case '\\':
			r.Pos++
			if r.Pos >= len(r.B) || (r.B[r.Pos] != '"' && r.B[r.Pos] != '\\') {
				return nil, errSyntax
			}
			escaped = true
		case '\r', '\n', 0:
			return nil, errSyntax
		}
	}
	return nil, errSyntax
}

func unescape(v []byte) []byte {
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' {
			i++
		}
		out = append(out, v[i])
	}
	return out
}

// literal reads {n} or {n+}, the line end and n octets.
func (r *reader) literal() ([]byte, error) {
	v, ok := r.Literal(func(hdr []byte) (int64, bool) {
		n, _, ok := literalSuffix(hdr)
		return n, ok && len(hdr) == literalHeaderLen(hdr)
	})
	if !ok {
		return nil, errSyntax
	}
	return v, nil
}

// literalHeaderLen returns the length of the "{n}" / "{n+}" suffix of
// line, which literalSuffix has accepted.
func literalHeaderLen(line []byte) int {
	return len(line) - bytes.LastIndexByte(line, '{')
}

// maxLiteralDigits bounds the size field; larger values are refused as too
// big without overflowing.
const maxLiteralDigits = 10

// literalSuffix reports whether line (without its terminator) ends with a
// literal header {n} or {n+}, and returns n and whether it synchronizes.
func literalSuffix(line []byte) (n int64, sync bool, ok bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false, false
	}
	i := len(line) - 2
	sync = true
	if line[i] == '+' {
		sync = false
		i--
	}
	end := i + 1
	for i >= 0 && line[i] >= '0' && line[i] <= '9' {
		i--
	}
	digits := line[i+1 : end]
	if i < 0 || line[i] != '{' || len(digits) == 0 {
		return 0, false, false
	}
	if len(digits) > maxLiteralDigits {
		return 1 << 40, sync, true
	}
	for _, d := range digits {
		n = n*10 + int64(d-'0')
	}
	return n, sync, true
}

// canQuote reports whether s can go in a quoted string: no CR, LF or NUL,
// and 7-bit only (IMAP4rev1 quoted strings are 7-bit).
func canQuote(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 0 || c == '\r' || c == '\n' || c >= 0x80 {
			return false
		}
	}
	return true
}

// appendQuoted appends s as a quoted string, escaping " and \ and
// dropping CR, LF and NUL (callers use canQuote when that matters).
func appendQuoted(out []byte, s string) []byte {
	out = append(out, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			out = append(out, '\\', c)
		case '\r', '\n', 0:
		default:
			out = append(out, c)
		}
	}
	return append(out, '"')
}
