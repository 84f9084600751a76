package options

import (
	"time"

	"github.com/switchyard-mail/switchyard/router"
)

// Observer receives the engine's events for metrics. It is called from the
// event loops, dial goroutines and the bridge's goroutine: implementations
// must be cheap, must not block, and must be safe for concurrent use.
type Observer interface {
	// ConnAccepted: a client connection entered the reactor.
	ConnAccepted(listener, proto string)
	// ConnRefused: refused at accept (reason "limit", "per_address",
	// "fd_budget", "fd_exhausted", "draining") or before its protocol
	// started ("proxy_header", "handshake_limit").
	ConnRefused(listener, proto, reason string)
	// Refusal: a limit refused something or a deadline cut something
	// (reasons in docs/LIMITS.md).
	Refusal(reason string)
	// ConnLeft: an accepted connection left the reactor (closed, or
	// handed to the bridge).
	ConnLeft(listener, proto string)
	// Auth: a login's outcome (admin.Auth* values).
	Auth(proto, outcome string)
	// Route: one router resolution.
	Route(res router.Result, err error)
	// Dial: one backend dial, PROXY header included.
	Dial(dest string, d time.Duration, err error)
	// BackendAuth: from the backend leg's open to its verdict.
	BackendAuth(proto, dest string, d time.Duration)
	// SessionStarted and SessionEnded bracket a bridged session; bridge is
	// "splice" (zero-copy) or "copy" (a TLS leg, or the portable bridge).
	SessionStarted(proto, dest, bridge string)
	SessionEnded(proto, dest, bridge string, toBackend, toClient int64)
}

// NoObserver observes nothing (Options.Observer left nil).
type NoObserver struct{}

func (NoObserver) ConnAccepted(string, string)                       {}
func (NoObserver) ConnRefused(string, string, string)                {}
func (NoObserver) Refusal(string)                                    {}
func (NoObserver) ConnLeft(string, string)                           {}
func (NoObserver) Auth(string, string)                               {}
func (NoObserver) Route(router.Result, error)                        {}
func (NoObserver) Dial(string, time.Duration, error)                 {}
func (NoObserver) BackendAuth(string, string, time.Duration)         {}
func (NoObserver) SessionStarted(string, string, string)             {}
func (NoObserver) SessionEnded(string, string, string, int64, int64) {}

// Event is something an operator may want to see in the activity log
// (Options.Events). It never carries a secret.
type Event struct {
	Time        time.Time
	Kind        string // EventLogin, EventKick
	Session     uint64
	Account     string
	Protocol    string
	Listener    string
	Client      string
	Destination string
	Outcome     string // logins: success, failure, backend_failure, no_route, tempfail, bad_input
	Reason      string
}

// Event kinds.
const (
	EventLogin = "login"
	EventKick  = "kick"
)
