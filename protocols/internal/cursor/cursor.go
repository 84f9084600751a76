// Package cursor walks one complete IMAP or ManageSieve command or
// response: the reading both grammars share (RFC 3501 and RFC 5804 have
// the same atoms, spaces, line ends and literals).
package cursor

import "bytes"

// Cursor is a position in B, a whole command or response with its
// literals inline.
type Cursor struct {
	B   []byte
	Pos int
}

// Peek returns the octet at the position, 0 at the end.
func (r *Cursor) Peek() byte {
	if r.Pos < len(r.B) {
		return r.B[r.Pos]
	}
	return 0
}

// SP consumes one space.
func (r *Cursor) SP() bool {
	if r.Peek() == ' ' {
		r.Pos++
		return true
	}
	return false
}

// EOL reports whether only the line terminator (CRLF or bare LF) is left.
func (r *Cursor) EOL() bool {
	rest := r.B[r.Pos:]
	return len(rest) == 0 || string(rest) == "\r\n" || string(rest) == "\n"
}

// Take consumes the octets ok accepts and returns them.
func (r *Cursor) Take(ok func(byte) bool) []byte {
	start := r.Pos
	for r.Pos < len(r.B) && ok(r.B[r.Pos]) {
		r.Pos++
	}
	return r.B[start:r.Pos]
}

// Literal reads a literal: the rest of the line, which header must accept
// as a whole literal header giving n, the line end and n octets.
func (r *Cursor) Literal(header func(line []byte) (n int64, ok bool)) ([]byte, bool) {
	end := bytes.IndexByte(r.B[r.Pos:], '\n')
	if end < 0 {
		return nil, false
	}
	n, ok := header(bytes.TrimSuffix(r.B[r.Pos:r.Pos+end], []byte("\r")))
	if !ok {
		return nil, false
	}
	start := r.Pos + end + 1
	if int64(len(r.B)-start) < n {
		return nil, false
	}
	r.Pos = start + int(n)
	return r.B[start:r.Pos], true
}
