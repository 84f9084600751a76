package eol

import "bytes"

// The framer finds where one client line ends. It consumes nothing itself:
// until a line is complete the engine keeps the bytes and hands them back,
// prefixed, on the next Feed, so the framer only remembers how far it has
// looked. A line over the limit is consumed and discarded up to its LF,
// then refused; SMTP goes on with the dialogue (as Postfix does), so the
// machine never needs more than the limit buffered. (POP3 closes instead:
// it ignores Discard.)

// FrameResult says what FrameLine found.
type FrameResult uint8

const (
	FrameMore    FrameResult = iota // need more input
	FrameDone                       // a whole line is in in[:end]
	FrameTooLong                    // over the limit; in[:end] is all of it, or all of in (discarding)
)

// LineFramer is the framer's memory, kept by a client-facing machine
// (the pop3 and smtp Servers, the smtprelay Relay).
type LineFramer struct {
	Scan    int  // octets of the pending line known to hold no LF
	Discard bool // skipping the rest of a line that was too long
}

// FrameLine looks for the end of the line at the start of in. limit is
// the longest line accepted, CRLF excluded.
func (s *LineFramer) FrameLine(in []byte, limit func([]byte) int) (int, FrameResult) {
	if s.Scan > len(in) {
		s.Scan = 0 // the engine handed back less than before: rescan
	}
	i := bytes.IndexByte(in[s.Scan:], '\n')
	if i < 0 {
		s.Scan = len(in)
		// +1: the line may end with the CR of its CRLF.
		if len(in) > limit(in)+1 {
			s.Scan = 0
			s.Discard = true
			return len(in), FrameTooLong
		}
		return 0, FrameMore
	}
	end := s.Scan + i + 1
	s.Scan = 0
	if len(Trim(in[:end])) > limit(in) {
		return end, FrameTooLong
	}
	return end, FrameDone
}

// SkipLine consumes the rest of a line that was too long. It reports
// whether its end was found.
func (s *LineFramer) SkipLine(in []byte) (int, bool) {
	i := bytes.IndexByte(in, '\n')
	if i < 0 {
		return len(in), false
	}
	s.Discard = false
	return i + 1, true
}
