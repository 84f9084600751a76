package managesieve

import (
	"bytes"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/ascii"
	"github.com/switchyard-mail/switchyard/protocols/internal/cursor"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
)

// execute runs one complete command, cmd including its line terminator.
func (s *Server) execute(cmd []byte, out []byte) ([]byte, protocols.Event) {
	if len(eol.Trim(cmd)) == 0 {
		return out, protocols.EventNone // empty line: ignored
	}
	r := reader{cursor.Cursor{B: cmd}}
	var buf [16]byte
	name := ascii.Upper(buf[:], r.atom())
	switch string(name) {
	case "CAPABILITY":
		if !r.EOL() {
			return badArgs(out), protocols.EventNone
		}
		out = s.capabilities(out)
		return append(out, "OK \"Capability completed.\"\r\n"...), protocols.EventNone
	case "NOOP":
		return s.noop(&r, out), protocols.EventNone
	case "LOGOUT":
		if !r.EOL() {
			return badArgs(out), protocols.EventNone
		}
		return s.Close(out, "OK \"Logout completed.\"\r\n"), protocols.EventClose
	case "STARTTLS":
		return s.startTLS(&r, out)
	case "AUTHENTICATE":
		return s.authenticate(&r, out)
	case "HAVESPACE", "PUTSCRIPT", "LISTSCRIPTS", "SETACTIVE", "GETSCRIPT", "DELETESCRIPT",
		"RENAMESCRIPT", "CHECKSCRIPT", "UNAUTHENTICATE":
		return append(out, "NO \"Not authenticated.\"\r\n"...), protocols.EventNone
	}
	return append(out, "NO \"Unknown command.\"\r\n"...), protocols.EventNone
}

func badArgs(out []byte) []byte {
	return append(out, "NO \"Invalid arguments.\"\r\n"...)
}

// noop answers NOOP [tag] (RFC 5804 section 2.13): the tag comes back in a
// TAG response code, so clients can use it to resynchronise.
func (s *Server) noop(r *reader, out []byte) []byte {
	if r.EOL() {
		return append(out, "OK \"NOOP completed.\"\r\n"...)
	}
	if !r.SP() {
		return badArgs(out)
	}
	tag, ok := r.str()
	if !ok || !r.EOL() {
		return badArgs(out)
	}
	out = append(out, "OK (TAG "...)
	out = appendString(out, tag)
	return append(out, ") \"Done\"\r\n"...)
}

// startTLS answers STARTTLS. The command is all that is consumed: the
// engine drops anything sent after it.
func (s *Server) startTLS(r *reader, out []byte) ([]byte, protocols.Event) {
	switch {
	case !r.EOL():
		return badArgs(out), protocols.EventNone
	case s.TLS:
		return append(out, "NO \"TLS is already active.\"\r\n"...), protocols.EventNone
	case !s.cfg.StartTLS:
		return append(out, "NO \"STARTTLS is not available.\"\r\n"...), protocols.EventNone
	}
	return append(out, "OK \"Begin TLS negotiation now.\"\r\n"...), protocols.EventStartTLS
}

// authFailed refuses a login decided locally (malformed credentials) and
// counts it like one the backend refused.
func (s *Server) authFailed(out []byte) ([]byte, protocols.Event) {
	out = append(out, replyAuthFailed...)
	if s.Refused() {
		return append(out, replyTooMany...), protocols.EventClose
	}
	return out, protocols.EventNone
}

func hasNUL(b []byte) bool { return bytes.IndexByte(b, 0) >= 0 }
