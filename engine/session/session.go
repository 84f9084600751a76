// Package session is the contract between the engine's transport (a client
// connection on an event loop, its backend legs, the bridge) and the kinds
// of session a connection carries (engine/login, engine/relay). A kind
// speaks its protocol through a Conn and never touches a socket, a loop or
// a descriptor: the engine keeps every socket's single owner, every cap and
// every deadline. Everything here runs on the connection's event loop.
package session

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/switchyard-mail/switchyard/engine/options"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/router"
)

// Kind is what a client connection carries, chosen at accept by the
// listener: a login (bridged after the verdict), a pass-through or a relay.
type Kind interface {
	// Begin starts the protocol once the transport is ready (PROXY header
	// read, implicit TLS up).
	Begin()
	// Input is called when the connection holds new plaintext.
	Input()
	// TLSUp is called when a STARTTLS upgrade the session asked for is done.
	TLSUp()
	// Expired is called when the connection's deadline passed.
	Expired(now time.Time)
	// Stop ends the session for a shutdown (kick false: say goodbye in the
	// protocol's words) or an admin kick.
	Stop(kick bool)
	// Gone is called once the client socket is closed: release what the
	// session holds; it is never called again.
	Gone()
	// Describe says where the session stands, for the admin API.
	Describe() (state, account, destination string)
}

// Conn is a client connection as a session kind sees it: its transport
// and the engine's services for it.
type Conn interface {
	// Listener is the listener the client came in on.
	Listener() *options.Listener
	// Client is the client's address (after a trusted PROXY header).
	Client() netip.AddrPort
	// SessionName is the session's id in logs and at backends.
	SessionName() string
	// Forward describes the client for a backend (PROXY, XCLIENT, ID).
	Forward() forward.Info

	// Input is the plaintext not consumed yet; Consume takes n bytes of it.
	Input() []byte
	Consume(n int)
	// Out is the loop's scratch for one step's reply (length 0): append
	// to it and Write the result at once.
	Out() []byte
	// RelayOut is the loop's scratch for one relay machine call.
	RelayOut() *protocols.RelayOut
	// Write sends to the client (through TLS when on); past the output's
	// hard cap the client is closed.
	Write(b []byte)
	// Live reports whether the session may still act on the connection.
	Live() bool
	// Behind reports that output waits past the soft cap; Drained that it
	// is back under half of it.
	Behind() bool
	Drained() bool
	// OutputSoftCap is the soft cap on unsent output.
	OutputSoftCap() int
	// Pause and Unpause stop and restart reading the client.
	Pause()
	Unpause()
	// AddPaused asks the loop to call r.Resume a few times a second until
	// DropPaused.
	AddPaused(r Resumer)
	DropPaused(r Resumer)
	// SetTimeout arms the deadline d from now (0: none); SetDeadline arms
	// an absolute one.
	SetTimeout(d time.Duration)
	SetDeadline(t time.Time)
	// StartTLS upgrades the connection once the go-ahead was written; the
	// session goes on in TLSUp.
	StartTLS()
	// Close ends the connection (Gone follows).
	Close()
	// Post runs fn on the connection's loop as a task.
	Post(fn func()) bool

	// Log is the engine's logger; Refusal counts a refusal by reason.
	Log() *slog.Logger
	Refusal(reason string)
	// Options are the engine's options (read only).
	Options() *options.Options
	// Draining reports whether the proxy is shutting down or drained.
	Draining() bool
	// DelayedUntil is when a delay of account ends (zero: none).
	DelayedUntil(account string, now time.Time) time.Time
	// Resolve routes account: done runs on the loop, inline (true) when
	// the router could answer at once.
	Resolve(account string, done func(res router.Result, err error, inline bool))
	// Admit applies the admission gate to a routed account.
	Admit(req AdmitRequest, res router.Result, err error) Admission
	// Destination is the destination named id as configured now, or nil.
	Destination(id string) *options.Destination
	// HealthSuccess and HealthFailure report on dest for the listener's
	// protocol (client: who saw it; zero for the host's own doing).
	HealthSuccess(dest *options.Destination)
	HealthFailure(dest *options.Destination, client netip.AddrPort)
	// Audit writes a login's outcome line (outcome "" is success).
	Audit(account, dest, outcome, reason string, since time.Time)
	// LoginFailed counts a failed login in the metrics.
	LoginFailed(kind protocols.FailKind, outcome string)
	// Relaying counts a relayed session in (+1) or out (-1).
	Relaying(delta int64)

	// StartReplay replays login at the admitted destination; the verdict
	// reaches owner on the loop (a success bridges the session).
	StartReplay(owner ReplayOwner, login *protocols.Login, adm Admission) Replay
	// Dial opens a backend leg to dest for owner; TakeLeg reuses an idle
	// one (nil: none); ParkLeg keeps l idle when m says it may be reused.
	Dial(owner LegOwner, dest *options.Destination, dp options.DestProtocol) Leg
	TakeLeg(owner LegOwner, dest *options.Destination) Leg
	ParkLeg(m protocols.Relay, l Leg) bool
	// Tunnel hands the client and l to the bridge (an HTTP upgrade):
	// clientFirst goes to the client first, backendFirst to the backend
	// ahead of the client's unconsumed input.
	Tunnel(l Leg, clientFirst, backendFirst []byte, account string)
}

// Resumer is a session whose reading is paused for backpressure.
type Resumer interface {
	Resume()
}

// ReplayOwner is the session behind a replay.
type ReplayOwner interface {
	// ReplayFailed: the login did not complete; relay is the backend's
	// rewritten refusal (FailRejected), else nil.
	ReplayFailed(kind protocols.FailKind, relay []byte, reason string)
	// Bridged: the session now lives in the bridge (or failed to get
	// there: the client is closed either way).
	Bridged()
	// Account is the normalized account, for logs and the bridge.
	Account() string
}

// Replay is a login being replayed at a backend.
type Replay interface {
	// Abandon gives it up: nothing is delivered afterwards.
	Abandon()
	// Dest is where it goes.
	Dest() *options.Destination
}

// Leg is a backend connection on the client's loop, owned by one session.
// A leg that fails or closes is dead: its owner hears LegDown once, from
// a loop task, and forgets it.
type Leg interface {
	Dest() *options.Destination
	Protocol() options.DestProtocol
	// Input is what the backend sent and the owner has not consumed.
	Input() []byte
	Consume(n int)
	// Open: connected and not upgrading; Dead: failed, closed or given up.
	Open() bool
	Dead() bool
	Behind() bool
	Drained() bool
	Pause()
	Unpause()
	// Write sends to the backend; a failure kills the leg.
	Write(b []byte)
	// StartTLS upgrades the leg: LegTLSUp or LegDown follows.
	StartTLS()
	// Drop gives the leg up: no LegDown follows.
	Drop()
}

// LegOwner receives a leg's events.
type LegOwner interface {
	// LegUp: connected (PROXY header sent; implicit TLS done).
	LegUp(l Leg)
	// LegData: the leg holds new bytes.
	LegData(l Leg)
	// LegTLSUp: an upgrade asked with StartTLS is done.
	LegTLSUp(l Leg)
	// LegDown: the leg failed or closed; it is dead.
	LegDown(l Leg, err error)
}

// DialError marks a leg that never connected: the host's doing, not a
// client's (the breaker counts it for every client alike).
type DialError struct{ Err error }

func (e DialError) Error() string { return e.Err.Error() }
func (e DialError) Unwrap() error { return e.Err }
