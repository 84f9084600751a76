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
