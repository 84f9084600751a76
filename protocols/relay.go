package protocols

import "github.com/switchyard-mail/switchyard/protocols/forward"

// This file is the contract for protocols whose sessions never reach the
// bridge: the proxy stays in the middle for the whole connection and may
// talk to a different backend for each transaction (SMTP on port 25 and
// LMTP with per-recipient routing). The machine owns both dialogues; the
// engine owns the sockets, the router, the clock and TLS.
//
// Feeding rules, as for FrontEnd: a machine consumes nothing past the
// command that produced an event other than RelayNone. A FeedClient that
// returns (0, RelayNone) is waiting, for more client bytes or for the
// backend; the engine keeps the bytes and feeds them again after the next
// backend event or client read.

// RelayEvent is what a relaying machine asks of the engine after a call.
// Before acting on it the engine writes Out.Backend to the current leg and
// Out.Client to the client.
type RelayEvent uint8

const (
	// RelayNone: nothing but the output.
	RelayNone RelayEvent = iota
	// RelayStartTLS: the client's STARTTLS go-ahead is in Out.Client. As
	// for EventStartTLS the engine drops what the client pipelined after
	// the command, runs the handshake and calls TLSStarted.
	RelayStartTLS
	// RelayRoute: resolve Recipient() through the router, then call Routed.
	RelayRoute
	// RelayConnect: open a backend leg to Destination(), closing the
	// current leg first (after writing Out.Backend to it, e.g. a QUIT).
	// The engine then calls BackendConnected, or BackendDown if the dial
	// fails.
	RelayConnect
	// RelayBackendStartTLS: the backend accepted STARTTLS. The engine runs
	// a TLS client handshake on the leg and calls BackendTLSStarted, or
	// BackendDown if it fails.
	RelayBackendStartTLS
	// RelayDisconnect: close the backend leg after writing Out.Backend.
	// The machine has already forgotten the leg: no BackendDown follows.
	RelayDisconnect
	// RelayClose: write both outputs, then close the client and any leg.
	RelayClose
	// RelayTunnel: write both outputs, then bridge the client and the
	// current leg byte for byte until either side closes (an HTTP 101
	// Switching Protocols: WebSocket). Bytes the machine left unconsumed
	// on either side are delivered first. No machine call follows.
	RelayTunnel
)

// RelayOut collects what one call produces for each side. The engine
// resets both slices (keeping their capacity) before each call.
type RelayOut struct {
	Client  []byte
	Backend []byte
}

// RouteOutcome is the router's answer for one recipient.
type RouteOutcome uint8

const (
	// RouteOK: the destination is named and usable.
	RouteOK RouteOutcome = iota
	// RouteUnknown: no destination at all (no mapping, no default). A
	// permanent refusal of that recipient.
	RouteUnknown
	// RouteTempFail: the store could not answer, or the destination is
	// marked down or cannot serve the protocol. A temporary refusal.
	RouteTempFail
)

// BackendLeg describes a freshly connected backend leg.
type BackendLeg struct {
	// Client is the client as the proxy knows it (address after any
	// PROXY header, local address, TLS), for protocols that announce it
	// in-band on every leg (HTTP's Forwarded).
	Client forward.Info
	// StartTLS asks the machine to upgrade the leg with STARTTLS before
	// anything else (the destination's endpoint has tls = "starttls").
	StartTLS bool
	// Reused: the leg carried another session's exchanges before and was
	// kept idle by the engine (see RelayLegKeeper).
	Reused bool
	// Forward, when non-nil, is announced with XCLIENT if the backend
	// advertises it (only the advertised attributes). When nil the client
	// was announced with a PROXY header, or not at all.
	Forward *forward.Info
}

// RelayLegKeeper is implemented by machines whose idle legs may serve
// another session to the same destination (HTTP keep-alive). The engine
// asks when it is about to close a leg (after RelayConnect, RelayDisconnect
// or RelayClose, or when the client goes away); a reusable leg is kept idle
// in a pool of the event loop and given to a later RelayConnect for that
// destination, with BackendLeg.Reused set and no new dial.
type RelayLegKeeper interface {
	// LegReusable reports whether the leg being given up is idle: every
	// request on it was answered in full and it stays open.
	LegReusable() bool
}

// Relay is a client-facing machine that relays whole sessions.
type Relay interface {
	// Greeting appends the server greeting for the client.
	Greeting(out []byte) []byte
	// TLSStarted tells the machine the client leg is now TLS and appends
	// what follows (nothing for SMTP: the client speaks first).
	TLSStarted(out []byte) []byte
	// FeedClient consumes client bytes (see the feeding rules above).
	FeedClient(in []byte, o *RelayOut) (consumed int, ev RelayEvent)
	// FeedBackend consumes bytes from the current backend leg.
	FeedBackend(in []byte, o *RelayOut) (consumed int, ev RelayEvent)
	// Recipient is the address to route after RelayRoute, as the client
	// wrote it inside the angle brackets.
	Recipient() string
	// Routed reports the router's answer for Recipient(). dest is the
	// destination ID when outcome is RouteOK.
	Routed(dest string, outcome RouteOutcome, o *RelayOut) RelayEvent
	// Destination is the destination ID to connect to after RelayConnect.
	Destination() string
	// BackendConnected reports that the leg asked for by RelayConnect is
	// up (any PROXY header already sent); its greeting is still to come.
	BackendConnected(leg BackendLeg, o *RelayOut) RelayEvent
	// BackendTLSStarted reports that the leg is now TLS.
	BackendTLSStarted(o *RelayOut) RelayEvent
	// BackendDown reports that the current leg failed: dial error, closed,
	// TLS failure, or no reply within the engine's reply timeout while
	// AwaitingBackend. The engine has closed it. The machine answers the
	// client with a temporary failure where a reply is owed, and never
	// lets a message be accepted without the backend's own verdict.
	BackendDown(o *RelayOut) RelayEvent
	// AwaitingBackend reports whether the machine is waiting for a backend
	// reply (the engine then applies its reply timeout instead of the
	// client's command timeout).
	AwaitingBackend() bool
	// Timeout appends the reply sent before closing an idle client.
	Timeout(out []byte) []byte
	// TooBusy appends the reply for a connection refused by a limit.
	TooBusy(out []byte) []byte
	// ShuttingDown asks the machine to end the session because the proxy
	// drains. Between transactions it appends the goodbye and returns
	// true (the engine closes). In the middle of one it returns false and
	// ends the session itself (RelayClose) once the transaction is over.
	ShuttingDown(o *RelayOut) (closeNow bool)
}
