package managesieve

import (
	"bytes"

	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
)

// The framer finds where one command (or response) ends: its lines and the
// literals ending them. ManageSieve clients send literals without waiting
// for a continuation ({n+}; {n} is taken the same way), so nothing is ever
// written while framing. The framer consumes nothing itself: until a
// command is complete the engine keeps the bytes and hands them back, so it
// only remembers how far it looked, and a byte-at-a-time Feed behaves
// exactly like a single one.
type framer struct {
	seg  int // where the current line segment starts (after a literal)
	scan int // octets of that segment already known to hold no LF
}

type frameResult uint8

const (
	frameMore    frameResult = iota // need more input
	frameDone                       // a whole command is in in[:end]
	frameTooLong                    // over the limit: cannot resync
)

// frame looks for the end of the command at the start of in; limit bounds
// the command without its final line terminator.
func (f *framer) frame(in []byte, limit int) (int, frameResult) {
	for {
		if f.seg > len(in) {
			return 0, frameMore // literal octets still on their way
		}
		from := f.seg + f.scan
		if from > len(in) {
			*f = framer{} // the engine handed back less than before: rescan
			continue
		}
		i := bytes.IndexByte(in[from:], '\n')
		if i < 0 {
			f.scan = len(in) - f.seg
			// -1: the last octet may be the CR of the CRLF.
			if len(in)-1 > limit {
				*f = framer{}
				return 0, frameTooLong
			}
			return 0, frameMore
		}
		lf := from + i
		line := bytes.TrimSuffix(in[f.seg:lf], []byte("\r"))
		n, isLit := literalSuffix(line)
		if !isLit {
			*f = framer{}
			if len(eol.Trim(in[:lf+1])) > limit {
				return 0, frameTooLong
			}
			return lf + 1, frameDone
		}
		if int64(lf)+1+n > int64(limit)+2 {
			*f = framer{}
			return 0, frameTooLong
		}
		f.seg, f.scan = lf+1+int(n), 0
	}
}
