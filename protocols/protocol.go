// Package protocols holds the contract between the engine and the sans-IO
// protocol state machines in its sub-packages (imap, pop3, managesieve,
// smtp). A state machine never touches a socket, a goroutine or a clock: the
// engine feeds it bytes and acts on the events it returns. The same machines
// are driven by the unit tests, the fuzz targets and the bench.
package protocols

import "github.com/switchyard-mail/switchyard/protocols/sasl"

// Event is what a client-facing state machine asks the engine to do after a
// call to Feed. While an event other than EventNone is being handled the
// engine stops feeding; bytes it has not handed over stay with the engine.
type Event uint8

const (
	// EventNone: nothing to do but write the output and keep reading.
	EventNone Event = iota
	// EventStartTLS: the go-ahead for STARTTLS is in the output. The engine
	// writes it, discards every byte the client sent after the command (a
	// real client waits for the go-ahead; anything else is injection), runs
	// the TLS handshake and then calls TLSStarted.
	EventStartTLS
	// EventLogin: the client's credentials are complete (Login returns
	// them). The engine routes the account, replays the authentication on
	// the backend and reports back through LoginFailed, or bridges.
	EventLogin
	// EventClose: write the output, then close the connection.
	EventClose
)

// FailKind says why a login could not be completed at the backend.
type FailKind uint8

const (
	// FailRejected: the backend refused the credentials. Relay holds the
	// backend's reply, already rewritten for the client (may be empty when
	// auth errors are hidden, in which case a generic refusal is used).
	FailRejected FailKind = iota
	// FailUnavailable: no backend could be reached or it misbehaved
	// (IMAP: NO [UNAVAILABLE]; POP3: -ERR [SYS/TEMP]; SMTP: 454 4.7.0).
	FailUnavailable
	// FailTempRouting: the account could not be routed right now (store
	// down, lookup timed out). Same wire reply as FailUnavailable.
	FailTempRouting
)

// Login is what the engine needs to route and replay one authentication.
type Login struct {
	// Tag is the client's command tag (IMAP, ManageSieve), empty elsewhere.
	Tag string
	// Identifier is the routing identifier, before normalization. The
	// engine fills it in (identity.Identify) after EventLogin; front ends
	// leave it empty.
	Identifier string
	// Creds are the credentials to replay, exactly as the client sent them.
	Creds sasl.Credentials
	// ClientID holds the client's own IMAP ID parameters (name/value pairs
	// in order), forwarded to backends that advertise ID. Front ends also
	// carry private facts for their back end here under names starting
	// with "x-" (SMTP's x-smtp-helo, POP3's x-pop3-utf8); forwarding drops
	// every "x-" pair, so they never leave the proxy.
	ClientID []string
}

// FrontEnd is a client-facing pre-authentication state machine.
// Output is appended to out and the extended slice is returned.
type FrontEnd interface {
	// Greeting appends the server greeting.
	Greeting(out []byte) []byte
	// Feed consumes bytes from the client. It returns how many bytes it
	// consumed, the extended output and an event. It consumes nothing past
	// the command that produced an event other than EventNone.
	Feed(in []byte, out []byte) (consumed int, outp []byte, ev Event)
	// Login returns the credentials after EventLogin.
	Login() *Login
	// TLSStarted tells the machine that the client leg is now TLS.
	TLSStarted(out []byte) []byte
	// LoginFailed reports a failed login. It appends the reply and reports
	// whether the connection must now be closed (attempts exhausted).
	LoginFailed(kind FailKind, relay []byte, out []byte) (outp []byte, closeConn bool)
	// TooBusy appends the reply for a connection refused by a limit.
	TooBusy(out []byte) []byte
	// Timeout appends the reply sent before closing an idle connection.
	Timeout(out []byte) []byte
	// ShuttingDown appends the reply sent when the proxy drains.
	ShuttingDown(out []byte) []byte
}

// BackendEvent is what a backend-facing replay machine asks of the engine.
type BackendEvent uint8

const (
	// BackendNone: write the output (if any) to the backend, keep reading.
	BackendNone BackendEvent = iota
	// BackendStartTLS: the backend accepted STARTTLS; start a TLS client
	// handshake on the backend leg, then call TLSStarted.
	BackendStartTLS
	// BackendAuthOK: authenticated. Relay() holds the bytes for the client
	// (untagged lines and the verdict under the client's tag). Every byte
	// the backend sent after the verdict was left unconsumed: the engine
	// delivers it to the client after Relay(), then bridges.
	BackendAuthOK
	// BackendAuthFailed: the backend refused the credentials; Relay() holds
	// its rewritten reply. The engine closes the backend leg.
	BackendAuthFailed
	// BackendFailed: protocol error or unexpected reply; Err() says what.
	// The client gets FailUnavailable.
	BackendFailed
)

// BackEnd is a backend-facing machine that replays one authentication.
type BackEnd interface {
	// Feed consumes bytes from the backend, like FrontEnd.Feed.
	Feed(in []byte, out []byte) (consumed int, outp []byte, ev BackendEvent)
	// TLSStarted tells the machine the backend leg is now TLS.
	TLSStarted(out []byte) []byte
	// Relay returns the bytes for the client after BackendAuthOK or
	// BackendAuthFailed.
	Relay() []byte
	// Err explains BackendFailed.
	Err() error
}
