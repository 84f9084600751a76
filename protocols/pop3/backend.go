package pop3

import (
	"bytes"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
	"github.com/switchyard-mail/switchyard/protocols/internal/verdict"
)

// BackendConfig configures one replay on a backend. StartTLS is STLS after
// the greeting's CAPA. Forward goes with XCLIENT in Dovecot's raw dialect
// (Info.Proto is ignored), announced in CAPA or in the greeting's response
// code. HideAuthErrors keeps temporary failures ([IN-USE], [LOGIN-DELAY],
// [SYS/...]).
type BackendConfig = protocols.ReplayConfig

type backendState uint8

const (
	bsGreeting backendState = iota
	bsCapa                  // waiting for the status line of CAPA
	bsCapaList              // reading the CAPA lines up to "."
	bsStartTLS
	bsLogin
)

// step is a command whose reply the machine waits for, in order.
type step uint8

const (
	stepXClient step = iota
	stepUTF8
	stepUser
	stepPass
	stepAuth
)

type command struct {
	step step
	line []byte
}

// Backend replays one client's authentication on a POP3 backend. It
// implements protocols.BackEnd.
type Backend struct {
	cfg       BackendConfig
	state     backendState
	caps      capaSet
	capaLines int
	scan      int
	// greetXClient: XCLIENT attributes from the greeting's response code.
	greetXClient []string

	todo    []command             // not sent yet
	waiting verdict.Pending[step] // sent, replies pending

	verdict.Verdict
}

var _ protocols.BackEnd = (*Backend)(nil)

// NewBackend returns a machine for one backend connection. The engine
// feeds it the backend's greeting first.
func NewBackend(cfg BackendConfig) *Backend {
	return &Backend{cfg: cfg, Verdict: verdict.Verdict{Name: "pop3 backend"}}
}

// Feed consumes backend lines. After BackendStartTLS and the verdict it
// consumes nothing past the line that produced the event.
func (b *Backend) Feed(in []byte, out []byte) (consumed int, outp []byte, ev protocols.BackendEvent) {
	return b.FeedFramed(in, out, &b.scan, frameResponse, "response line too long", b.handle)
}

func (b *Backend) handle(line []byte, out []byte) ([]byte, protocols.BackendEvent) {
	line = eol.Trim(line)
	if b.state == bsCapaList {
		return b.capaLine(line, out)
	}
	r, ok := parseReply(line)
	if !ok {
		return out, b.Failf("malformed response %s", eol.Quote(line))
	}
	switch b.state {
	case bsGreeting:
		if r.kind != '+' {
			return out, b.Failf("unexpected greeting %s", eol.Quote(line))
		}
		// Dovecot's pop3-login announces XCLIENT to trusted peers as a
		// response code of its greeting ("+OK [XCLIENT] ..."), not in CAPA.
		b.greetXClient = forward.ParseXClientCapability(string(r.code))
		return b.sendCapa(out)
	case bsCapa:
		switch r.kind {
		case '+':
			b.state, b.capaLines = bsCapaList, 0
			return out, protocols.BackendNone
		case '-':
			// A pre-CAPA server (RFC 1939 only): USER/PASS, nothing else.
			b.caps = capaSet{user: true}
			return b.advance(out)
		}
	case bsStartTLS:
		return out, b.StartTLSReply(r.kind == '+', "STLS", line)
	case bsLogin:
		return b.loginReply(&r, out)
	}
	return out, b.Failf("unexpected response %s", eol.Quote(line))
}

func (b *Backend) sendCapa(out []byte) ([]byte, protocols.BackendEvent) {
	b.state, b.caps = bsCapa, capaSet{}
	return append(out, "CAPA\r\n"...), protocols.BackendNone
}

func (b *Backend) capaLine(line []byte, out []byte) ([]byte, protocols.BackendEvent) {
	if string(line) == "." {
		return b.advance(out)
	}
	if b.capaLines++; b.capaLines > maxCapaLines {
		return out, b.Failf("CAPA response too long")
	}
	if len(line) > 0 && line[0] == '.' {
		line = line[1:] // byte-stuffed
	}
	b.caps.addLine(line)
	return out, protocols.BackendNone
}

// advance sends what comes after CAPA: STLS, or XCLIENT, UTF8 and the
// login. UTF8 goes to a backend that advertises it when the client sent it
// to the proxy (UTF8FromLogin), after XCLIENT (which stands for the
// connection) and before the credentials, as a client would send it.
func (b *Backend) advance(out []byte) ([]byte, protocols.BackendEvent) {
	if b.NeedStartTLS(b.cfg.StartTLS) {
		b.state = bsStartTLS
		return b.SendStartTLS(b.caps.stls, "STLS", out)
	}
	login, ev := verdict.LoginCommand(&b.Verdict, b.cfg.Login, b.loginCommands)
	if ev != protocols.BackendNone {
		return out, ev
	}
	b.todo = b.todo[:0]
	xclient := b.caps.xclient
	if xclient == nil {
		xclient = b.greetXClient
	}
	for _, l := range forward.DovecotXClientArgs(b.cfg.Forward, xclient) {
		b.todo = append(b.todo, command{stepXClient, append([]byte(l), "\r\n"...)})
	}
	if b.caps.utf8 && UTF8FromLogin(b.cfg.Login) {
		b.todo = append(b.todo, command{stepUTF8, []byte("UTF8\r\n")})
	}
	b.todo = append(b.todo, login...)
	b.state = bsLogin
	return b.send(out), protocols.BackendNone
}

// send writes the next command, or all of them when the backend
// advertises PIPELINING (RFC 2449 section 6.6).
func (b *Backend) send(out []byte) []byte {
	for len(b.todo) > 0 {
		c := b.todo[0]
		b.todo = b.todo[1:]
		out = append(out, c.line...)
		b.waiting.Add(c.step)
		if !b.caps.pipelining {
			break
		}
	}
	return out
}

// TLSStarted tells the machine the backend leg is now TLS: capabilities
// learnt before are discarded and asked again.
func (b *Backend) TLSStarted(out []byte) []byte {
	if !b.MarkTLS() {
		return out
	}
	b.scan = 0
	out, _ = b.sendCapa(out)
	return out
}

func (b *Backend) loginReply(r *reply, out []byte) ([]byte, protocols.BackendEvent) {
	st, out, ev, done := b.waiting.Reply(&b.Verdict, r.line, r.kind == 'c', "continuation", stepAuth, out)
	switch {
	case done:
		return out, ev
	case st == stepUTF8:
		// The client has its +OK from the proxy already; a backend that
		// refuses UTF-8 mode can still take the login, in ASCII mode.
		return b.send(out), protocols.BackendNone
	case r.kind == '+' && (st == stepXClient || st == stepUser):
		return b.send(out), protocols.BackendNone
	case r.kind == '+':
		return out, b.Accepted(r.line, "\r\n")
	case st == stepXClient:
		return out, b.Failf("XCLIENT refused: %s", eol.Quote(r.line))
	}
	return out, b.Refused(b.cfg.HideAuthErrors && !temporaryCode(r.code), replyAuthFailed, r.line, "\r\n")
}

// temporaryCode: refusals that are not about the credentials and that the
// client should see even when auth errors are hidden (RFC 2449, 3206).
func temporaryCode(code []byte) bool {
	for _, c := range [...]string{"IN-USE", "LOGIN-DELAY", "SYS/TEMP", "SYS/PERM"} {
		if bytes.EqualFold(code, []byte(c)) {
			return true
		}
	}
	return false
}
