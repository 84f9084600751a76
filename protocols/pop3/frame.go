package pop3

import (
	"bytes"

	"github.com/switchyard-mail/switchyard/protocols/internal/ascii"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
	"github.com/switchyard-mail/switchyard/protocols/internal/frontend"
)

// The framer finds where one client line ends. It consumes nothing itself:
// until a line is complete the engine keeps the bytes and hands them back
// on the next Feed, so the framer only remembers how far it has looked.
// That makes a byte-at-a-time Feed behave exactly like a single one.

type frameResult uint8

const (
	frameMore    frameResult = iota // need more input
	frameDone                       // a whole line is in in[:end]
	frameTooLong                    // over the limit: cannot resync
)

// frameLine looks for the end of the line at the start of in.
func (s *Server) frameLine(in []byte) (int, frameResult) {
	if s.scan > len(in) {
		s.scan = 0 // the engine handed back less than before: rescan
	}
	i := bytes.IndexByte(in[s.scan:], '\n')
	if i < 0 {
		s.scan = len(in)
		// -1: the last octet may be the CR of the CRLF.
		if len(in)-1 > s.lineLimit(in) {
			s.scan = 0
			return 0, frameTooLong
		}
		return 0, frameMore
	}
	end := s.scan + i + 1
	s.scan = 0
	if len(eol.Trim(in[:end])) > s.lineLimit(in) {
		return 0, frameTooLong
	}
	return end, frameDone
}

// lineLimit is MaxAuthLine for SASL responses and AUTH command lines
// (they carry base64 tokens), MaxLine for anything else. It only looks at
// the first five octets, so the answer does not depend on the chunking.
func (s *Server) lineLimit(in []byte) int {
	if s.State == frontend.SASL || len(in) >= 5 && bytes.EqualFold(in[:5], []byte("AUTH ")) {
		return s.cfg.MaxAuthLine
	}
	return s.cfg.MaxLine
}

// splitCommand returns the upper-cased keyword of a command line (at most
// len(buf) octets; longer keywords come back empty) and its argument text:
// everything after the first space.
func splitCommand(line []byte, buf []byte) (name, args []byte, hasArgs bool) {
	kw := line
	if i := bytes.IndexByte(line, ' '); i >= 0 {
		kw, args, hasArgs = line[:i], line[i+1:], true
	}
	return ascii.Upper(buf, kw), args, hasArgs
}
