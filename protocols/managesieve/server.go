package managesieve

import (
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/ascii"
	"github.com/switchyard-mail/switchyard/protocols/internal/frontend"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// Server is the client-facing ManageSieve machine before authentication.
// It implements protocols.FrontEnd.
type Server struct {
	cfg   ServerConfig
	mechs []string
	frontend.Session
	fr framer
}

var _ protocols.FrontEnd = (*Server)(nil)

// NewServer returns a machine for one client connection.
func NewServer(cfg ServerConfig) *Server {
	cfg.setDefaults()
	cfg.Implementation = ascii.Sanitize(cfg.Implementation, quotableText)
	return &Server{cfg: cfg, Session: frontend.Session{TLS: cfg.TLSActive, MaxFailures: cfg.MaxAuthAttempts, Replies: &replies}, mechs: sasl.Offered(cfg.SASL)}
}

// Greeting appends the capability block and OK (RFC 5804 section 1.7).
func (s *Server) Greeting(out []byte) []byte {
	out = s.capabilities(out)
	return append(out, "OK \"ManageSieve server ready.\"\r\n"...)
}

func (s *Server) cleartextOK() bool { return s.TLS || s.cfg.AllowPlainWithoutTLS }

// Feed consumes complete commands from in. An incomplete command is left
// unconsumed for the engine to hand back with more bytes.
func (s *Server) Feed(in []byte, out []byte) (consumed int, outp []byte, ev protocols.Event) {
	return s.Session.Feed(in, out, s.step)
}

// step takes one command, or a client response during AUTHENTICATE.
func (s *Server) step(rest, out []byte) (int, []byte, protocols.Event) {
	end, res := s.fr.frame(rest, s.cfg.MaxCommand)
	switch res {
	case frameMore:
		return 0, out, protocols.EventNone
	case frameTooLong:
		return len(rest), s.Close(out, "BYE \"Command too long.\"\r\n"), protocols.EventClose
	}
	var ev protocols.Event
	if s.State == frontend.SASL {
		out, ev = s.saslResponse(rest[:end], out)
	} else {
		out, ev = s.execute(rest[:end], out)
	}
	return end, out, ev
}

// TLSStarted records that the client leg is now TLS and appends the fresh
// capability block the client must get (RFC 5804 section 2.2).
func (s *Server) TLSStarted(out []byte) []byte {
	s.TLS = true
	s.fr = framer{}
	s.EndSASL()
	if s.State == frontend.Closed {
		return out
	}
	s.State = frontend.Command
	out = s.capabilities(out)
	return append(out, "OK \"TLS negotiation successful.\"\r\n"...)
}

// replies word a failed login (Session.LoginFailed) and the closings.
var replies = frontend.Replies{
	Rejected:    replyAuthFailed,
	Unavailable: "NO (TRYLATER) \"Service temporarily unavailable, try again later.\"\r\n",
	TooMany:     replyTooMany,
	Busy:        "BYE (TRYLATER) \"Too many connections, try again later.\"\r\n",
	Idle:        "BYE \"Disconnected for inactivity.\"\r\n",
	Shutdown:    "BYE (TRYLATER) \"Server shutting down.\"\r\n",
}

const (
	replyAuthFailed = "NO \"Authentication failed.\"\r\n"
	replyTooMany    = "BYE \"Too many invalid authentication attempts.\"\r\n"
)
