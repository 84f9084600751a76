package managesieve

import (
	"bytes"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/cursor"
	"github.com/switchyard-mail/switchyard/protocols/internal/frontend"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// authenticate parses AUTHENTICATE mechanism [initial-response] (RFC 5804
// section 2.1): both are strings, quoted or literal; the mechanism may
// also be an atom. An empty string is an empty initial response.
func (s *Server) authenticate(r *reader, out []byte) ([]byte, protocols.Event) {
	if !s.cleartextOK() {
		return append(out, "NO (ENCRYPT-NEEDED) \"Authentication requires TLS.\"\r\n"...), protocols.EventNone
	}
	if !r.SP() {
		return badArgs(out), protocols.EventNone
	}
	var mech []byte
	if c := r.Peek(); c == '"' || c == '{' {
		var ok bool
		if mech, ok = r.str(); !ok {
			return badArgs(out), protocols.EventNone
		}
	} else {
		mech = r.atom()
	}
	var ir []byte
	hasIR := r.SP()
	if hasIR {
		w, ok := r.str()
		if !ok {
			return badArgs(out), protocols.EventNone
		}
		if ir, ok = decodeBase64(w); !ok {
			return append(out, "NO \"Invalid base64 data in initial response.\"\r\n"...), protocols.EventNone
		}
	}
	if !r.EOL() || len(mech) == 0 {
		return badArgs(out), protocols.EventNone
	}
	srv := sasl.Pick(s.mechs, mech)
	if srv == nil {
		return append(out, "NO \"Unsupported authentication mechanism.\"\r\n"...), protocols.EventNone
	}
	return s.saslStep(s.StartSASL(out, srv, ir, hasIR, challenge))
}

// challenge: a quoted string of base64, "" when empty.
var challenge = frontend.ChallengeFormat{Prefix: `"`, Suffix: "\"\r\n"}

// saslStep acts on where the exchange stands.
func (s *Server) saslStep(out []byte, creds sasl.Credentials, o frontend.Outcome) ([]byte, protocols.Event) {
	switch o {
	case frontend.Malformed:
		return s.authFailed(out)
	case frontend.Decoded:
		s.Pending = &protocols.Login{Creds: creds}
		s.State = frontend.Login
		return out, protocols.EventLogin
	}
	return out, protocols.EventNone
}

// saslResponse handles one client response during AUTHENTICATE: a string
// (quoted or literal) of base64, or "*" (quoted or bare) to abort.
func (s *Server) saslResponse(cmd []byte, out []byte) ([]byte, protocols.Event) {
	r := reader{cursor.Cursor{B: cmd}}
	var resp []byte
	if r.Peek() == '*' {
		r.Pos++
		resp = []byte("*")
	} else {
		var ok bool
		if resp, ok = r.str(); !ok {
			resp = nil
		}
	}
	if resp == nil || !r.EOL() {
		s.EndSASL()
		return append(out, "NO \"Invalid authentication response.\"\r\n"...), protocols.EventNone
	}
	if string(resp) == "*" {
		s.EndSASL()
		return append(out, "NO \"Authentication aborted.\"\r\n"...), protocols.EventNone
	}
	dec, ok := decodeBase64(resp)
	if !ok {
		s.EndSASL()
		return append(out, "NO \"Invalid base64 data.\"\r\n"...), protocols.EventNone
	}
	return s.saslStep(s.NextSASL(out, dec, challenge))
}

// decodeBase64 decodes standard base64, padded or not; an empty input is
// an empty response. Embedded CR, LF and NUL are refused.
func decodeBase64(b []byte) ([]byte, bool) {
	if bytes.ContainsAny(b, "\r\n") || hasNUL(b) {
		return nil, false
	}
	return sasl.DecodeBase64(b)
}
