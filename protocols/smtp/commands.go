package smtp

import (
	"bytes"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/ascii"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
	"github.com/switchyard-mail/switchyard/protocols/internal/smtpwire"
)

// command runs one complete command line (terminator included).
func (s *Server) command(line []byte, out []byte) (int, []byte, protocols.Event) {
	n := len(line)
	l := eol.Trim(line)
	if len(l) == 0 || bytes.IndexByte(l, 0) >= 0 {
		out, ev := s.refuse(out, smtpwire.ReplyBadSyntax)
		return n, out, ev
	}
	verb, arg := smtpwire.SplitVerb(l)
	var buf [8]byte
	var reply string
	switch string(ascii.Upper(buf[:], verb)) {
	case "EHLO":
		return n, s.ehloCommand(arg, true, out), protocols.EventNone
	case "HELO":
		return n, s.ehloCommand(arg, false, out), protocols.EventNone
	case "STARTTLS":
		return s.startTLS(n, arg, out)
	case "AUTH":
		return s.authCommand(n, arg, out)
	case "NOOP":
		// RFC 5321 section 4.1.1.9: a parameter is allowed and ignored.
		return n, append(out, smtpwire.ReplyOK...), protocols.EventNone
	case "RSET":
		if len(arg) > 0 {
			reply = smtpwire.ReplyNoArgs
			break
		}
		return n, append(out, smtpwire.ReplyOK...), protocols.EventNone
	case "QUIT":
		return n, s.Close(out, smtpwire.ReplyBye), protocols.EventClose
	case "HELP":
		return n, append(out, replyHelp...), protocols.EventNone
	case "MAIL", "RCPT", "DATA", "BDAT", "VRFY", "EXPN", "ETRN", "BURL":
		reply = replyAuthRequired
	case "XCLIENT", "XFORWARD", "TURN", "ATRN", "SEND", "SOML", "SAML":
		reply = smtpwire.ReplyNotImpl
	default:
		reply = smtpwire.ReplyUnknown
	}
	out, ev := s.refuse(out, reply)
	return n, out, ev
}

// ehloCommand answers EHLO or HELO (RFC 5321 section 4.1.1.1). Either
// resets the session; the name is kept for XCLIENT HELO.
func (s *Server) ehloCommand(arg []byte, ehlo bool, out []byte) []byte {
	name := arg
	if i := bytes.IndexByte(arg, ' '); i >= 0 {
		name = arg[:i]
	}
	if len(name) == 0 {
		reply := smtpwire.ReplyHELOSyntax
		if ehlo {
			reply = smtpwire.ReplyEHLOSyntax
		}
		out, _ = s.refuse(out, reply)
		return out
	}
	s.helo = string(name)
	if !ehlo {
		s.proto = "SMTP"
		out = append(out, "250 "...)
		out = append(out, s.host...)
		return append(out, "\r\n"...)
	}
	s.proto = "ESMTP"
	return append(out, s.ehlo...)
}

// startTLS answers STARTTLS (RFC 3207). Only the command line is consumed:
// the engine drops anything the client sent after it.
func (s *Server) startTLS(n int, arg []byte, out []byte) (int, []byte, protocols.Event) {
	var reply string
	switch {
	case len(arg) > 0:
		reply = smtpwire.ReplyNoArgs
	case s.TLS:
		reply = smtpwire.ReplyTLSActive
	case !s.cfg.StartTLS:
		reply = smtpwire.ReplyNoTLS
	default:
		return n, append(out, smtpwire.ReplyStartTLS...), protocols.EventStartTLS
	}
	out, ev := s.refuse(out, reply)
	return n, out, ev
}
