package smtp

import (
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/ascii"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
	"github.com/switchyard-mail/switchyard/protocols/internal/frontend"
	"github.com/switchyard-mail/switchyard/protocols/internal/smtpwire"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// Server is the client-facing SMTP submission machine before
// authentication. It implements protocols.FrontEnd; the Login it hands
// over carries the client's HELO/EHLO name and protocol in ClientID (see
// HeloFromLogin).
type Server struct {
	cfg   ServerConfig
	host  smtpwire.Host
	mechs []string
	ehlo  []byte // EHLO reply for the current TLS state
	frontend.Session
	eol.LineFramer
	errors int // refused or unknown commands

	helo  string // HELO/EHLO argument, empty before either
	proto string // "ESMTP" after EHLO, "SMTP" after HELO

}

var _ protocols.FrontEnd = (*Server)(nil)

// NewServer returns a machine for one client connection.
func NewServer(cfg ServerConfig) *Server {
	cfg.setDefaults()
	s := &Server{cfg: cfg, Session: frontend.Session{TLS: cfg.TLSActive, MaxFailures: cfg.MaxAuthAttempts}, host: smtpwire.Host(cfg.Hostname)}
	s.mechs = sasl.Offered(cfg.SASL)
	s.ehlo = ehloReply(&s.cfg, s.mechs, s.TLS)
	return s
}

// Greeting appends "220 <hostname> ESMTP <banner>".
func (s *Server) Greeting(out []byte) []byte {
	out = append(out, "220 "...)
	out = append(out, s.host...)
	out = append(out, " ESMTP"...)
	if banner := ascii.Sanitize(s.cfg.Banner, ascii.Printable); banner != "" {
		out = append(out, ' ')
		out = append(out, banner...)
	}
	return append(out, "\r\n"...)
}

func (s *Server) cleartextOK() bool { return s.TLS || s.cfg.AllowPlainWithoutTLS }

// Feed consumes complete lines from in. An incomplete line is left
// unconsumed for the engine to hand back with more bytes.
func (s *Server) Feed(in []byte, out []byte) (consumed int, outp []byte, ev protocols.Event) {
	return s.Session.Feed(in, out, s.step)
}

// step takes one command line, or a client response during AUTH; the
// rest of a line over the limit is skipped, then refused.
func (s *Server) step(rest, out []byte) (int, []byte, protocols.Event) {
	if s.Discard {
		n, found := s.SkipLine(rest)
		if !found {
			return n, out, protocols.EventNone
		}
		out, ev := s.lineTooLong(out)
		return n, out, ev
	}
	limit := s.commandLimit
	if s.State == frontend.SASL {
		limit = s.saslLimit
	}
	end, res := s.FrameLine(rest, limit)
	switch res {
	case eol.FrameMore:
		return 0, out, protocols.EventNone
	case eol.FrameTooLong:
		if s.Discard {
			return end, out, protocols.EventNone
		}
		out, ev := s.lineTooLong(out)
		return end, out, ev
	}
	if s.State == frontend.SASL {
		return s.saslResponse(rest[:end], out)
	}
	return s.command(rest[:end], out)
}

// lineTooLong refuses a line that was over the limit (an AUTH exchange in
// progress is abandoned).
func (s *Server) lineTooLong(out []byte) ([]byte, protocols.Event) {
	s.EndSASL()
	return s.refuse(out, smtpwire.ReplyLineTooLong)
}

// refuse appends an error reply and counts it; past MaxErrors the
// connection is closed.
func (s *Server) refuse(out []byte, reply string) ([]byte, protocols.Event) {
	out = append(out, reply...)
	s.errors++
	if s.errors >= s.cfg.MaxErrors {
		s.State = frontend.Closed
		return smtpwire.Append421(out, string(s.host), smtpwire.TextTooManyErrors), protocols.EventClose
	}
	return out, protocols.EventNone
}

// TLSStarted records that the client leg is now TLS. The client must send
// EHLO again (RFC 3207 section 4.2): what it said before is forgotten.
func (s *Server) TLSStarted(out []byte) []byte {
	if !s.TLS {
		s.TLS = true
		s.ehlo = ehloReply(&s.cfg, s.mechs, true)
	}
	s.helo, s.proto = "", ""
	s.Scan, s.Discard = 0, false
	s.Auth = nil
	if s.State != frontend.Closed {
		s.State = frontend.Command
	}
	return out
}

// LoginFailed appends the reply to a login the engine could not complete.
func (s *Server) LoginFailed(kind protocols.FailKind, relay []byte, out []byte) ([]byte, bool) {
	s.Pending = nil
	if len(relay) > 0 {
		relay = eol.AppendLine(nil, relay) // exactly one CRLF
	}
	return s.Refusal(kind, relay, out, &frontend.Replies{
		Rejected:    replyAuthFailed,
		Unavailable: replyTempAuthFail,
		TooMany:     string(smtpwire.Append421(nil, string(s.host), textTooManyAuth)),
	})
}

// TooBusy, Timeout and ShuttingDown are the 421 replies of smtpwire.Host
// (they shadow the Session's, which has no host name).
func (s *Server) TooBusy(out []byte) []byte      { return s.host.TooBusy(out) }
func (s *Server) Timeout(out []byte) []byte      { return s.host.Timeout(out) }
func (s *Server) ShuttingDown(out []byte) []byte { return s.host.ShuttingDown(out) }

// Client ID keys under which the Server passes what the client said in
// HELO/EHLO to the backend side (protocols.Login has no field for it).
const (
	ClientIDHelo  = "x-smtp-helo"
	ClientIDProto = "x-smtp-proto"
)

// HeloFromLogin returns the HELO/EHLO name and the protocol ("ESMTP" after
// EHLO, "SMTP" after HELO) that a Server recorded in l.ClientID; empty
// strings when there are none.
func HeloFromLogin(l *protocols.Login) (helo, proto string) {
	if l == nil {
		return "", ""
	}
	for i := 0; i+1 < len(l.ClientID); i += 2 {
		switch l.ClientID[i] {
		case ClientIDHelo:
			helo = l.ClientID[i+1]
		case ClientIDProto:
			proto = l.ClientID[i+1]
		}
	}
	return helo, proto
}
