package pop3

import (
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/ascii"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
	"github.com/switchyard-mail/switchyard/protocols/internal/frontend"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// Server is the client-facing POP3 machine in the AUTHORIZATION state. It
// implements protocols.FrontEnd.
type Server struct {
	cfg    ServerConfig
	mechs  []string
	banner string
	frontend.Session
	fr   eol.LineFramer // where the current line ends
	utf8 bool           // UTF8 accepted (RFC 6856): passed on in Login.ClientID

	user []byte // USER given, waiting for PASS
}

var _ protocols.FrontEnd = (*Server)(nil)

// NewServer returns a machine for one client connection.
func NewServer(cfg ServerConfig) *Server {
	cfg.setDefaults()
	return &Server{
		cfg:     cfg,
		Session: frontend.Session{TLS: cfg.TLSActive, MaxFailures: cfg.MaxAuthAttempts, Replies: &replies},
		mechs:   sasl.Offered(cfg.SASL),
		banner:  ascii.Sanitize(cfg.Banner, ascii.NotControl),
	}
}

// Greeting appends "+OK banner". There is no APOP timestamp: APOP needs
// the password in clear at the proxy and is refused.
func (s *Server) Greeting(out []byte) []byte {
	out = append(out, "+OK "...)
	out = append(out, s.banner...)
	return append(out, "\r\n"...)
}

func (s *Server) cleartextOK() bool { return s.TLS || s.cfg.AllowPlainWithoutTLS }

// Feed consumes complete command lines from in. An incomplete line is left
// unconsumed for the engine to hand back with more bytes.
func (s *Server) Feed(in []byte, out []byte) (consumed int, outp []byte, ev protocols.Event) {
	return s.Session.Feed(in, out, s.step)
}

// step takes one command line, or a client response during AUTH.
func (s *Server) step(rest, out []byte) (int, []byte, protocols.Event) {
	end, res := s.fr.FrameLine(rest, s.lineLimit)
	switch res {
	case eol.FrameMore:
		return 0, out, protocols.EventNone
	case eol.FrameTooLong:
		return len(rest), s.Close(out, "-ERR Line too long\r\n"), protocols.EventClose
	}
	line := eol.Trim(rest[:end])
	var ev protocols.Event
	if s.State == frontend.SASL {
		out, ev = s.saslResponse(line, out)
	} else {
		out, ev = s.execute(line, out)
	}
	return end, out, ev
}

// TLSStarted records that the client leg is now TLS. POP3 sends nothing
// after the handshake (the client asks CAPA again); a USER or UTF8 given
// before is forgotten, like anything a man in the middle could have
// injected in cleartext.
func (s *Server) TLSStarted(out []byte) []byte {
	s.TLS = true
	s.user, s.fr, s.utf8 = nil, eol.LineFramer{}, false
	s.EndSASL()
	if s.State != frontend.Closed {
		s.State = frontend.Command
	}
	return out
}

// replies: a failed login gets the backend's -ERR line when relayed, -ERR
// [AUTH] when refused without one, -ERR [SYS/TEMP] when no backend could
// take it (Session.LoginFailed).
var replies = frontend.Replies{
	Rejected:    replyAuthFailed,
	Unavailable: "-ERR [SYS/TEMP] Service temporarily unavailable, try again later.\r\n",
	Busy:        "-ERR [SYS/TEMP] Too many connections, try again later.\r\n",
	Idle:        "-ERR Disconnected for inactivity.\r\n",
	Shutdown:    "-ERR [SYS/TEMP] Server shutting down.\r\n",
}
