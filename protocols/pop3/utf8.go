package pop3

import (
	"github.com/switchyard-mail/switchyard/protocols"
)

// ClientIDUTF8 is the Login.ClientID name under which the Server tells the
// backend side that the client enabled UTF-8 mode (RFC 6856) before it
// logged in; its value is "1". Like every "x-" name it is private to the
// proxy: forward.IMAPIDParams drops such client pairs, so it never leaves
// switchyard except as the UTF8 command the Backend replays.
const ClientIDUTF8 = "x-pop3-utf8"

// UTF8FromLogin reports whether a Server recorded in l that the client
// sent UTF8 before logging in.
func UTF8FromLogin(l *protocols.Login) bool {
	if l == nil {
		return false
	}
	for i := 0; i+1 < len(l.ClientID); i += 2 {
		if l.ClientID[i] == ClientIDUTF8 {
			return l.ClientID[i+1] == "1"
		}
	}
	return false
}

// utf8Command answers UTF8 (RFC 6856 section 2), valid in the
// AUTHORIZATION state, which is the only state this machine sees. The
// proxy says yes for the session; the Backend repeats the command to a
// backend that advertises UTF8 before replaying the login. A second UTF8
// changes nothing and is answered +OK again: the mode is already on.
func (s *Server) utf8Command(hasArgs bool, out []byte) ([]byte, protocols.Event) {
	switch {
	case s.cfg.NoUTF8:
		return append(out, "-ERR UTF8 is not available.\r\n"...), protocols.EventNone
	case hasArgs:
		return append(out, "-ERR UTF8 takes no arguments.\r\n"...), protocols.EventNone
	case s.utf8:
		return append(out, "+OK UTF8 already enabled.\r\n"...), protocols.EventNone
	}
	s.utf8 = true
	return append(out, "+OK UTF8 enabled.\r\n"...), protocols.EventNone
}
