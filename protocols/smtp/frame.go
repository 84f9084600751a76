package smtp

import "bytes"

// The Server frames client lines with eol.LineFramer.

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
