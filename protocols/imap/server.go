package imap

import (
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/ascii"
	"github.com/switchyard-mail/switchyard/protocols/internal/cursor"
	"github.com/switchyard-mail/switchyard/protocols/internal/frontend"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// Server is the client-facing IMAP machine before authentication. It
// implements protocols.FrontEnd.
type Server struct {
	p   *Profile
	cfg *ServerConfig // = &p.cfg
	frontend.Session
	fr framer

	tag      []byte // AUTHENTICATE in progress: the client's tag
	clientID []string
}

var _ protocols.FrontEnd = (*Server)(nil)

// Profile is what every connection of one listener shares: the
// configuration with its defaults and the capability lists, computed once
// so that an idle connection holds only its own state.
type Profile struct {
	cfg                ServerConfig
	mechs              []string
	capsPlain, capsTLS []byte
	banner             string
}

// NewProfile prepares cfg for NewServer. cfg.TLSActive is ignored here:
// NewServer takes it per connection.
func NewProfile(cfg ServerConfig) *Profile {
	cfg.setDefaults()
	p := &Profile{cfg: cfg}
	p.mechs = sasl.Offered(cfg.SASL)
	p.capsPlain = capabilityList(&p.cfg, p.mechs, false)
	p.capsTLS = capabilityList(&p.cfg, p.mechs, true)
	p.banner = ascii.Sanitize(cfg.Banner, ascii.NotControl)
	return p
}

// NewServer returns a machine for one client connection of the profile.
func (p *Profile) NewServer(tlsActive bool) *Server {
	return &Server{p: p, cfg: &p.cfg, Session: frontend.Session{TLS: tlsActive, MaxFailures: p.cfg.MaxAuthAttempts, Replies: &replies}}
}

// NewServer returns a machine for one client connection. Engines create a
// Profile once per listener instead.
func NewServer(cfg ServerConfig) *Server {
	return NewProfile(cfg).NewServer(cfg.TLSActive)
}

// Greeting appends "* OK [CAPABILITY ...] banner".
func (s *Server) Greeting(out []byte) []byte {
	out = append(out, "* OK [CAPABILITY "...)
	out = append(out, s.capabilities()...)
	out = append(out, "] "...)
	out = append(out, s.p.banner...)
	return append(out, "\r\n"...)
}

func (s *Server) capabilities() []byte {
	if s.TLS {
		return s.p.capsTLS
	}
	return s.p.capsPlain
}

func (s *Server) cleartextOK() bool { return s.TLS || s.cfg.AllowPlainWithoutTLS }

// Feed consumes complete commands from in. An incomplete command is left
// unconsumed for the engine to hand back with more bytes.
func (s *Server) Feed(in []byte, out []byte) (consumed int, outp []byte, ev protocols.Event) {
	return s.Session.Feed(in, out, s.step)
}

// step takes one command, or a client response during AUTHENTICATE.
func (s *Server) step(rest, out []byte) (int, []byte, protocols.Event) {
	if s.State == frontend.SASL {
		return s.feedSASL(rest, out)
	}
	return s.feedCommand(rest, out)
}

func (s *Server) feedCommand(in, out []byte) (int, []byte, protocols.Event) {
	end, res, out := s.frameCommand(in, out)
	switch res {
	case frameMore:
		return 0, out, protocols.EventNone
	case frameTooLong:
		return s.closeWith(len(in), out, "* BAD [TOOBIG] Line too long\r\n")
	case frameLitTooBig, frameLitTooBigPlus:
		out = appendTagged(out, lineTag(in), "BAD [TOOBIG] Literal too large")
		if res == frameLitTooBigPlus {
			// Its octets are already on the way: there is no telling
			// where the next command starts.
			s.State = frontend.Closed
			return len(in), out, protocols.EventClose
		}
		return end, out, protocols.EventNone
	}
	return s.execute(in[:end], out)
}

func (s *Server) closeWith(n int, out []byte, line string) (int, []byte, protocols.Event) {
	return n, s.Close(out, line), protocols.EventClose
}

// TLSStarted records that the client leg is now TLS. Whatever the client
// said before (its ID) is forgotten: it could have been injected.
func (s *Server) TLSStarted(out []byte) []byte {
	if !s.TLS {
		s.TLS = true
	}
	s.clientID = nil
	s.fr = framer{}
	if s.State != frontend.Closed {
		s.State = frontend.Command
	}
	return out
}

// LoginFailed appends the reply to a login the engine could not complete.
func (s *Server) LoginFailed(kind protocols.FailKind, relay []byte, out []byte) ([]byte, bool) {
	var tag []byte
	if s.Pending != nil {
		tag = []byte(s.Pending.Tag)
	}
	s.Pending = nil
	return s.Refusal(kind, relay, out, &frontend.Replies{
		Rejected:    string(appendTagged(nil, tag, "NO [AUTHENTICATIONFAILED] Authentication failed.")),
		Unavailable: string(appendTagged(nil, tag, "NO [UNAVAILABLE] Service temporarily unavailable, try again later.")),
		TooMany:     replyTooMany,
	})
}

// replyTooMany closes the connection after the last refused login allowed.
const replyTooMany = "* BYE Too many invalid authentication attempts\r\n"

// replies are the closings; refusals carry the client's tag (LoginFailed).
var replies = frontend.Replies{
	Busy:     "* BYE [UNAVAILABLE] Too many connections, try again later\r\n",
	Idle:     "* BYE Autologout; idle for too long\r\n",
	Shutdown: "* BYE Server shutting down\r\n",
}

// appendTagged appends "tag text\r\n"; a missing tag becomes "*".
func appendTagged(out []byte, tag []byte, text string) []byte {
	if len(tag) == 0 {
		out = append(out, '*')
	} else {
		out = append(out, tag...)
	}
	out = append(out, ' ')
	out = append(out, text...)
	return append(out, "\r\n"...)
}

// lineTag returns the tag of a command line, or nil.
func lineTag(in []byte) []byte {
	r := reader{cursor.Cursor{B: in}}
	tag := r.tag()
	if r.Peek() != ' ' {
		return nil
	}
	return tag
}
