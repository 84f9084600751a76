package imap

import (
	"bytes"

	"github.com/switchyard-mail/switchyard/protocols/internal/ascii"
	"github.com/switchyard-mail/switchyard/protocols/internal/cursor"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
)

// The framer finds where one client command ends: its lines and the
// literals between them. It consumes nothing itself: until a command is
// complete the engine keeps the bytes and hands them back, prefixed, on the
// next Feed, so the framer only remembers how far it has looked. That keeps
// the machine's own state to a few integers and makes a byte-at-a-time
// Feed behave exactly like a single one.
type framer struct {
	seg   int  // where the current line segment starts (after a literal)
	scan  int  // octets of that segment already known to hold no LF
	lineN int  // line octets (terminators excluded) in earlier segments
	litN  int  // literal octets so far in this command
	auth  int8 // 1: the command is AUTHENTICATE (longer lines), -1: it is not, 0: unknown
}

type frameResult uint8

const (
	frameMore          frameResult = iota // need more input
	frameDone                             // a whole command is in in[:end]
	frameTooLong                          // a line is over the limit: cannot resync
	frameLitTooBig                        // synchronizing literal over the limit; in[:end] is the line
	frameLitTooBigPlus                    // non-synchronizing literal over the limit: cannot resync
	frameLitRefused                       // synchronizing literal in a command that takes none; in[:end] is the line
)

const contReady = "+ Ready for literal data\r\n"

// frameCommand looks for the end of the command at the start of in. It may
// append a continuation request to out for a synchronizing literal, exactly
// once per literal whatever the chunking of the input.
func (s *Server) frameCommand(in, out []byte) (int, frameResult, []byte) {
	f := &s.fr
	for {
		if f.seg+f.scan > len(in) {
			if f.scan == 0 {
				return 0, frameMore, out // literal octets still on their way
			}
			// The engine handed back less than before (it should not):
			// start over rather than trust stale offsets.
			*f = framer{}
			continue
		}
		from := f.seg + f.scan
		i := bytes.IndexByte(in[from:], '\n')
		if i < 0 {
			f.scan = len(in) - f.seg
			// +1: the segment may end with the CR of its CRLF.
			if s.overLimit(in, f.lineN+f.scan-1) {
				*f = framer{}
				return 0, frameTooLong, out
			}
			return 0, frameMore, out
		}
		lf := from + i
		line := bytes.TrimSuffix(in[f.seg:lf], []byte("\r"))
		if s.overLimit(in, f.lineN+len(line)) {
			*f = framer{}
			return 0, frameTooLong, out
		}
		size, sync, isLit := literalSuffix(line)
		if !isLit {
			*f = framer{}
			return lf + 1, frameDone, out
		}
		if size > int64(s.cfg.MaxLiteral-f.litN) {
			*f = framer{}
			if sync {
				return lf + 1, frameLitTooBig, out
			}
			return lf + 1, frameLitTooBigPlus, out
		}
		if sync {
			if !s.takesLiterals(in) {
				*f = framer{}
				return lf + 1, frameLitRefused, out
			}
			out = append(out, contReady...)
		}
		f.lineN += len(line)
		f.litN += int(size)
		f.seg = lf + 1 + int(size)
		f.scan = 0
	}
}

// overLimit reports whether n line octets are too many for the command at
// the start of in. AUTHENTICATE lines carry base64 tokens and may be longer;
// the check that tells is made once per command.
func (s *Server) overLimit(in []byte, n int) bool {
	if n <= s.cfg.MaxLine {
		return false
	}
	f := &s.fr
	if n > s.cfg.MaxAuthLine || f.lineN > 0 {
		return true
	}
	if f.auth == 0 {
		f.auth = -1
		if isAuthenticate(in) {
			f.auth = 1
		}
	}
	return f.auth < 0
}

// frameLine finds the end of one plain line (SASL responses), without
// literals, of at most limit octets.
func (s *Server) frameLine(in []byte, limit int) (int, frameResult) {
	f := &s.fr
	if f.scan > len(in) {
		*f = framer{} // stale offset: rescan
	}
	i := bytes.IndexByte(in[f.scan:], '\n')
	if i < 0 {
		f.scan = len(in)
		if f.scan > limit+1 {
			*f = framer{}
			return 0, frameTooLong
		}
		return 0, frameMore
	}
	end := f.scan + i + 1
	*f = framer{}
	if len(eol.Trim(in[:end])) > limit {
		return 0, frameTooLong
	}
	return end, frameDone
}

// commandName parses "tag SP name" at the start of a command.
func commandName(in []byte, buf []byte) (tag, name []byte) {
	r := reader{cursor.Cursor{B: in}}
	tag = r.tag()
	if len(tag) == 0 || !r.SP() {
		return tag, nil
	}
	return tag, ascii.Upper(buf, r.atom())
}

func isAuthenticate(in []byte) bool {
	var buf [16]byte
	_, name := commandName(in, buf[:])
	return string(name) == "AUTHENTICATE"
}

// takesLiterals: only LOGIN and ID take literals before authentication; a
// synchronizing literal in anything else, or in a LOGIN that would be
// refused for want of TLS, is refused before the client sends it.
func (s *Server) takesLiterals(in []byte) bool {
	var buf [16]byte
	_, name := commandName(in, buf[:])
	return string(name) == "LOGIN" && s.cleartextOK() || string(name) == "ID"
}
