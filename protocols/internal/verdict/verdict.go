// Package verdict holds how a backend replay machine ends, the same in
// every protocol package: the event it reports from then on, the bytes
// the client gets, and the error behind BackendFailed.
package verdict

import (
	"fmt"

	"github.com/switchyard-mail/switchyard/protocols"
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
	err    error
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

// Fail ends the replay with BackendFailed: nothing is relayed.
func (v *Verdict) Fail(err error) protocols.BackendEvent {
	v.Result, v.err, v.Reply = protocols.BackendFailed, err, nil
	return protocols.BackendFailed
}

// Failf is Fail with "Name: " and a formatted reason.
func (v *Verdict) Failf(format string, args ...any) protocols.BackendEvent {
	return v.Fail(fmt.Errorf(v.Name+": "+format, args...))
}
