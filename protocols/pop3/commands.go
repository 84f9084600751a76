package pop3

import (
	"bytes"

	"github.com/switchyard-mail/switchyard/protocols"
)

// execute runs one command line (terminator removed).
func (s *Server) execute(line []byte, out []byte) ([]byte, protocols.Event) {
	if bytes.IndexByte(line, 0) >= 0 {
		return append(out, "-ERR NUL octet in command\r\n"...), protocols.EventNone
	}
	var buf [8]byte
	name, args, hasArgs := splitCommand(line, buf[:])
	switch string(name) {
	case "CAPA":
		return s.capa(out), protocols.EventNone
	case "NOOP":
		return append(out, "+OK\r\n"...), protocols.EventNone
	case "QUIT":
		return s.Close(out, "+OK Logging out.\r\n"), protocols.EventClose
	case "STLS":
		return s.stls(hasArgs, out)
	case "USER":
		return s.userCommand(args, hasArgs, out)
	case "PASS":
		return s.passCommand(args, hasArgs, out)
	case "AUTH":
		return s.authCommand(args, hasArgs, out)
	case "UTF8":
		return s.utf8Command(hasArgs, out)
	case "APOP":
		// APOP proves knowledge of the password without revealing it: the
		// proxy cannot replay it anywhere.
		return append(out, "-ERR APOP is not supported; use USER/PASS or AUTH.\r\n"...), protocols.EventNone
	case "STAT", "LIST", "RETR", "DELE", "RSET", "TOP", "UIDL", "LAST", "LANG":
		return append(out, "-ERR Not logged in.\r\n"...), protocols.EventNone
	}
	return append(out, "-ERR Unknown command.\r\n"...), protocols.EventNone
}

// stls answers STLS (RFC 2595 section 4). Only the command line is
// consumed: the engine drops anything the client sent after it.
func (s *Server) stls(hasArgs bool, out []byte) ([]byte, protocols.Event) {
	switch {
	case hasArgs:
		return append(out, "-ERR STLS takes no arguments.\r\n"...), protocols.EventNone
	case s.TLS:
		return append(out, "-ERR TLS is already active.\r\n"...), protocols.EventNone
	case !s.cfg.StartTLS:
		return append(out, "-ERR STLS is not available.\r\n"...), protocols.EventNone
	}
	s.user = nil
	return append(out, "+OK Begin TLS negotiation now.\r\n"...), protocols.EventStartTLS
}

// authFailed refuses a login decided locally (malformed credentials) and
// counts it like one the backend refused.
func (s *Server) authFailed(out []byte, reply string) ([]byte, protocols.Event) {
	out = append(out, reply...)
	if s.Refused() {
		return out, protocols.EventClose
	}
	return out, protocols.EventNone
}

const (
	replyAuthFailed      = "-ERR [AUTH] Authentication failed.\r\n"
	replyPrivacyRequired = "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n"
)
