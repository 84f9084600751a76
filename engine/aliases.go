package engine

import (
	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/engine/sessions"
)

// The engine's configuration and observation types live in engine/options
// (so the backend side, engine/backend, can use them without the reactor),
// the admin view of a session in engine/sessions; these aliases keep
// engine's API as it was.
type (
	TLSMode      = options.TLSMode
	ProxyMode    = options.ProxyMode
	Forwarding   = options.Forwarding
	Listener     = options.Listener
	DestProtocol = options.DestProtocol
	Destination  = options.Destination
	Driver       = options.Driver
	LoginDriver  = options.LoginDriver
	RelayDriver  = options.RelayDriver
	H2Driver     = options.H2Driver
	Resolver     = options.Resolver
	Health       = options.Health
	HealthFrom   = options.HealthFrom
	Options      = options.Options
	Limits       = options.Limits
	Observer     = options.Observer
	Event        = options.Event
	SessionInfo  = sessions.Info
)

// TLS modes, PROXY header modes and forwarding (options).
const (
	TLSPlain       = options.TLSPlain
	TLSStartTLS    = options.TLSStartTLS
	TLSImplicit    = options.TLSImplicit
	ProxyOff       = options.ProxyOff
	ProxyOptional  = options.ProxyOptional
	ProxyRequired  = options.ProxyRequired
	ForwardNone    = options.ForwardNone
	ForwardProxy   = options.ForwardProxy
	ForwardXClient = options.ForwardXClient
)

// Event kinds (options).
const (
	EventLogin = options.EventLogin
	EventKick  = options.EventKick
)

// Session states shown by the admin API (sessions).
const (
	StatePreauth  = sessions.StatePreauth
	StateRouting  = sessions.StateRouting
	StateHeld     = sessions.StateHeld
	StateLogin    = sessions.StateLogin
	StateRelaying = sessions.StateRelaying
	StateBridged  = sessions.StateBridged
	StateHTTP2    = sessions.StateHTTP2
	StateStream   = sessions.StateStream
)

// DefaultLimits are the defaults of Limits (options.DefaultLimits).
var DefaultLimits = options.DefaultLimits

// Auth outcomes (the admin package's label values).
const (
	outcomeSuccess        = "success"
	outcomeFailure        = "failure"
	outcomeBackendFailure = "backend_failure"
	outcomeNoRoute        = "no_route"
	outcomeTempFail       = "tempfail"
	outcomeBadInput       = "bad_input"
)
