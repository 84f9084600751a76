package engine

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

// Auth outcomes (the admin package's label values).
const (
	outcomeSuccess        = "success"
	outcomeFailure        = "failure"
	outcomeBackendFailure = "backend_failure"
	outcomeNoRoute        = "no_route"
	outcomeTempFail       = "tempfail"
	outcomeBadInput       = "bad_input"
)

type noObserver struct{}

func (noObserver) ConnAccepted(string, string)                       {}
func (noObserver) ConnRefused(string, string, string)                {}
func (noObserver) Refusal(string)                                    {}
func (noObserver) ConnLeft(string, string)                           {}
func (noObserver) Auth(string, string)                               {}
func (noObserver) Route(router.Result, error)                        {}
func (noObserver) Dial(string, time.Duration, error)                 {}
func (noObserver) BackendAuth(string, string, time.Duration)         {}
func (noObserver) SessionStarted(string, string, string)             {}
func (noObserver) SessionEnded(string, string, string, int64, int64) {}
