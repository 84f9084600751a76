package options

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/switchyard-mail/switchyard/internal/fdbudget"
	"github.com/switchyard-mail/switchyard/protocols"
	"github.com/switchyard-mail/switchyard/protocols/forward"
	"github.com/switchyard-mail/switchyard/protocols/sasl"
	"github.com/switchyard-mail/switchyard/router"
	"github.com/switchyard-mail/switchyard/splice"
)

// TLSMode is how a leg uses TLS.
type TLSMode uint8

const (
	TLSPlain TLSMode = iota
	TLSStartTLS
	TLSImplicit
)

func (m TLSMode) String() string {
	switch m {
	case TLSStartTLS:
		return "starttls"
	case TLSImplicit:
		return "implicit"
	}
	return "plain"
}

// ProxyMode is whether a listener expects an inbound PROXY header.
type ProxyMode uint8

const (
	ProxyOff ProxyMode = iota
	ProxyOptional
	ProxyRequired
)

// Forwarding is how a destination learns the real client address.
type Forwarding uint8

const (
	ForwardNone    Forwarding = iota
	ForwardProxy              // PROXY protocol v2 header
	ForwardXClient            // IMAP ID x-originating-*, SMTP/POP3/Sieve XCLIENT
)

// Listener is one configured listener: a protocol on one or more addresses.
type Listener struct {
	ID             string
	Protocol       string // "imap", later "pop3", "managesieve", ...
	Addrs          []string
	TLS            TLSMode
	ProxyProtocol  ProxyMode
	ProxyTrusted   []netip.Prefix
	MaxConnections int
	// MaxConnsPerAddr caps the connections one client address (an IPv6
	// /64) holds on this listener, bridged sessions included (0: no cap).
	MaxConnsPerAddr int
	PreauthTimeout  time.Duration
	// MaxAuthAttempts per connection before it is closed.
	MaxAuthAttempts int

	// Relay makes every connection a relayed session (SMTP/LMTP routed
	// per recipient): the driver must be a RelayDriver.
	Relay bool
	// CommandTimeout bounds the wait for a relay client's next command,
	// ReplyTimeout the wait for a backend reply in a relayed session.
	CommandTimeout, ReplyTimeout time.Duration
	// Passthrough names the destination every connection is bridged to
	// as soon as it is accepted, with no dialogue at the proxy (SMTP/LMTP
	// pass-through); the front end only supplies the failure replies.
	Passthrough string
	// H2 offers HTTP/2 (ALPN h2) on a TLS http listener whose driver is
	// an H2Driver; such connections leave the reactor after the handshake.
	H2 bool
}

// DestProtocol is how a destination serves one protocol.
type DestProtocol struct {
	Port       int
	TLS        TLSMode
	Forwarding Forwarding
}

// Destination is a backend server (or cluster node).
type Destination struct {
	ID                 string
	Host               string
	Protocols          map[string]DestProtocol
	TLSConfig          *tls.Config // client config for TLS legs (verification, pins, client cert)
	AllowPlaintextAuth bool        // replay credentials over a plaintext leg
	HideAuthErrors     bool
	// SourceAddrs, when set, are the local addresses dials bind to, in
	// turn (destination.<id>.source_ips): more source addresses, more
	// ephemeral ports towards one backend.
	SourceAddrs []netip.Addr
	next        atomic.Uint32
}

// NextSource is the source address the next dial binds to, the
// destination's SourceAddrs in turn (false: none is set).
func (d *Destination) NextSource() (netip.Addr, bool) {
	n := len(d.SourceAddrs)
	if n == 0 {
		return netip.Addr{}, false
	}
	return d.SourceAddrs[int(d.next.Add(1))%n], true
}

// Driver builds a protocol's state machines; the engine itself knows no
// protocol. A driver implements LoginDriver (listeners that read a login
// and replay it, or pass through), RelayDriver (Relay listeners), or both,
// and may add H2Driver; it is never asked for a machine it does not have.
type Driver interface{}

// LoginDriver is a Driver for listeners that read the login at the proxy
// and replay it on the backend (and for pass-through listeners).
type LoginDriver interface {
	// NewFrontEnd returns the client-facing machine for a new connection.
	NewFrontEnd(l *Listener, tlsActive bool) protocols.FrontEnd
	// NewBackEnd returns a machine replaying login on dest. startTLS asks
	// it to upgrade a plaintext leg with the protocol's STARTTLS; fwd is
	// non-nil when the destination forwards by protocol (ID/XCLIENT).
	NewBackEnd(login *protocols.Login, dest *Destination, startTLS bool, fwd *forward.Info) protocols.BackEnd
}

// RelayDriver is a Driver whose listeners may relay whole sessions.
type RelayDriver interface {
	// NewRelay returns the machine for a new connection on a Relay listener.
	NewRelay(l *Listener, tlsActive bool) protocols.Relay
}

// H2Driver is a Driver that serves connections which negotiated h2.
type H2Driver interface {
	Driver
	// ServeH2 serves conn until it ends; it runs on its own goroutine.
	// conn.Close ends the connection (and unblocks its reads).
	ServeH2(l *Listener, conn net.Conn, client forward.Info)
}

// Resolver is the part of the router the engine uses.
type Resolver interface {
	// Cached answers without blocking, or returns router.ErrNotCached.
	Cached(id string) (router.Result, error)
	// Resolve may block (a remote store): it runs off the loop.
	Resolve(ctx context.Context, id string) (router.Result, error)
	Normalize(id string) string
}

// Health is the passive circuit breaker per destination and protocol
// (health.Registry). Its calls never block.
type Health interface {
	Allow(dest, proto string) bool
	Success(dest, proto string)
	Failure(dest, proto string)
}

// HealthFrom is implemented by a Health that counts the clients behind
// failures (a breaker one client cannot open): the engine then reports
// each failure with the address of the client it was serving.
type HealthFrom interface {
	FailureFrom(dest, proto, client string)
}

// Options configure an Engine.
type Options struct {
	Listeners    []*Listener
	Destinations map[string]*Destination
	Drivers      map[string]Driver // by protocol name
	Router       Resolver
	Bridge       splice.Bridge
	Health       Health   // optional
	Observer     Observer // optional: metrics
	// Certificates selects the server certificate by SNI. It is called on
	// the handshake goroutine and may be swapped on reload.
	ServerTLS func() *tls.Config
	Logger    *slog.Logger

	// VerifyToken, when set, checks the bearer token of OAUTHBEARER and
	// XOAUTH2 logins before anything is routed: an error fails the login
	// at the proxy; a non-empty account is the verified one and is what
	// the login is routed by (not the a=/user= name beside the token). It
	// returns ("", nil) for other mechanisms. It runs on the event loop:
	// CPU only, no I/O.
	VerifyToken func(c sasl.Credentials) (account string, err error)

	// IdentifierClaim and MasterSeparators feed identity.Identify.
	IdentifierClaim  string
	MasterSeparators string

	BackendTimeout time.Duration // dial + backend dialogue, default 10s
	MaxDials       int           // concurrent backend dials and blocking lookups, default 4096
	Loops          int           // event loops, default GOMAXPROCS
	// FDs is the process's descriptor budget (nil: one is made, keeping
	// the default reserve free below RLIMIT_NOFILE). The bridge and the
	// HTTP/2 server should share it.
	FDs *fdbudget.Budget
	// Limits are the reactor's caps and deadlines; zero fields take the
	// defaults (DefaultLimits).
	Limits Limits
	// ConnectRetries is how many times a failed connect to a backend is
	// tried again, at once, within the login's deadline
	// (server.backend_connect_retries); a failed login is never retried.
	ConnectRetries int
	// LookupHost, when set, resolves destination host names (a cache with
	// a TTL: destination.<id>.dns_cache_ttl); otherwise the dialer
	// resolves on every dial. IP literals are never looked up.
	LookupHost func(ctx context.Context, host string) ([]netip.Addr, error)
	// Events, when set, receives the activity log's events (login
	// outcomes, kicks). It is called from event loops and other
	// goroutines: it must be cheap, must not block, and must be safe for
	// concurrent use.
	Events func(Event)
}
