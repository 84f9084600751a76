// Package frontend holds what every client-facing machine (the imap,
// pop3, managesieve and smtp Server) does the same way: its states, the
// Feed loop, the SASL exchange, refused logins and closing replies.
package frontend

import (
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// State is where a client-facing machine stands.
type State uint8

const (
	Command State = iota // reading commands
	SASL                 // an AUTH exchange: waiting for a client response line
	Login                // EventLogin returned: waiting for the engine
	Closed
)

// Session is embedded in each Server: where it stands, whether the client
// leg is TLS, how many logins were refused, the SASL exchange in progress
// and the protocol's canned replies.
type Session struct {
	State       State
	TLS         bool
	Failures    int
	MaxFailures int          // refused logins that close the connection
	Auth        *sasl.Server // the exchange in progress (State SASL)
	// Pending is the login handed to the engine (EventLogin); nil
	// otherwise, so that an idle connection does not carry one (168
	// bytes of each of tens of thousands).
	Pending *protocols.Login
	Replies *Replies // shared by every connection of the protocol
}

// Login returns the credentials after EventLogin.
func (s *Session) Login() *protocols.Login {
	if s.Pending == nil {
		s.Pending = new(protocols.Login)
	}
	return s.Pending
}

// LoginFailed appends the reply to a login the engine could not complete,
// in the words of Replies (see Refusal), and reports whether the
// connection closes.
func (s *Session) LoginFailed(kind protocols.FailKind, relay []byte, out []byte) ([]byte, bool) {
	s.Pending = nil
	return s.Refusal(kind, relay, out, s.Replies)
}

// Close appends the reply that closes the connection (an exchange in
// progress is dropped); Feed consumes nothing more.
func (s *Session) Close(out []byte, reply string) []byte {
	s.Auth, s.State = nil, Closed
	return append(out, reply...)
}

// Step takes the next command (or SASL response) at the start of rest. It
// returns how many octets it consumed (none while the command is
// incomplete) and an event (EventNone to go on).
type Step func(rest, out []byte) (n int, outp []byte, ev protocols.Event)

// Feed is the body of a FrontEnd's Feed loop: step takes one command after another
// until an event, an incomplete command or the end of in. While the engine
// holds a login nothing is consumed; once Closed all of in is, with
// EventClose.
func (s *Session) Feed(in, out []byte, step Step) (consumed int, outp []byte, ev protocols.Event) {
	for {
		switch s.State {
		case Login:
			return consumed, out, protocols.EventNone
		case Closed:
			return len(in), out, protocols.EventClose
		}
		rest := in[consumed:]
		if len(rest) == 0 {
			return consumed, out, protocols.EventNone
		}
		n, o, ev := step(rest, out)
		consumed, out = consumed+n, o
		if ev != protocols.EventNone || n == 0 {
			return consumed, out, ev
		}
	}
}

// Refused counts a refused login; the one that reaches MaxFailures
// closes the machine, and Refused reports true.
func (s *Session) Refused() bool {
	s.Failures++
	if s.Failures >= s.MaxFailures {
		s.State = Closed
		return true
	}
	return false
}

// Replies are a protocol's answers to a login the engine could not
// complete and to the engine's closings, each a whole line (or lines)
// with CRLF.
type Replies struct {
	Rejected    string // refused, and the backend's line is not relayed
	Unavailable string // no backend could take it
	TooMany     string // after the refusal that closes the connection

	Busy     string // TooBusy: refused by a limit
	Idle     string // Timeout: closing an idle connection
	Shutdown string // ShuttingDown: the proxy drains
}

// TooBusy appends the reply for a connection refused by a limit.
func (s *Session) TooBusy(out []byte) []byte { return append(out, s.Replies.Busy...) }

// Timeout appends the reply sent before closing an idle connection.
func (s *Session) Timeout(out []byte) []byte { return append(out, s.Replies.Idle...) }

// ShuttingDown appends the reply sent when the proxy drains.
func (s *Session) ShuttingDown(out []byte) []byte { return append(out, s.Replies.Shutdown...) }

// Refusal is the body of FrontEnd.LoginFailed, given the replies (the
// Session's, or ones made for this login): a refusal relays the backend's
// line (relay, CRLF added when it has no LF) or r.Rejected and is
// counted; anything else gets r.Unavailable. It reports whether the
// connection closes.
func (s *Session) Refusal(kind protocols.FailKind, relay, out []byte, r *Replies) ([]byte, bool) {
	if s.State == Closed {
		return out, true
	}
	s.State = Command
	switch kind {
	case protocols.FailRejected:
		if len(relay) > 0 {
			out = append(out, relay...)
			if relay[len(relay)-1] != '\n' {
				out = append(out, "\r\n"...)
			}
		} else {
			out = append(out, r.Rejected...)
		}
		s.Failures++
	default:
		out = append(out, r.Unavailable...)
	}
	if s.Failures >= s.MaxFailures {
		s.State = Closed
		return append(out, r.TooMany...), true
	}
	return out, false
}
