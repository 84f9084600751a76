package imap

import (
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
	"github.com/switchyard-mail/switchyard/protocols/internal/frontend"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// authenticate parses AUTHENTICATE mechanism [initial-response] (RFC 3501
// section 6.2.2, SASL-IR RFC 4959: "=" is an empty initial response), r
// past the space after the command name.
func (s *Server) authenticate(r *reader, n int, tag, out []byte) (int, []byte, protocols.Event) {
	mech := r.atom()
	if len(mech) == 0 {
		return n, badArgs(out, tag), protocols.EventNone
	}
	var ir []byte
	hasIR := r.SP()
	if hasIR {
		w := r.word()
		if len(w) == 0 {
			return n, badArgs(out, tag), protocols.EventNone
		}
		if string(w) != "=" {
			var ok bool
			if ir, ok = sasl.DecodeBase64(w); !ok {
				return n, appendTagged(out, tag, "BAD Invalid base64 data"), protocols.EventNone
			}
		}
	}
	if !r.EOL() {
		return n, badArgs(out, tag), protocols.EventNone
	}
	srv := sasl.Pick(s.p.mechs, mech)
	if srv == nil {
		return n, appendTagged(out, tag, "NO Unsupported authentication mechanism"), protocols.EventNone
	}
	out, creds, o := s.StartSASL(out, srv, ir, hasIR, challenge)
	if o == frontend.Challenged {
		s.tag = append(s.tag[:0], tag...) // the exchange's responses carry none
	}
	return s.saslStep(n, tag, out, creds, o)
}

// challenge: "+ " and base64 (RFC 3501 section 7.5).
var challenge = frontend.ChallengeFormat{Prefix: "+ ", Suffix: "\r\n"}

// saslStep acts on where the exchange stands.
func (s *Server) saslStep(n int, tag, out []byte, creds sasl.Credentials, o frontend.Outcome) (int, []byte, protocols.Event) {
	switch o {
	case frontend.Malformed:
		return s.authFailed(n, tag, out, "Authentication failed.")
	case frontend.Decoded:
		return n, out, s.loginReady(tag, creds)
	}
	return n, out, protocols.EventNone
}

// feedSASL reads one client response line during AUTHENTICATE.
func (s *Server) feedSASL(in, out []byte) (int, []byte, protocols.Event) {
	end, res := s.frameLine(in, s.cfg.MaxAuthLine)
	switch res {
	case frameMore:
		return 0, out, protocols.EventNone
	case frameTooLong:
		s.EndSASL()
		return s.closeWith(len(in), out, "* BAD [TOOBIG] Line too long\r\n")
	}
	tag := s.tag
	line := eol.Trim(in[:end])
	if string(line) == "*" {
		s.EndSASL()
		return end, appendTagged(out, tag, "BAD Authentication aborted"), protocols.EventNone
	}
	resp, ok := sasl.DecodeBase64(line)
	if !ok {
		s.EndSASL()
		return end, appendTagged(out, tag, "BAD Invalid base64 data"), protocols.EventNone
	}
	out, creds, o := s.NextSASL(out, resp, challenge)
	return s.saslStep(end, tag, out, creds, o)
}
