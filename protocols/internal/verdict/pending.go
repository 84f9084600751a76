package verdict

import (
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/internal/eol"
)

// Pending holds the commands a machine has sent and whose final replies
// it awaits, oldest first: a backend answers in order, pipelined or not.
// S names a command (a machine's step).
type Pending[S comparable] []S

// Add records a command sent.
func (p *Pending[S]) Add(s S) { *p = append(*p, s) }

// Next is the command the next reply answers, the oldest pending; ok is
// false when none is (the reply is unsolicited).
func (p Pending[S]) Next() (s S, ok bool) {
	if len(p) == 0 {
		return s, false
	}
	return p[0], true
}

// Done takes the oldest command off: its final reply came.
func (p *Pending[S]) Done() { *p = (*p)[1:] }

// Reply starts a pipelining machine's handling of a backend reply (line):
// an unsolicited one fails the replay, and a challenge (challenge true)
// goes to v.Challenge, only auth being allowed one ("unexpected <what>
// <line>"); both give done with the event to return. Otherwise the reply
// is final: the oldest pending command, the one it answers, is taken off
// and returned.
func (p *Pending[S]) Reply(v *Verdict, line []byte, challenge bool, what string, auth S, out []byte) (s S, outp []byte, ev protocols.BackendEvent, done bool) {
	s, ok := p.Next()
	switch {
	case !ok:
		return s, out, v.Failf("unsolicited response %s", eol.Quote(line)), true
	case challenge:
		out, ev = v.Challenge(s == auth, what, line, out)
		return s, out, ev, true
	}
	p.Done()
	return s, out, protocols.BackendNone, false
}

// Challenge answers a backend challenge (line) that only the
// authentication command may get: expected says whether it is the one
// pending. Otherwise, or when Auth has no response, the replay fails
// ("unexpected <what> <line>").
func (v *Verdict) Challenge(expected bool, what string, line, out []byte) ([]byte, protocols.BackendEvent) {
	if !expected {
		return out, v.Failf("unexpected %s %s", what, eol.Quote(line))
	}
	return v.Answer(what, line, out)
}
