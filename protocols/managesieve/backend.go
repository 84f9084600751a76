package managesieve

import (
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
	"github.com/switchyard-mail/switchyard/protocols/internal/verdict"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// BackendConfig configures one replay on a backend. StartTLS is STARTTLS
// after the capability block. Forward goes with XCLIENT in Dovecot's raw
// dialect (Info.Proto is ignored). HideAuthErrors keeps temporary failures
// (TRYLATER).
type BackendConfig = protocols.ReplayConfig

type backendState uint8

const (
	bsCaps     backendState = iota // reading a capability block up to OK
	bsStartTLS                     // STARTTLS sent (then Feed pauses until TLSStarted)
	bsLogin
)

type step uint8

const (
	stepXClient step = iota
	stepAuth
)

// Backend replays one client's authentication on a ManageSieve backend.
// It implements protocols.BackEnd.
type Backend struct {
	cfg   BackendConfig
	state backendState
	caps  capSet
	fr    framer

	waiting verdict.Pending[step]

	verdict.Verdict
}

var _ protocols.BackEnd = (*Backend)(nil)

// NewBackend returns a machine for one backend connection. The engine
// feeds it the backend's capability block first.
func NewBackend(cfg BackendConfig) *Backend {
	return &Backend{cfg: cfg, Verdict: verdict.Verdict{Name: "managesieve backend", Auth: sasl.Replay{Encoding: sasl.QuotedBase64}}}
}

// Feed consumes backend responses. After BackendStartTLS and the verdict
// it consumes nothing past the response that produced the event.
func (b *Backend) Feed(in []byte, out []byte) (consumed int, outp []byte, ev protocols.BackendEvent) {
	return b.Verdict.Feed(in, out, b.next)
}

// next takes one response.
func (b *Backend) next(rest, out []byte) (int, []byte, protocols.BackendEvent) {
	end, res := b.fr.frame(rest, maxResponse)
	switch res {
	case frameMore:
		return 0, out, protocols.BackendNone
	case frameTooLong:
		return len(rest), out, b.Failf("response too long")
	}
	out, ev := b.handle(rest[:end], out)
	return end, out, ev
}

func (b *Backend) handle(raw []byte, out []byte) ([]byte, protocols.BackendEvent) {
	if len(eol.Trim(raw)) == 0 {
		return out, protocols.BackendNone // stray empty line
	}
	r, ok := parseResponse(raw)
	if !ok {
		return out, b.Failf("malformed response %s", eol.Quote(raw))
	}
	if r.kind == 'b' {
		return out, b.Failf("backend closing: %s", eol.Quote(raw))
	}
	switch b.state {
	case bsCaps:
		switch r.kind {
		case 's':
			b.caps.add(r.first, r.second)
			return out, protocols.BackendNone
		case 'o':
			return b.advance(out)
		}
		return out, b.Failf("unexpected greeting %s", eol.Quote(raw))
	case bsStartTLS:
		return out, b.StartTLSReply(r.kind == 'o', "STARTTLS", raw)
	case bsLogin:
		return b.loginReply(&r, out)
	}
	return out, b.Failf("unexpected response %s", eol.Quote(raw))
}

// advance sends what follows a capability block: STARTTLS, or XCLIENT and
// AUTHENTICATE, pipelined.
func (b *Backend) advance(out []byte) ([]byte, protocols.BackendEvent) {
	if b.NeedStartTLS(b.cfg.StartTLS) {
		b.state = bsStartTLS
		return b.SendStartTLS(b.caps.starttls, "STARTTLS", out)
	}
	auth, ev := verdict.LoginCommand(&b.Verdict, b.cfg.Login, b.authCommand)
	if ev != protocols.BackendNone {
		return out, ev
	}
	for _, l := range forward.DovecotXClientArgs(b.cfg.Forward, b.caps.xclient) {
		out = append(out, l...)
		out = append(out, "\r\n"...)
		b.waiting.Add(stepXClient)
	}
	b.state = bsLogin
	b.waiting.Add(stepAuth)
	return append(out, auth...), protocols.BackendNone
}

// TLSStarted tells the machine the backend leg is now TLS. The backend
// sends a fresh capability block on its own (RFC 5804 section 2.2).
func (b *Backend) TLSStarted(out []byte) []byte {
	if !b.MarkTLS() {
		return out
	}
	b.fr = framer{}
	b.caps = capSet{}
	b.state = bsCaps
	return out
}

func (b *Backend) loginReply(r *response, out []byte) ([]byte, protocols.BackendEvent) {
	st, out, ev, done := b.waiting.Reply(&b.Verdict, r.raw, r.kind == 's', "challenge", stepAuth, out)
	switch {
	case done:
		return out, ev
	case st == stepXClient && r.kind == 'o':
		return out, protocols.BackendNone
	case st == stepXClient:
		return out, b.Failf("XCLIENT refused: %s", eol.Quote(r.raw))
	case r.kind == 'o':
		return out, b.Accepted(r.raw, "")
	}
	return out, b.Refused(b.cfg.HideAuthErrors && string(r.code) != "TRYLATER", replyAuthFailed, r.raw, "")
}
