package imap

import (
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/frontend"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// loginCommand parses LOGIN userid password (RFC 3501 section 6.2.3): two
// astrings, each an atom, a quoted string or a literal; r is past the space
// after the command name.
func (s *Server) loginCommand(r *reader, n int, tag, out []byte) (int, []byte, protocols.Event) {
	user, err := r.astring()
	if err != nil || !r.SP() {
		return n, badArgs(out, tag), protocols.EventNone
	}
	pass, err := r.astring()
	if err != nil || !r.EOL() {
		return n, badArgs(out, tag), protocols.EventNone
	}
	if len(user) == 0 || len(pass) == 0 || len(user) > sasl.MaxFieldLen || len(pass) > sasl.MaxFieldLen {
		return s.authFailed(n, tag, out, "Authentication failed.")
	}
	return n, out, s.loginReady(tag, sasl.Credentials{
		Mechanism: sasl.Login,
		Username:  string(user),
		Password:  string(pass),
	})
}

// loginReady records complete credentials and hands them to the engine.
func (s *Server) loginReady(tag []byte, c sasl.Credentials) protocols.Event {
	s.Pending = &protocols.Login{Tag: string(tag), Creds: c, ClientID: s.clientID}
	s.State = frontend.Login
	return protocols.EventLogin
}
