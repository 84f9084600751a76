// Package verdict holds how a backend replay machine ends, the same in
// every protocol package: the event it reports from then on, the bytes
// the client gets, and the error behind BackendFailed.
package verdict

import (
	"errors"
	"fmt"

	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
)

// Verdict is embedded in a backend machine: its Relay and Err methods are
// the machine's (protocols.BackEnd).
type Verdict struct {
	// Name starts every error ("imap backend").
	Name string
	// Reply is what the client gets after BackendAuthOK or
	// BackendAuthFailed; machines may collect lines in it before.
	Reply []byte
	// Result is BackendNone until the replay ends.
	Result protocols.BackendEvent
	// Auth is the authentication exchange in flight: what to answer to
	// each backend challenge.
	Auth sasl.Replay
	err  error
	tls  tlsStage
}

// tlsStage is where the backend leg's STARTTLS stands.
type tlsStage uint8

const (
	tlsClear   tlsStage = iota
	tlsWaiting          // accepted: Feed pauses until TLSStarted
	tlsDone             // the leg is TLS
)

// NeedStartTLS reports whether the machine, told to use STARTTLS
// (required), must still upgrade the backend leg before the login.
func (v *Verdict) NeedStartTLS(required bool) bool { return required && v.tls != tlsDone }

// MarkTLS is the start of every machine's TLSStarted: when the machine
// waits for the handshake (StartTLSReply came) it records that the leg
// is now TLS and reports true; otherwise it reports false and
// TLSStarted does nothing.
func (v *Verdict) MarkTLS() bool {
	if v.tls != tlsWaiting {
		return false
	}
	v.tls = tlsDone
	return true
}

// Answer sends Auth's response to a backend challenge (line); one it has
// no response for fails the replay ("unexpected <what> <line>").
func (v *Verdict) Answer(what string, line, out []byte) ([]byte, protocols.BackendEvent) {
	if out, ok := v.Auth.Next(out); ok {
		return out, protocols.BackendNone
	}
	return out, v.Failf("unexpected %s %s", what, eol.Quote(line))
}

// SendStartTLS writes the command that upgrades the backend leg (cmd:
// "STARTTLS", POP3's "STLS") when the backend offered it; when it did not
// the replay fails ("<cmd> required but not advertised").
func (v *Verdict) SendStartTLS(offered bool, cmd string, out []byte) ([]byte, protocols.BackendEvent) {
	if !offered {
		return out, v.Failf("%s required but not advertised", cmd)
	}
	out = append(out, cmd...)
	return append(out, "\r\n"...), protocols.BackendNone
}

// StartTLSReply is the event for the backend's reply to cmd (see
// SendStartTLS): BackendStartTLS when it accepted, else the replay fails
// ("<cmd> refused: <line>"). Either way Feed pauses from then on, until
// TLSStarted (MarkTLS); after a failure it looks at nothing else anyway.
func (v *Verdict) StartTLSReply(accepted bool, cmd string, line []byte) protocols.BackendEvent {
	v.tls = tlsWaiting
	if !accepted {
		return v.Failf("%s refused: %s", cmd, eol.Quote(line))
	}
	return protocols.BackendStartTLS
}

// LoginCommand builds the first login commands from login's credentials
// with build (the machine's own): the replay fails when there is no login
// ("no credentials to replay") or build refuses the credentials.
func LoginCommand[C any](v *Verdict, login *protocols.Login, build func(sasl.Credentials) (C, error)) (C, protocols.BackendEvent) {
	var cmd C
	if login == nil {
		return cmd, v.Failf("no credentials to replay")
	}
	cmd, err := build(login.Creds)
	if err != nil {
		return cmd, v.Fail(err)
	}
	return cmd, protocols.BackendNone
}

// Relay returns the bytes for the client after BackendAuthOK or
// BackendAuthFailed.
func (v *Verdict) Relay() []byte { return v.Reply }

// Err explains BackendFailed.
func (v *Verdict) Err() error { return v.err }

// Ended reports whether the replay has its verdict (Result).
func (v *Verdict) Ended() bool { return v.Result != protocols.BackendNone }

// End records ev (BackendAuthOK or BackendAuthFailed) and returns it.
func (v *Verdict) End(ev protocols.BackendEvent) protocols.BackendEvent {
	v.Result = ev
	return ev
}

// Accepted ends the replay with BackendAuthOK; the client gets the
// backend's reply, line and then end (the terminator, for a machine that
// trimmed it).
func (v *Verdict) Accepted(line []byte, end string) protocols.BackendEvent {
	v.Reply = append(append(v.Reply[:0], line...), end...)
	return v.End(protocols.BackendAuthOK)
}

// Refused ends the replay with BackendAuthFailed; the client gets hidden
// when hide (the backend's words are kept from it), else the backend's
// reply as Accepted takes it.
func (v *Verdict) Refused(hide bool, hidden string, line []byte, end string) protocols.BackendEvent {
	if hide {
		v.Reply = append(v.Reply[:0], hidden...)
	} else {
		v.Reply = append(append(v.Reply[:0], line...), end...)
	}
	return v.End(protocols.BackendAuthFailed)
}

// Fail ends the replay with BackendFailed: nothing is relayed.
func (v *Verdict) Fail(err error) protocols.BackendEvent {
	v.Result, v.err, v.Reply = protocols.BackendFailed, err, nil
	return protocols.BackendFailed
}

// Failf is Fail with "Name: " and a formatted reason.
func (v *Verdict) Failf(format string, args ...any) protocols.BackendEvent {
	return v.Fail(fmt.Errorf(v.Name+": "+format, args...))
}

// Step takes the next response at the start of rest. It returns how many
// octets it consumed (none when the response is incomplete) and an event
// (BackendNone to go on).
type Step func(rest, out []byte) (n int, outp []byte, ev protocols.BackendEvent)

// Feed is a machine's Feed loop: it hands step one response after
// another until an event, an incomplete response or the end of in. Once
// the replay has ended it consumes nothing and repeats Result; while
// paused (after StartTLSReply, waiting for TLSStarted) it consumes
// nothing. A step that changes either returns an event, so both are
// looked at only here.
func (v *Verdict) Feed(in, out []byte, step Step) (consumed int, outp []byte, ev protocols.BackendEvent) {
	switch {
	case v.Ended():
		return 0, out, v.Result
	case v.tls == tlsWaiting:
		return 0, out, protocols.BackendNone
	}
	for consumed < len(in) {
		n, o, ev := step(in[consumed:], out)
		consumed, out = consumed+n, o
		if ev != protocols.BackendNone || n == 0 {
			return consumed, out, ev
		}
	}
	return consumed, out, protocols.BackendNone
}

// Framer finds the end of the response at the start of in, scan being how
// far earlier calls looked; end is 0 while more input is needed (see
// eol.Frame).
type Framer func(in []byte, scan int) (end, nextScan int, tooLong bool)

// FeedFramed is Feed for a machine whose responses frame finds: handle
// takes each whole one. *scan is the framer's memory, held by the machine
// (which forgets it at TLSStarted); a response over the limit fails the
// replay with "<Name>: <tooLong>".
func (v *Verdict) FeedFramed(in, out []byte, scan *int, frame Framer, tooLong string,
	handle func(resp, out []byte) ([]byte, protocols.BackendEvent)) (consumed int, outp []byte, ev protocols.BackendEvent) {
	return v.Feed(in, out, func(rest, out []byte) (int, []byte, protocols.BackendEvent) {
		end, next, long := frame(rest, *scan)
		if long {
			return len(rest), out, v.Fail(errors.New(v.Name + ": " + tooLong))
		}
		*scan = next
		if end == 0 {
			return 0, out, protocols.BackendNone
		}
		out, ev := handle(rest[:end], out)
		return end, out, ev
	})
}
