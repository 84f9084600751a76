package smtp

import (
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
	"github.com/switchyard-mail/switchyard/protocols/internal/smtpwire"
	"github.com/switchyard-mail/switchyard/protocols/internal/verdict"
)

// BackendConfig configures one replay on a backend. StartTLS runs after the
// first EHLO, before XCLIENT and any credential. Forward goes with XCLIENT
// if the backend advertises it (Postfix does only to
// smtpd_authorized_xclient_hosts); an empty Helo or Proto is taken from
// Login (HeloFromLogin), Proto defaulting to "ESMTP" so that the SMTP
// dialect is used; a backend that refuses it fails the login.
// HideAuthErrors replaces a refusal by a generic 535.
type BackendConfig struct {
	protocols.ReplayConfig
	// Hostname is the proxy's name in EHLO (default "localhost"). After
	// XCLIENT the client's own HELO name is used when it has one, as
	// Postfix's XCLIENT_README shows.
	Hostname string
}

type backendState uint8

const (
	bsGreeting backendState = iota
	bsEHLO
	bsStartTLS
	bsXClient
	bsAuth
)

// Backend replays one client's authentication on an SMTP submission
// backend. It implements protocols.BackEnd.
type Backend struct {
	cfg   BackendConfig
	state backendState
	scan  int

	code  int // code of the multi-line reply in progress, 0 between replies
	lines int // its lines so far
	ext   smtpwire.Extensions

	xclientDone bool
	xclient     []string // XCLIENT lines still to send

	verdict.Verdict
}

var _ protocols.BackEnd = (*Backend)(nil)

// NewBackend returns a machine for one backend connection. The engine
// feeds it the backend's greeting first.
func NewBackend(cfg BackendConfig) *Backend {
	cfg.Hostname = smtpwire.HostName(cfg.Hostname)
	if cfg.Forward != nil {
		// A copy: the HELO name and protocol come from the Server through
		// Login.ClientID when the engine did not fill them.
		f := *cfg.Forward
		helo, proto := HeloFromLogin(cfg.Login)
		if f.Helo == "" {
			f.Helo = helo
		}
		if f.Proto == "" {
			f.Proto = proto
		}
		if f.Proto == "" {
			f.Proto = "ESMTP"
		}
		cfg.Forward = &f
	}
	return &Backend{cfg: cfg, Verdict: verdict.Verdict{Name: "smtp backend"}}
}

// Feed consumes backend reply lines. After BackendStartTLS and the verdict
// it consumes nothing past the line that produced the event.
func (b *Backend) Feed(in []byte, out []byte) (consumed int, outp []byte, ev protocols.BackendEvent) {
	return b.FeedFramed(in, out, &b.scan, smtpwire.FrameReply, "reply line too long", b.handleLine)
}

// handleLine takes one reply line; a reply is acted on at its last line.
func (b *Backend) handleLine(line []byte, out []byte) ([]byte, protocols.BackendEvent) {
	r, ok := smtpwire.ParseReply(line)
	if !ok {
		return out, b.Failf("malformed reply %s", eol.Quote(line))
	}
	if b.code != 0 && r.Code != b.code {
		return out, b.Failf("reply code changed within a reply: %s", eol.Quote(line))
	}
	first := b.code == 0
	b.lines++
	if b.lines > smtpwire.MaxReplyLines {
		return out, b.Failf("reply has too many lines")
	}
	switch {
	case b.state == bsEHLO && r.Code == 250 && !first:
		b.ext.Parse(r.Text)
	case b.state == bsAuth:
		if len(b.Reply)+len(line) > smtpwire.MaxRelay {
			return out, b.Failf("reply too long")
		}
		b.Reply = eol.AppendLine(b.Reply, line)
	}
	if !r.Last {
		b.code = r.Code
		return out, protocols.BackendNone
	}
	b.code, b.lines = 0, 0
	switch b.state {
	case bsGreeting:
		if r.Code != 220 {
			return out, b.Failf("unexpected greeting %s", eol.Quote(line))
		}
		return b.sendEHLO(out, b.cfg.Hostname), protocols.BackendNone
	case bsEHLO:
		if r.Code != 250 {
			return out, b.Failf("EHLO refused: %s", eol.Quote(line))
		}
		return b.advance(out)
	case bsStartTLS:
		return out, b.StartTLSReply(r.Code == 220, "STARTTLS", line)
	case bsXClient:
		return b.xclientReply(&r, out)
	case bsAuth:
		return b.authReply(&r, out)
	}
	return out, protocols.BackendNone
}

func (b *Backend) sendEHLO(out []byte, name string) []byte {
	b.state = bsEHLO
	b.ext = smtpwire.Extensions{}
	out = append(out, "EHLO "...)
	out = append(out, name...)
	return append(out, "\r\n"...)
}

// advance sends whatever comes after an EHLO reply: STARTTLS, XCLIENT or
// the authentication.
func (b *Backend) advance(out []byte) ([]byte, protocols.BackendEvent) {
	if b.NeedStartTLS(b.cfg.StartTLS) {
		b.state = bsStartTLS
		return b.SendStartTLS(b.ext.StartTLS, "STARTTLS", out)
	}
	if b.cfg.Forward != nil && !b.xclientDone && b.ext.XClient != nil {
		b.xclientDone = true
		if lines := forward.XClientArgs(*b.cfg.Forward, b.ext.XClient); len(lines) > 0 {
			b.xclient = lines[1:]
			b.state = bsXClient
			out = append(out, lines[0]...)
			return append(out, "\r\n"...), protocols.BackendNone
		}
	}
	first, ev := verdict.LoginCommand(&b.Verdict, b.cfg.Login, b.authCommand)
	if ev != protocols.BackendNone {
		return out, ev
	}
	b.state = bsAuth
	return append(out, first...), protocols.BackendNone
}

// xclientReply: Postfix answers each XCLIENT with a fresh 220 greeting (the
// session starts over and wants EHLO); a plain 250 is accepted too.
func (b *Backend) xclientReply(r *smtpwire.Reply, out []byte) ([]byte, protocols.BackendEvent) {
	if r.Code != 220 && r.Code != 250 {
		return out, b.Failf("XCLIENT refused: %s", eol.Quote(r.Line))
	}
	if len(b.xclient) > 0 {
		out = append(out, b.xclient[0]...)
		b.xclient = b.xclient[1:]
		return append(out, "\r\n"...), protocols.BackendNone
	}
	name := b.cfg.Hostname
	if h := b.cfg.Forward.Helo; smtpwire.ValidDomainText(h) {
		name = h
	}
	return b.sendEHLO(out, name), protocols.BackendNone
}

// TLSStarted tells the machine the backend leg is now TLS: what the
// backend said before is discarded and EHLO sent again (RFC 3207).
func (b *Backend) TLSStarted(out []byte) []byte {
	if !b.MarkTLS() {
		return out
	}
	b.scan = 0
	return b.sendEHLO(out, b.cfg.Hostname)
}

// authReply handles the replies to AUTH: 334 continues, 235 succeeds, a
// permanent failure is relayed, anything else fails the login as
// unavailable (the client gets 454 4.7.0).
func (b *Backend) authReply(r *smtpwire.Reply, out []byte) ([]byte, protocols.BackendEvent) {
	switch {
	case r.Code == 334:
		b.Reply = b.Reply[:0]
		return b.Answer("challenge", r.Line, out)
	case r.Code == 235:
		return out, b.End(protocols.BackendAuthOK)
	case r.Code >= 500:
		if b.cfg.HideAuthErrors {
			b.Reply = append(b.Reply[:0], replyAuthFailed...)
		}
		return out, b.End(protocols.BackendAuthFailed)
	}
	return out, b.Failf("authentication failed: %s", eol.Quote(r.Line))
}
