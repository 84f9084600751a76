package pop3

import (
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/ascii"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

type serverState uint8

const (
	stCommand serverState = iota // reading commands
	stSASL                       // AUTH: waiting for a client response line
	stLogin                      // EventLogin returned: waiting for the engine
	stClosed
)

// Server is the client-facing POP3 machine in the AUTHORIZATION state. It
// implements protocols.FrontEnd.
type Server struct {
	cfg      ServerConfig
	mechs    []string
	banner   string
	tls      bool
	state    serverState
	scan     int // framer: octets of the current line known to hold no LF
	failures int
	utf8     bool // UTF8 accepted (RFC 6856): passed on in Login.ClientID

	user  []byte // USER given, waiting for PASS
	auth  *sasl.Server
	login protocols.Login
}

var _ protocols.FrontEnd = (*Server)(nil)

// NewServer returns a machine for one client connection.
func NewServer(cfg ServerConfig) *Server {
	cfg.setDefaults()
	return &Server{
		cfg:    cfg,
		tls:    cfg.TLSActive,
		mechs:  sasl.Offered(cfg.SASL),
		banner: ascii.Sanitize(cfg.Banner, ascii.NotControl),
	}
}

// Greeting appends "+OK banner". There is no APOP timestamp: APOP needs
// the password in clear at the proxy and is refused.
func (s *Server) Greeting(out []byte) []byte {
	out = append(out, "+OK "...)
	out = append(out, s.banner...)
	return append(out, "\r\n"...)
}

func (s *Server) cleartextOK() bool { return s.tls || s.cfg.AllowPlainWithoutTLS }

// Feed consumes complete command lines from in. An incomplete line is left
// unconsumed for the engine to hand back with more bytes.
func (s *Server) Feed(in []byte, out []byte) (consumed int, outp []byte, ev protocols.Event) {
	for {
		switch s.state {
		case stLogin:
			return consumed, out, protocols.EventNone
		case stClosed:
			return len(in), out, protocols.EventClose
		}
		rest := in[consumed:]
		if len(rest) == 0 {
			return consumed, out, protocols.EventNone
		}
		end, res := s.frameLine(rest)
		switch res {
		case frameMore:
			return consumed, out, protocols.EventNone
		case frameTooLong:
			s.endSASL()
			s.state = stClosed
			return len(in), append(out, "-ERR Line too long\r\n"...), protocols.EventClose
		}
		line := eol.Trim(rest[:end])
		consumed += end
		if s.state == stSASL {
			out, ev = s.saslResponse(line, out)
		} else {
			out, ev = s.execute(line, out)
		}
		if ev != protocols.EventNone {
			return consumed, out, ev
		}
	}
}

// Login returns the credentials after EventLogin.
func (s *Server) Login() *protocols.Login { return &s.login }

// TLSStarted records that the client leg is now TLS. POP3 sends nothing
// after the handshake (the client asks CAPA again); a USER or UTF8 given
// before is forgotten, like anything a man in the middle could have
// injected in cleartext.
func (s *Server) TLSStarted(out []byte) []byte {
	s.tls = true
	s.user, s.scan, s.utf8 = nil, 0, false
	s.endSASL()
	if s.state != stClosed {
		s.state = stCommand
	}
	return out
}

// LoginFailed appends the reply to a login the engine could not complete:
// the backend's -ERR line when relayed, -ERR [AUTH] when refused without
// one, -ERR [SYS/TEMP] when no backend could take it.
func (s *Server) LoginFailed(kind protocols.FailKind, relay []byte, out []byte) ([]byte, bool) {
	s.login = protocols.Login{}
	if s.state == stClosed {
		return out, true
	}
	s.state = stCommand
	switch kind {
	case protocols.FailRejected:
		if len(relay) > 0 {
			out = append(out, relay...)
			if relay[len(relay)-1] != '\n' {
				out = append(out, "\r\n"...)
			}
		} else {
			out = append(out, "-ERR [AUTH] Authentication failed.\r\n"...)
		}
		s.failures++
	default:
		out = append(out, "-ERR [SYS/TEMP] Service temporarily unavailable, try again later.\r\n"...)
	}
	if s.failures >= s.cfg.MaxAuthAttempts {
		s.state = stClosed
		return out, true
	}
	return out, false
}

// TooBusy appends the reply for a connection refused by a limit.
func (s *Server) TooBusy(out []byte) []byte {
	return append(out, "-ERR [SYS/TEMP] Too many connections, try again later.\r\n"...)
}

// Timeout appends the reply sent before closing an idle connection.
func (s *Server) Timeout(out []byte) []byte {
	return append(out, "-ERR Disconnected for inactivity.\r\n"...)
}

// ShuttingDown appends the reply sent when the proxy drains.
func (s *Server) ShuttingDown(out []byte) []byte {
	return append(out, "-ERR [SYS/TEMP] Server shutting down.\r\n"...)
}
