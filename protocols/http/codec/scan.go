package codec

import "bytes"

// headScanner finds where a head ends in a buffer the engine grows between
// calls. It copies nothing and remembers only how far it has looked, so
// the engine hands back the same bytes plus whatever arrived, and feeding
// one byte at a time costs no more than feeding the head at once and
// gives the same verdict: each complete line is judged once, in order,
// and a partial line is refused early only when its completion could not
// help (it is already over a limit).
type headScanner struct {
	start int // first octet of the start line (after skipped empty lines)
	off   int // first octet of the line not yet complete
	lines int // complete lines from start on, the start line included
}

type scanRules struct {
	Limits              // MaxHead, MaxFields, MaxFieldLine (with defaults)
	maxStartLine int    // limit for the start line
	startTooLong *Error // its refusal
	skipEmpty    bool   // ignore empty lines before a request line (RFC 9112 2.2)
}

// next scans buf with the rules r and, once it holds a whole head, returns
// the head (from its start line), its end in buf and its number of field
// lines; a nil head while more is needed or on a refusal. After a verdict
// the scanner is ready for the next message.
func (s *headScanner) next(buf []byte, r *scanRules) (head []byte, end, nf int, err error) {
	end, err = s.scan(buf, r)
	if err == nil && end > 0 {
		head, nf = buf[s.start:end], s.lines-1
	}
	if err != nil || end > 0 {
		*s = headScanner{}
	}
	return head, end, nf, err
}

// scan returns the end of the head (just past its final CRLF) once buf
// holds it, 0 while more is needed, or a refusal.
func (s *headScanner) scan(buf []byte, r *scanRules) (int, error) {
	if s.off > len(buf) {
		*s = headScanner{} // the engine handed back less: start over
	}
	for {
		limit, tooLong := r.MaxFieldLine, errFieldTooLong
		if s.lines == 0 {
			limit, tooLong = r.maxStartLine, r.startTooLong
		}
		rest := buf[s.off:]
		i := bytes.IndexByte(rest, '\n')
		// Refuse a line before its end once no end could save it. The
		// verdict must not depend on how far the buffer reaches, so it is
		// whichever limit a growing buffer would cross first: the line's
		// (its octets, plus one for a CR that may end it) or the head's.
		seen := len(buf)
		if i >= 0 {
			seen = s.off + i // all but the LF
		}
		lineAt, headAt := s.off+limit+2, r.MaxHead+1
		if seen >= min(lineAt, headAt) {
			if headAt <= lineAt {
				return 0, errHeadTooLarge
			}
			return 0, tooLong
		}
		if i < 0 {
			return 0, nil
		}
		end := s.off + i + 1
		if end > r.MaxHead {
			return 0, errHeadTooLarge
		}
		n, crlf := i, i > 0 && rest[i-1] == '\r'
		if crlf {
			n--
		}
		if n > limit {
			return 0, tooLong
		}
		if !crlf {
			return 0, errBareLF
		}
		s.off = end
		if n == 0 {
			if s.lines > 0 {
				return end, nil
			}
			if !r.skipEmpty {
				return 0, errEmptyStatusLine
			}
			s.start = end
			continue
		}
		s.lines++
		if s.lines-1 > r.MaxFields {
			return 0, errTooManyFields
		}
	}
}
