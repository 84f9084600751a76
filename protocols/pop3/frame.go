package pop3

import (
	"bytes"

	"github.com/switchyard-mail/switchyard/protocols/internal/ascii"
	"github.com/switchyard-mail/switchyard/protocols/internal/frontend"
)

// The Server frames client lines with eol.LineFramer; a line over the
// limit closes the connection (it cannot resync).

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
