package smtprelay

import (
	"fmt"
	"strings"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
	"github.com/switchyard-mail/switchyard/protocols/internal/smtpwire"
)

// The pass-through pair serves SMTP and LMTP listeners bridged raw to one
// fixed destination: the engine dials it at accept and, once
// PassthroughBackend has announced the client, copies bytes both ways. The
// front end only supplies the replies for a session that cannot start.

// PassthroughConfig configures a PassthroughFront.
type PassthroughConfig struct {
	LMTP     bool
	Hostname string // in the 421 replies (default "localhost")
}

// PassthroughFront is the client side of a pass-through session. It never
// reads the client: the backend's greeting and everything after it are
// bridged. It implements protocols.FrontEnd.
type PassthroughFront struct {
	smtpwire.Host // the 421 replies: TooBusy, Timeout, ShuttingDown
	login         protocols.Login
}

var _ protocols.FrontEnd = (*PassthroughFront)(nil)

// NewPassthroughFront returns the front end of one pass-through session.
func NewPassthroughFront(cfg PassthroughConfig) *PassthroughFront {
	return &PassthroughFront{Host: smtpwire.Host(smtpwire.HostName(cfg.Hostname))}
}

// Greeting appends nothing: the backend greets the client.
func (p *PassthroughFront) Greeting(out []byte) []byte { return out }

// Feed consumes nothing: client bytes wait for the bridge.
func (p *PassthroughFront) Feed(in []byte, out []byte) (int, []byte, protocols.Event) {
	return 0, out, protocols.EventNone
}

// Login returns an empty login: pass-through sessions carry none.
func (p *PassthroughFront) Login() *protocols.Login { return &p.login }

// TLSStarted appends nothing (SMTP speaks first from the server side,
// which is the backend here).
func (p *PassthroughFront) TLSStarted(out []byte) []byte { return out }

// LoginFailed: the destination could not be reached or refused the
// announcement. The client has not been greeted, so a 421 ends it (RFC
// 5321 section 3.1).
func (p *PassthroughFront) LoginFailed(kind protocols.FailKind, relay []byte, out []byte) ([]byte, bool) {
	return smtpwire.Append421(out, string(p.Host), textUnavailable), true
}

const textUnavailable = "4.3.0 Service not available, try again later"

// PassthroughBackendConfig configures a PassthroughBackend.
type PassthroughBackendConfig struct {
	LMTP     bool
	Hostname string // in the proxy's EHLO/LHLO (default "localhost")
	// Forward, when set, is announced with XCLIENT if the backend
	// advertises it; nil leaves the backend untouched (PROXY header or
	// nothing).
	Forward *forward.Info
	// TTL, when positive, replaces Forward.TTL.
	TTL int
}

type passthroughState uint8

const (
	ptGreeting passthroughState = iota
	ptHello
	ptXClient
	ptDone
)

// PassthroughBackend announces the client to the fixed destination with
// XCLIENT before the bridge. It authenticates nothing: BackendAuthOK only
// means "bridge now". It implements protocols.BackEnd.
type PassthroughBackend struct {
	cfg      PassthroughBackendConfig
	state    passthroughState
	reader   replyReader
	greeting []byte   // the backend's first greeting, for the client
	xclient  []string // XCLIENT lines still to send
	relay    []byte
	result   protocols.BackendEvent
	err      error
}

var _ protocols.BackEnd = (*PassthroughBackend)(nil)

// NewPassthroughBackend returns the machine for one pass-through leg.
func NewPassthroughBackend(cfg PassthroughBackendConfig) *PassthroughBackend {
	cfg.Hostname = smtpwire.HostName(cfg.Hostname)
	if cfg.Forward != nil {
		f := *cfg.Forward
		// The SMTP dialect of forward.XClientArgs; HELO and PROTO are left
		// out anyway, since the client has not spoken yet.
		f.Proto, f.Helo = "ESMTP", ""
		if cfg.LMTP {
			f.Proto = "LMTP"
		}
		if cfg.TTL > 0 {
			f.TTL = cfg.TTL
		}
		cfg.Forward = &f
	}
	return &PassthroughBackend{cfg: cfg}
}

// Relay returns what the client gets before the bridged bytes.
func (b *PassthroughBackend) Relay() []byte { return b.relay }

// Err explains BackendFailed.
func (b *PassthroughBackend) Err() error { return b.err }

// TLSStarted appends nothing: the pass-through leg never runs STARTTLS.
func (b *PassthroughBackend) TLSStarted(out []byte) []byte { return out }

// Feed reads the greeting, EHLO/LHLO and XCLIENT replies. The client gets
// the backend's greeting: the first one, or the fresh 220 that answers
// XCLIENT, which is then left unconsumed for the bridge.
func (b *PassthroughBackend) Feed(in []byte, out []byte) (consumed int, outp []byte, ev protocols.BackendEvent) {
	if b.cfg.Forward == nil && b.state == ptGreeting {
		return 0, out, b.done(nil)
	}
	for b.state != ptDone {
		end, code, err := b.reader.next(in[consumed:])
		if err != nil {
			return len(in), out, b.failf("%v", err)
		}
		if end == 0 {
			return consumed, out, protocols.BackendNone
		}
		reply := in[consumed : consumed+end]
		switch b.state {
		case ptGreeting:
			if code != 220 {
				return len(in), out, b.failf("unexpected greeting %s", eol.Quote(reply))
			}
			b.greeting = appendReply(nil, reply)
			out = b.hello(out)
		case ptHello:
			if code != 250 {
				return len(in), out, b.failf("%s refused: %s", b.helloVerb(), eol.Quote(reply))
			}
			ext := ehloExtensions(reply)
			lines := forward.XClientArgs(*b.cfg.Forward, withoutClientSaid(ext.XClient))
			if len(lines) == 0 {
				consumed += end
				return consumed, out, b.done(b.greeting)
			}
			b.state, b.xclient = ptXClient, lines[1:]
			out = append(out, lines[0]...)
			out = append(out, "\r\n"...)
		case ptXClient:
			if code < 200 || code > 299 {
				return len(in), out, b.failf("XCLIENT refused: %s", eol.Quote(reply))
			}
			if len(b.xclient) > 0 {
				out = append(out, b.xclient[0]...)
				out = append(out, "\r\n"...)
				b.xclient = b.xclient[1:]
				break
			}
			if code == 220 {
				// A fresh greeting: the client gets it from the bridge.
				return consumed, out, b.done(nil)
			}
			consumed += end
			return consumed, out, b.done(b.greeting)
		}
		consumed += end
	}
	return consumed, out, b.result
}

// withoutClientSaid drops the attributes that describe what the client
// said (HELO, PROTO, LOGIN): it has said nothing yet.
func withoutClientSaid(advertised []string) []string {
	var keep []string
	for _, a := range advertised {
		switch strings.ToUpper(a) {
		case "HELO", "PROTO", "LOGIN":
		default:
			keep = append(keep, a)
		}
	}
	return keep
}

func (b *PassthroughBackend) helloVerb() string {
	if b.cfg.LMTP {
		return "LHLO"
	}
	return "EHLO"
}

func (b *PassthroughBackend) hello(out []byte) []byte {
	b.state = ptHello
	out = append(out, b.helloVerb()...)
	out = append(out, ' ')
	out = append(out, b.cfg.Hostname...)
	return append(out, "\r\n"...)
}

func (b *PassthroughBackend) done(relay []byte) protocols.BackendEvent {
	b.state, b.result, b.relay = ptDone, protocols.BackendAuthOK, relay
	return b.result
}

func (b *PassthroughBackend) fail(err error) protocols.BackendEvent {
	b.state, b.result, b.err, b.relay = ptDone, protocols.BackendFailed, err, nil
	return b.result
}

func (b *PassthroughBackend) failf(format string, args ...any) protocols.BackendEvent {
	return b.fail(fmt.Errorf("smtp pass-through backend: "+format, args...))
}
