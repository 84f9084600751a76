// Package imapwire reads the two pieces of IMAP's wire format that the
// bench's client and its mock server both read: a line and the literal
// announced at its end.
package imapwire

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
)

// ReadLine reads one line from br without its CRLF (a bare LF is
// accepted); the result is only valid until the next read. A line longer
// than limit bytes, line end included, is the error tooLong; EOF in the
// middle of a line is io.ErrUnexpectedEOF.
func ReadLine(br *bufio.Reader, limit int, tooLong error) ([]byte, error) {
	var acc []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(acc)+len(frag) > limit {
			return nil, tooLong
		}
		if err == nil {
			if acc != nil {
				frag = append(acc, frag...)
			}
			frag = frag[:len(frag)-1]
			if n := len(frag); n > 0 && frag[n-1] == '\r' {
				frag = frag[:n-1]
			}
			return frag, nil
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF && len(acc)+len(frag) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		acc = append(acc, frag...)
	}
}

// LiteralSize returns n if line ends with {n}.
func LiteralSize(line []byte) (int64, bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(line[i+1:len(line)-1]), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
