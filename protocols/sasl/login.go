package sasl

import "bytes"

// LOGIN (draft-murchison-sasl-login): the server asks for the user name and
// then the password, each sent as one response. Backends are replayed with
// the two values; there is no initial-response encoding.

const (
	loginUserChallenge = "Username:"
	loginPassChallenge = "Password:"
)

func (s *Server) loginStep(resp []byte) ([]byte, bool, error) {
	if s.step == 0 {
		if err := checkLoginField("user name", resp); err != nil {
			return nil, false, s.failWith(err)
		}
		s.creds.Username = string(resp)
		s.step = 1
		return []byte(loginPassChallenge), false, nil
	}
	if err := checkLoginField("password", resp); err != nil {
		return nil, false, s.failWith(err)
	}
	s.creds.Password = string(resp)
	s.done = true
	return nil, true, nil
}

// checkLoginField accepts any octets but NUL (legacy clients send Latin-1),
// because the values are replayed through PLAIN or the IMAP LOGIN command.
func checkLoginField(what string, b []byte) error {
	switch {
	case len(b) == 0:
		return malformed("empty " + what)
	case len(b) > MaxFieldLen:
		return malformed(what + " too long")
	case bytes.IndexByte(b, 0) >= 0:
		return malformed(what + " contains NUL")
	}
	return nil
}

func (s *Server) failWith(err error) error {
	s.done = true
	s.creds = Credentials{Mechanism: s.mech}
	return err
}
