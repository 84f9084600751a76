package engine

import "github.com/switchyard-mail/switchyard/engine/options"

// The engine's configuration and observation types live in engine/options
// (so the backend side, engine/backend, can use them without the reactor);
// these aliases keep engine's API as it was.
type (
	TLSMode      = options.TLSMode
	ProxyMode    = options.ProxyMode
	Forwarding   = options.Forwarding
	Listener     = options.Listener
	DestProtocol = options.DestProtocol
	Destination  = options.Destination
	Driver       = options.Driver
	RelayDriver  = options.RelayDriver
	H2Driver     = options.H2Driver
	Resolver     = options.Resolver
	Health       = options.Health
	HealthFrom   = options.HealthFrom
	Options      = options.Options
	Limits       = options.Limits
	Observer     = options.Observer
	Event        = options.Event
)

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
	EventLogin     = options.EventLogin
	EventKick      = options.EventKick
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
