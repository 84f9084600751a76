package pop3

import (
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/frontend"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// userCommand answers USER name (RFC 1939 section 7). The name is the rest
// of the line: some user names contain spaces. The proxy cannot check it
// yet, so any well-formed name gets +OK; PASS decides.
func (s *Server) userCommand(args []byte, hasArgs bool, out []byte) ([]byte, protocols.Event) {
	s.user = nil
	switch {
	case !s.cleartextOK():
		return append(out, replyPrivacyRequired...), protocols.EventNone
	case !hasArgs || len(args) == 0:
		return append(out, "-ERR No username given.\r\n"...), protocols.EventNone
	case len(args) > sasl.MaxFieldLen:
		return s.authFailed(out, replyAuthFailed)
	}
	s.user = append(s.user[:0], args...)
	return append(out, "+OK\r\n"...), protocols.EventNone
}

// passCommand answers PASS password: with a user name from USER, the
// credentials are complete and go to the engine.
func (s *Server) passCommand(args []byte, hasArgs bool, out []byte) ([]byte, protocols.Event) {
	user := s.user
	s.user = nil
	switch {
	case !s.cleartextOK():
		return append(out, replyPrivacyRequired...), protocols.EventNone
	case user == nil:
		return append(out, "-ERR No username given.\r\n"...), protocols.EventNone
	case !hasArgs || len(args) == 0 || len(args) > sasl.MaxFieldLen:
		return s.authFailed(out, replyAuthFailed)
	}
	return out, s.loginReady(sasl.Credentials{
		Mechanism: sasl.Login,
		Username:  string(user),
		Password:  string(args),
	})
}

// loginReady records complete credentials and hands them to the engine,
// with the UTF-8 mode in ClientID (see ClientIDUTF8).
func (s *Server) loginReady(c sasl.Credentials) protocols.Event {
	s.Pending = &protocols.Login{Creds: c}
	if s.utf8 {
		s.Pending.ClientID = []string{ClientIDUTF8, "1"}
	}
	s.State = frontend.Login
	return protocols.EventLogin
}
