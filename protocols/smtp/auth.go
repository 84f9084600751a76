package smtp

import (
	"bytes"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
	"github.com/switchyard-mail/switchyard/protocols/internal/frontend"
	"github.com/switchyard-mail/switchyard/protocols/internal/smtpwire"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// authCommand parses AUTH mechanism [initial-response] (RFC 4954 section
// 4: "=" is an empty initial response).
func (s *Server) authCommand(n int, arg []byte, out []byte) (int, []byte, protocols.Event) {
	var reply string
	switch {
	case s.proto == "":
		reply = smtpwire.ReplySendHelo
	case !s.cleartextOK():
		reply = replyEncryptAuth
	case len(arg) == 0:
		reply = replyAuthSyntax
	}
	if reply != "" {
		out, ev := s.refuse(out, reply)
		return n, out, ev
	}
	mech, irText := smtpwire.SplitVerb(arg)
	if bytes.IndexByte(irText, ' ') >= 0 {
		out, ev := s.refuse(out, replyAuthSyntax)
		return n, out, ev
	}
	srv := sasl.Pick(s.mechs, mech)
	if srv == nil {
		out, ev := s.refuse(out, replyBadMechanism)
		return n, out, ev
	}
	hasIR := len(irText) > 0
	var ir []byte
	if hasIR && string(irText) != "=" {
		var ok bool
		if ir, ok = sasl.DecodeBase64(irText); !ok {
			out, ev := s.refuse(out, replyBadBase64)
			return n, out, ev
		}
	}
	out, creds, o := s.StartSASL(out, srv, ir, hasIR, challenge)
	return s.saslStep(n, out, creds, o)
}

// challenge: "334 " and base64 (RFC 4954).
var challenge = frontend.ChallengeFormat{Prefix: "334 ", Suffix: "\r\n"}

// saslStep acts on where the exchange stands.
func (s *Server) saslStep(n int, out []byte, creds sasl.Credentials, o frontend.Outcome) (int, []byte, protocols.Event) {
	switch o {
	case frontend.Malformed:
		return s.authFailed(n, out)
	case frontend.Decoded:
		s.Pending = &protocols.Login{
			Creds:    creds,
			ClientID: []string{ClientIDHelo, s.helo, ClientIDProto, s.proto},
		}
		s.State = frontend.Login
		return n, out, protocols.EventLogin
	}
	return n, out, protocols.EventNone
}

// authFailed refuses credentials found malformed here, counting them like
// a refusal by the backend.
func (s *Server) authFailed(n int, out []byte) (int, []byte, protocols.Event) {
	out = append(out, replyAuthFailed...)
	if s.Refused() {
		return n, smtpwire.Append421(out, string(s.host), textTooManyAuth), protocols.EventClose
	}
	return n, out, protocols.EventNone
}

// saslResponse reads one client response line during AUTH.
func (s *Server) saslResponse(line []byte, out []byte) (int, []byte, protocols.Event) {
	n := len(line)
	l := eol.Trim(line)
	if string(l) == "*" {
		s.EndSASL()
		return n, append(out, replyAborted...), protocols.EventNone
	}
	resp, ok := sasl.DecodeBase64(l)
	if !ok {
		s.EndSASL()
		out, ev := s.refuse(out, replyBadBase64)
		return n, out, ev
	}
	out, creds, o := s.NextSASL(out, resp, challenge)
	return s.saslStep(n, out, creds, o)
}
