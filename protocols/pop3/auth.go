package pop3

import (
	"bytes"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/frontend"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// authCommand answers AUTH (RFC 5034): "AUTH mechanism [initial-response]"
// where "=" is an empty initial response. A bare "AUTH" lists the
// mechanisms, as many servers and clients still expect (RFC 1734 style).
func (s *Server) authCommand(args []byte, hasArgs bool, out []byte) ([]byte, protocols.Event) {
	s.user = nil
	if !s.cleartextOK() {
		return append(out, replyPrivacyRequired...), protocols.EventNone
	}
	if !hasArgs || len(args) == 0 {
		out = append(out, "+OK\r\n"...)
		for _, m := range s.mechs {
			out = append(out, m...)
			out = append(out, "\r\n"...)
		}
		return append(out, ".\r\n"...), protocols.EventNone
	}
	mech, ir, hasIR := args, []byte(nil), false
	if i := bytes.IndexByte(args, ' '); i >= 0 {
		mech, ir, hasIR = args[:i], args[i+1:], true
		if len(ir) == 0 || bytes.IndexByte(ir, ' ') >= 0 {
			return append(out, "-ERR Invalid AUTH arguments.\r\n"...), protocols.EventNone
		}
	}
	srv := sasl.Pick(s.mechs, mech)
	if srv == nil {
		return append(out, "-ERR Unsupported authentication mechanism.\r\n"...), protocols.EventNone
	}
	if hasIR {
		if string(ir) == "=" {
			ir = ir[:0]
		} else {
			var ok bool
			if ir, ok = sasl.DecodeBase64(ir); !ok {
				return append(out, "-ERR Invalid base64 data in initial response.\r\n"...), protocols.EventNone
			}
		}
	}
	return s.saslStep(s.StartSASL(out, srv, ir, hasIR, challenge))
}

// challenge: "+ " and base64 (RFC 5034).
var challenge = frontend.ChallengeFormat{Prefix: "+ ", Suffix: "\r\n"}

// saslStep acts on where the exchange stands.
func (s *Server) saslStep(out []byte, creds sasl.Credentials, o frontend.Outcome) ([]byte, protocols.Event) {
	switch o {
	case frontend.Malformed:
		return s.authFailed(out, replyAuthFailed)
	case frontend.Decoded:
		return out, s.loginReady(creds)
	}
	return out, protocols.EventNone
}

// saslResponse handles one client response line during AUTH: base64, an
// empty line or "=" for an empty response, "*" to abort.
func (s *Server) saslResponse(line []byte, out []byte) ([]byte, protocols.Event) {
	if string(line) == "*" {
		s.EndSASL()
		return append(out, "-ERR Authentication aborted.\r\n"...), protocols.EventNone
	}
	resp := line[:0]
	if string(line) != "=" {
		var ok bool
		if resp, ok = sasl.DecodeBase64(line); !ok {
			s.EndSASL()
			return append(out, "-ERR Invalid base64 data.\r\n"...), protocols.EventNone
		}
	}
	return s.saslStep(s.NextSASL(out, resp, challenge))
}
