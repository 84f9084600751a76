package frontend

import (
	"encoding/base64"

	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// Outcome is where a client's SASL exchange stands after a step.
type Outcome uint8

const (
	Challenged Outcome = iota // a challenge went out; the client's next line answers it (State SASL)
	Decoded                   // the credentials are complete; the exchange is over
	Malformed                 // the exchange is over: refuse the login
)

// ChallengeFormat is how a protocol sends a SASL challenge: base64
// between Prefix and Suffix.
type ChallengeFormat struct{ Prefix, Suffix string }

// StartSASL begins the exchange srv with the client's initial response
// (ir, when hasIR); the rest is NextSASL's.
func (s *Session) StartSASL(out []byte, srv *sasl.Server, ir []byte, hasIR bool, f ChallengeFormat) ([]byte, sasl.Credentials, Outcome) {
	ch, done, err := srv.Start(ir, hasIR)
	return s.saslStep(out, srv, ch, done, err, f)
}

// NextSASL takes the client's (decoded) response to the challenge in
// flight. A further challenge goes out in format f and keeps the exchange
// (Auth) going; once it is over (Decoded, with the credentials, or
// Malformed) it is forgotten.
func (s *Session) NextSASL(out, resp []byte, f ChallengeFormat) ([]byte, sasl.Credentials, Outcome) {
	srv := s.Auth
	ch, done, err := srv.Next(resp)
	return s.saslStep(out, srv, ch, done, err, f)
}

func (s *Session) saslStep(out []byte, srv *sasl.Server, ch []byte, done bool, err error, f ChallengeFormat) ([]byte, sasl.Credentials, Outcome) {
	switch {
	case err != nil:
		s.EndSASL()
		return out, sasl.Credentials{}, Malformed
	case done:
		s.EndSASL()
		return out, srv.Credentials(), Decoded
	}
	s.Auth, s.State = srv, SASL
	out = append(out, f.Prefix...)
	out = base64.StdEncoding.AppendEncode(out, ch)
	return append(out, f.Suffix...), sasl.Credentials{}, Challenged
}

// EndSASL forgets the exchange in progress, if any.
func (s *Session) EndSASL() {
	s.Auth = nil
	if s.State == SASL {
		s.State = Command
	}
}
