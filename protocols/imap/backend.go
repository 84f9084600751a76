package imap

import (
	"bytes"

	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/ascii"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
	"github.com/switchyard-mail/switchyard/protocols/internal/verdict"
)

// BackendConfig configures one replay on a backend.
type BackendConfig struct {
	// Login is what the client presented; Login.Tag is used for the
	// authentication command so that the verdict is relayable as is.
	Login *protocols.Login
	// StartTLS runs STARTTLS after the greeting, before any credential.
	StartTLS bool
	// IDParams are name/value pairs sent with ID when the backend
	// advertises it (e.g. Dovecot's x-originating-ip); empty: no ID.
	IDParams []string
	// HideAuthErrors replaces the backend's refusal by a generic one,
	// except temporary failures ([UNAVAILABLE] and the like).
	HideAuthErrors bool
}

type backendState uint8

const (
	bsGreeting backendState = iota
	bsCapability
	bsStartTLS
	bsAuth
)

// maxRelay bounds the untagged lines kept for the client during auth.
const maxRelay = limits.IMAPMaxBackendRelay

// Backend replays one client's authentication on a backend. It implements
// protocols.BackEnd.
type Backend struct {
	cfg      BackendConfig
	state    backendState
	caps     capSet
	haveCaps bool
	scan     int

	prefix    string // internal tag prefix, distinct from the client's tag
	clientTag []byte
	capTag    []byte
	tlsTag    []byte
	idTag     []byte
	idPending bool

	verdict.Verdict
}

var _ protocols.BackEnd = (*Backend)(nil)

// NewBackend returns a machine for one backend connection. The engine
// feeds it the backend's greeting first.
func NewBackend(cfg BackendConfig) *Backend {
	b := &Backend{cfg: cfg, Verdict: verdict.Verdict{Name: "imap backend"}}
	tag := ""
	if cfg.Login != nil {
		tag = cfg.Login.Tag
	}
	if tag == "" || !validTag(tag) {
		tag = "A1" // no usable client tag (tests, misuse): any valid one will do
	}
	b.clientTag = []byte(tag)
	b.prefix = "sy"
	if len(tag) >= 2 && (tag[:2] == "sy" || tag[:2] == "SY") {
		b.prefix = "zz"
	}
	b.capTag = []byte(b.prefix + ".1")
	b.tlsTag = []byte(b.prefix + ".2")
	b.idTag = []byte(b.prefix + ".3")
	return b
}

func validTag(t string) bool {
	for i := 0; i < len(t); i++ {
		if !isTagChar(t[i]) {
			return false
		}
	}
	return t != ""
}

// Feed consumes backend responses. After BackendStartTLS and the verdict it
// consumes nothing past the line that produced the event.
func (b *Backend) Feed(in []byte, out []byte) (consumed int, outp []byte, ev protocols.BackendEvent) {
	return b.FeedFramed(in, out, &b.scan, frameResponse, "response line too long", b.handle)
}

func (b *Backend) handle(line []byte, out []byte) ([]byte, protocols.BackendEvent) {
	r, ok := parseResponse(line)
	if !ok {
		return out, b.Failf("malformed response %s", eol.Quote(line))
	}
	if r.kind == '*' && r.is("BYE") {
		return out, b.Failf("backend closing: %s", eol.Quote(line))
	}
	switch b.state {
	case bsGreeting:
		return b.greeting(&r, out)
	case bsCapability:
		return b.capabilityReply(&r, out)
	case bsStartTLS:
		if r.kind == '*' {
			return out, protocols.BackendNone
		}
		return out, b.StartTLSReply(r.kind == 't' && bytes.Equal(r.tag, b.tlsTag) && r.is("OK"), "STARTTLS", line)
	case bsAuth:
		return b.authReply(&r, out)
	}
	return out, protocols.BackendNone
}

func (b *Backend) greeting(r *response, out []byte) ([]byte, protocols.BackendEvent) {
	if r.kind != '*' || !r.is("OK") {
		return out, b.Failf("unexpected greeting %s", eol.Quote(r.line))
	}
	if list, ok := codeCapabilities(r.text); ok {
		b.caps, b.haveCaps = parseCapabilities(list), true
	}
	return b.advance(out)
}

func (b *Backend) capabilityReply(r *response, out []byte) ([]byte, protocols.BackendEvent) {
	switch r.kind {
	case '*':
		if r.is("CAPABILITY") {
			b.caps, b.haveCaps = parseCapabilities(r.text), true
		}
		return out, protocols.BackendNone
	case 't':
		if bytes.Equal(r.tag, b.capTag) && r.is("OK") {
			if list, ok := codeCapabilities(r.text); ok {
				b.caps, b.haveCaps = parseCapabilities(list), true
			}
			if !b.haveCaps {
				return out, b.Failf("CAPABILITY returned no capabilities")
			}
			return b.advance(out)
		}
	}
	return out, b.Failf("unexpected reply to CAPABILITY: %s", eol.Quote(r.line))
}

// advance sends whatever comes next: CAPABILITY, STARTTLS, or ID and the
// authentication, pipelined.
func (b *Backend) advance(out []byte) ([]byte, protocols.BackendEvent) {
	if !b.haveCaps {
		b.state = bsCapability
		out = append(out, b.capTag...)
		return append(out, " CAPABILITY\r\n"...), protocols.BackendNone
	}
	if b.NeedStartTLS(b.cfg.StartTLS) {
		if b.caps&capStartTLS == 0 {
			return out, b.Failf("STARTTLS required but not advertised")
		}
		b.state = bsStartTLS
		out = append(out, b.tlsTag...)
		return append(out, " STARTTLS\r\n"...), protocols.BackendNone
	}
	if b.cfg.Login == nil {
		return out, b.Failf("no credentials to replay")
	}
	mech, parts, err := b.authCommand(b.cfg.Login.Creds)
	if err != nil {
		return out, b.Fail(err)
	}
	if b.caps&capID != 0 && len(b.cfg.IDParams) >= 2 {
		out = append(out, b.idTag...)
		out = append(out, " ID "...)
		out = appendIDList(out, b.cfg.IDParams)
		out = append(out, "\r\n"...)
		b.idPending = true
	}
	b.state = bsAuth
	out = append(out, parts[0]...)
	b.Auth.Start(mech, parts[1:]...)
	return out, protocols.BackendNone
}

// TLSStarted tells the machine the backend leg is now TLS: capabilities
// learnt before are discarded and asked again.
func (b *Backend) TLSStarted(out []byte) []byte {
	if !b.MarkTLS() {
		return out
	}
	b.scan = 0
	b.caps, b.haveCaps = 0, false
	out, _ = b.advance(out)
	return out
}

func (b *Backend) authReply(r *response, out []byte) ([]byte, protocols.BackendEvent) {
	switch r.kind {
	case '+':
		return b.Answer("continuation", r.line, out)
	case '*':
		if b.idPending {
			return out, protocols.BackendNone // the answer to our ID
		}
		if len(b.Reply)+len(r.line) > maxRelay {
			return out, b.Failf("too many untagged responses during authentication")
		}
		b.Reply = eol.AppendLine(b.Reply, r.line)
		return out, protocols.BackendNone
	}
	if b.idPending && bytes.Equal(r.tag, b.idTag) {
		b.idPending = false // ID is advisory: its verdict does not matter
		return out, protocols.BackendNone
	}
	if !bytes.Equal(r.tag, b.clientTag) {
		return out, b.Failf("unexpected tagged response %s", eol.Quote(r.line))
	}
	switch {
	case r.is("OK"):
		b.Reply = eol.AppendLine(b.Reply, r.line)
		return out, b.End(protocols.BackendAuthOK)
	case r.is("NO"):
		if b.cfg.HideAuthErrors && !temporaryCode(r.code) {
			b.Reply = appendTagged(b.Reply[:0], b.clientTag, "NO [AUTHENTICATIONFAILED] Authentication failed.")
		} else {
			b.Reply = eol.AppendLine(b.Reply[:0], r.line)
		}
		return out, b.End(protocols.BackendAuthFailed)
	}
	return out, b.Failf("authentication rejected: %s", eol.Quote(r.line))
}

// temporaryCode: refusals that are not about the credentials and that the
// client should see even when auth errors are hidden (RFC 5530).
func temporaryCode(code []byte) bool {
	var buf [16]byte
	switch string(ascii.Upper(buf[:], code)) {
	case "UNAVAILABLE", "SERVERBUG", "INUSE", "LIMIT", "OVERQUOTA", "CONTACTADMIN":
		return true
	}
	return false
}
