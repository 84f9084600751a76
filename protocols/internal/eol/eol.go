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

// Frame finds the end of the line at the start of in, LF included, for a
// peer whose lines may hold max octets before the CRLF. scan is how far
// earlier calls looked (nextScan, kept while the line is incomplete);
// end is 0 while more input is needed. tooLong: over max, no resync.
func Frame(in []byte, scan, max int) (end, nextScan int, tooLong bool) {
	if scan > len(in) {
		scan = 0 // handed back less than before: rescan
	}
	i := bytes.IndexByte(in[scan:], '\n')
	if i < 0 {
		// A CR at the end may be the first half of the CRLF.
		if len(bytes.TrimSuffix(in, []byte("\r"))) > max {
			return 0, 0, true
		}
		return 0, len(in), false
	}
	end = scan + i + 1
	// The line without its CRLF or bare LF, so that a line is judged the
	// same whether it came whole or its last octets came apart.
	if len(Trim(in[:end])) > max {
		return 0, 0, true
	}
	return end, 0, false
}
