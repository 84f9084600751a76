// Package eol holds the line-end helpers every protocol package needs.
package eol

import (
	"bytes"
	"fmt"
)

// Trim drops a trailing LF and then a CR.
func Trim(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}

// Quote renders a peer's line for an error message: without its line end,
// at most 120 bytes, escaped.
func Quote(l []byte) string {
	l = Trim(l)
	if len(l) > 120 {
		l = l[:120]
	}
	return fmt.Sprintf("%q", l)
}

// AppendLine appends a peer's line to dst with exactly one CRLF.
func AppendLine(dst, line []byte) []byte {
	dst = append(dst, Trim(line)...)
	return append(dst, "\r\n"...)
}
