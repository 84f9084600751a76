package imap

import (
	"bytes"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/ascii"
	"github.com/switchyard-mail/switchyard/protocols/internal/cursor"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
	"github.com/switchyard-mail/switchyard/protocols/internal/frontend"
)

// execute runs one complete command, cmd including its line terminator.
func (s *Server) execute(cmd []byte, out []byte) (int, []byte, protocols.Event) {
	n := len(cmd)
	if len(eol.Trim(cmd)) == 0 {
		return n, out, protocols.EventNone // empty line: ignored
	}
	r := reader{cursor.Cursor{B: cmd}}
	tag := r.tag()
	if len(tag) == 0 || !r.SP() {
		return n, appendTagged(out, nil, "BAD Error in IMAP command: missing or invalid tag"), protocols.EventNone
	}
	if bytes.IndexByte(cmd, 0) >= 0 {
		return n, appendTagged(out, tag, "BAD NUL octet in command"), protocols.EventNone
	}
	var buf [16]byte
	name := ascii.Upper(buf[:], r.atom())
	switch string(name) {
	case "CAPABILITY":
		if !r.EOL() {
			return n, badArgs(out, tag), protocols.EventNone
		}
		out = append(out, "* CAPABILITY "...)
		out = append(out, s.capabilities()...)
		out = append(out, "\r\n"...)
		return n, appendTagged(out, tag, "OK Capability completed."), protocols.EventNone
	case "NOOP":
		if !r.EOL() {
			return n, badArgs(out, tag), protocols.EventNone
		}
		return n, appendTagged(out, tag, "OK NOOP completed."), protocols.EventNone
	case "LOGOUT":
		if !r.EOL() {
			return n, badArgs(out, tag), protocols.EventNone
		}
		out = append(out, "* BYE Logging out\r\n"...)
		s.State = frontend.Closed
		return n, appendTagged(out, tag, "OK Logout completed."), protocols.EventClose
	case "STARTTLS":
		return s.startTLS(&r, n, tag, out)
	case "ID":
		return n, s.id(&r, tag, out), protocols.EventNone
	case "LOGIN", "AUTHENTICATE":
		// Both carry credentials: refused in cleartext before their
		// arguments are read.
		switch {
		case !s.cleartextOK():
			return privacyRequired(n, tag, out)
		case !r.SP():
			return n, badArgs(out, tag), protocols.EventNone
		case string(name) == "LOGIN":
			return s.loginCommand(&r, n, tag, out)
		}
		return s.authenticate(&r, n, tag, out)
	}
	if _, ok := postAuthCommands[string(name)]; ok {
		return n, appendTagged(out, tag, "BAD Not authenticated"), protocols.EventNone
	}
	return n, appendTagged(out, tag, "BAD Unknown command"), protocols.EventNone
}

// postAuthCommands are valid only once authenticated (RFC 9051 and the
// common extensions): refused with a clearer message than unknown ones.
var postAuthCommands = map[string]struct{}{
	"SELECT": {}, "EXAMINE": {}, "CREATE": {}, "DELETE": {}, "RENAME": {},
	"SUBSCRIBE": {}, "UNSUBSCRIBE": {}, "LIST": {}, "LSUB": {}, "STATUS": {},
	"APPEND": {}, "CHECK": {}, "CLOSE": {}, "UNSELECT": {}, "EXPUNGE": {},
	"SEARCH": {}, "FETCH": {}, "STORE": {}, "COPY": {}, "MOVE": {}, "UID": {},
	"ENABLE": {}, "IDLE": {}, "NAMESPACE": {}, "GETQUOTA": {}, "GETQUOTAROOT": {},
	"SETQUOTA": {}, "GETACL": {}, "SETACL": {}, "DELETEACL": {}, "LISTRIGHTS": {},
	"MYRIGHTS": {}, "GETMETADATA": {}, "SETMETADATA": {}, "COMPRESS": {},
	"NOTIFY": {}, "SORT": {}, "THREAD": {}, "UNAUTHENTICATE": {}, "REPLACE": {},
}

func badArgs(out, tag []byte) []byte {
	return appendTagged(out, tag, "BAD Invalid arguments")
}

// startTLS answers STARTTLS (RFC 3501 section 6.2.1). The command line is
// all that is consumed: the engine drops anything sent after it.
func (s *Server) startTLS(r *reader, n int, tag, out []byte) (int, []byte, protocols.Event) {
	switch {
	case !r.EOL():
		return n, badArgs(out, tag), protocols.EventNone
	case s.TLS:
		return n, appendTagged(out, tag, "BAD TLS is already active."), protocols.EventNone
	case !s.cfg.StartTLS:
		return n, appendTagged(out, tag, "BAD STARTTLS is not available."), protocols.EventNone
	}
	return n, appendTagged(out, tag, "OK Begin TLS negotiation now."), protocols.EventStartTLS
}

// authFailed refuses a login decided locally (malformed credentials) and
// counts it like one the backend refused.
func (s *Server) authFailed(n int, tag, out []byte, why string) (int, []byte, protocols.Event) {
	out = appendTagged(out, tag, "NO [AUTHENTICATIONFAILED] "+why)
	if s.Refused() {
		return n, append(out, replyTooMany...), protocols.EventClose
	}
	return n, out, protocols.EventNone
}

func privacyRequired(n int, tag, out []byte) (int, []byte, protocols.Event) {
	return n, appendTagged(out, tag, "NO [PRIVACYREQUIRED] Authentication requires TLS."), protocols.EventNone
}
