package smtp

import (
	"bytes"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
)

// The framer finds where one client line ends. It consumes nothing itself:
// until a line is complete the engine keeps the bytes and hands them back,
// prefixed, on the next Feed, so the framer only remembers how far it has
// looked. A line over the limit is consumed and discarded up to its LF,
// then refused; the dialogue goes on (as Postfix does), so the machine
// never needs more than the limit buffered.

type frameResult uint8

const (
	frameMore    frameResult = iota // need more input
	frameDone                       // a whole line is in in[:end]
	frameTooLong                    // over the limit; in[:end] is all of it, or all of in (discarding)
)

// lineFramer is the framer's memory, shared by Server and Relay.
type lineFramer struct {
	scan    int  // octets of the pending line known to hold no LF
	discard bool // skipping the rest of a line that was too long
}

// frameLine looks for the end of the line at the start of in. limit is
// the longest line accepted, CRLF excluded.
func (s *lineFramer) frameLine(in []byte, limit func([]byte) int) (int, frameResult) {
	if s.scan > len(in) {
		s.scan = 0 // the engine handed back less than before: rescan
	}
	i := bytes.IndexByte(in[s.scan:], '\n')
	if i < 0 {
		s.scan = len(in)
		// +1: the line may end with the CR of its CRLF.
		if len(in) > limit(in)+1 {
			s.scan = 0
			s.discard = true
			return len(in), frameTooLong
		}
		return 0, frameMore
	}
	end := s.scan + i + 1
	s.scan = 0
	if len(eol.Trim(in[:end])) > limit(in) {
		return end, frameTooLong
	}
	return end, frameDone
}

// skipLine consumes the rest of a line that was too long. It reports
// whether its end was found.
func (s *lineFramer) skipLine(in []byte) (int, bool) {
	i := bytes.IndexByte(in, '\n')
	if i < 0 {
		return len(in), false
	}
	s.discard = false
	return i + 1, true
}

// commandLimit: AUTH lines carry base64 tokens and may be longer. in holds
// at least MaxLine (>= 510) octets whenever the answer matters, so the
// verb is always there to look at.
func (s *Server) commandLimit(in []byte) int {
	if len(in) >= 5 && bytes.EqualFold(in[:5], []byte("AUTH ")) {
		return s.cfg.MaxAuthLine
	}
	return s.cfg.MaxLine
}

func (s *Server) saslLimit([]byte) int { return s.cfg.MaxAuthLine }
