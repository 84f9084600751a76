package backend

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Backend is what the admin API drives. internal/app implements it over the
// engine, the router, the mapping store and the bridge. Every method must be
// safe to call from any goroutine and must not block for long: the admin
// API calls them from its own request goroutines, never from an event loop.
type Backend interface {
	// Stats returns the counters shown by GET /stats and exported as
	// switchyard_stats_* metrics.
	Stats() Stats
	// Ready reports whether the proxy accepts new connections (false while
	// draining). GET /readyz answers 503 when it is false.
	Ready() bool

	// Destinations lists every configured destination with its health.
	Destinations() []DestinationStatus
	// ResetDestination closes the circuit breaker of a destination (every
	// protocol). ErrNotFound for an unknown id.
	ResetDestination(id string) error

	// Mapping says where an identifier would be routed now, without
	// logging in. ErrInvalid when the identifier is unusable (for instance
	// empty after normalization).
	Mapping(id string) (MappingInfo, error)
	// SetMapping stores identifier -> destination. ErrUnknownDestination,
	// ErrReadOnly, ErrInvalid.
	SetMapping(id, dest string) error
	// DeleteMapping removes an explicit mapping. ErrNotFound when there was
	// none, ErrReadOnly.
	DeleteMapping(id string) error
	// ExportMappings writes every explicit mapping as "identifier
	// destination\n" lines.
	ExportMappings(w io.Writer) error
	// ImportMappings stores every pair, all or nothing where the store
	// allows it, and returns how many it stored. An *ItemError names the
	// pair that failed; ErrReadOnly, ErrUnknownDestination, ErrInvalid may
	// be wrapped in it.
	ImportMappings(pairs []Pair) (int, error)
	// ReloadMappings rereads the mapping store (file) now.
	ReloadMappings() error
	// InvalidateCache drops the routing cache entry of one identifier, or
	// the whole cache when id is "".
	InvalidateCache(id string)

	// Connections lists live client connections, pre-auth (still in the
	// reactor) and bridged (in the splice engine), that match f.
	Connections(f ConnFilter) []Connection
	// Kick closes every live connection that matches f and returns how
	// many it closed. The admin API never passes an empty filter.
	Kick(f ConnFilter) int
	// Delay holds new logins of an account for d (a migration window);
	// d == 0 lifts a delay.
	Delay(id string, d time.Duration) error

	// ReloadConfig rereads the configuration file and applies it. notes
	// lists what was not applied and needs a restart (listener binds...).
	// An error means the running configuration was kept.
	ReloadConfig() (notes []string, err error)
	// Drain stops accepting, flips readiness and says goodbye to idle
	// clients. Calling it twice is not an error.
	Drain() error
	// Undrain takes new connections again after Drain (a drain undone
	// without a restart). Calling it when not draining is not an error;
	// ErrUnavailable when the process is shutting down.
	Undrain() error
	// SetLogLevel changes the level of the process logger: "debug", "info",
	// "warn" or "error" (already validated).
	SetLogLevel(level string) error
}

// Errors a Backend returns; the admin API maps them to status codes.
var (
	ErrNotFound           = errors.New("not found")                  // 404 (DELETE /mappings: 200 with "removed": false)
	ErrUnknownDestination = errors.New("unknown destination")        // 400 naming "destination"
	ErrReadOnly           = errors.New("mapping store is read-only") // 501, as the reference proxy
	ErrInvalid            = errors.New("invalid value")              // 400
	ErrUnavailable        = errors.New("not available")              // 503
	// ErrNotAllowed: the configuration does not let the API do this
	// (admin.config_write, [admin.allow]); wrap it with the reason.
	ErrNotAllowed = errors.New("not allowed by [admin]") // 403
)

// ItemError is returned by ImportMappings when one pair fails; Index is the
// pair's position in the slice (0-based). The admin API turns it into the
// line number of the uploaded file.
type ItemError struct {
	Index int
	Err   error
}

func (e *ItemError) Error() string { return fmt.Sprintf("pair %d: %v", e.Index, e.Err) }

// Unwrap returns the cause.
func (e *ItemError) Unwrap() error { return e.Err }

// Pair is one mapping of a bulk import.
type Pair struct {
	Identifier  string
	Destination string
}

// Stats are the process-wide counters of GET /stats. Counters only grow;
// the Active* and CacheEntries fields are current values.
type Stats struct {
	Accepted        uint64 `json:"accepted"`         // client connections accepted
	Refused         uint64 `json:"refused"`          // connections refused (limits, draining, PROXY header...)
	Logins          uint64 `json:"logins"`           // logins the backend accepted
	LoginFailures   uint64 `json:"login_failures"`   // logins the backend refused
	BackendFailures uint64 `json:"backend_failures"` // dial, TLS or protocol failures towards a backend
	Bridged         uint64 `json:"bridged"`          // sessions handed to the bridge since start

	// ActiveConnections counts every client connection (as the
	// reference proxy does): in the reactor, bridged, or served over
	// HTTP/2; ReactorConnections those still in the reactor (pre-auth,
	// routing, login, relayed), ActiveSessions the bridged ones.
	ActiveConnections  int64 `json:"active_connections"`
	ReactorConnections int64 `json:"reactor_connections"`
	ActiveSessions     int64 `json:"active_sessions"`

	CacheHits    uint64 `json:"cache_hits"`    // routing cache hits
	CacheMisses  uint64 `json:"cache_misses"`  // routing cache misses
	CacheEntries int64  `json:"cache_entries"` // entries in the routing cache

	// Refusals counts, by reason, what the engine's limits refused or
	// cut since start (docs/LIMITS.md lists the reasons); the same counts
	// as switchyard_limit_refusals_total.
	Refusals map[string]uint64 `json:"refusals"`

	// Started is when the process started (uptime_seconds is computed from
	// it; zero leaves uptime_seconds out).
	Started time.Time `json:"-"`
}

// DestinationStatus is one destination in GET /destinations.
type DestinationStatus struct {
	ID   string `json:"destination"`
	Host string `json:"host"`
	// Down is true while the breaker keeps the destination (any protocol)
	// out of service; ConsecutiveFailures counts dial failures since the
	// last success.
	Down                bool             `json:"down"`
	ConsecutiveFailures int              `json:"consecutive_failures"`
	Protocols           []ProtocolStatus `json:"protocols"`
}

// ProtocolStatus is the state of one protocol of a destination. Down is nil
// when the state is unknown (never dialed).
type ProtocolStatus struct {
	Protocol            string `json:"protocol"`
	Port                int    `json:"port"`
	Down                *bool  `json:"down"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
}

// Route sources reported in MappingInfo.Source, as the router names them.
const (
	SourceStore   = "store"
	SourceRing    = "ring"
	SourceDefault = "default"
	SourceNone    = "none"
)

// MappingInfo is the answer of GET /mappings.
type MappingInfo struct {
	Normalized  string // the identifier after normalization
	Destination string // "" when the account has no route
	Source      string // SourceStore, SourceRing, SourceDefault or SourceNone
	Cached      bool   // the answer came from the routing cache
}

// ConnFilter selects live connections. Empty fields match everything.
// Identifier is compared after the backend's normalization.
type ConnFilter struct {
	ID          uint64
	Identifier  string
	Destination string
	Protocol    string
	State       string
}

// Empty reports whether f selects every connection.
func (f ConnFilter) Empty() bool {
	return f.ID == 0 && f.Identifier == "" && f.Destination == "" && f.Protocol == "" && f.State == ""
}

// Connection states.
const (
	StatePreauth = "preauth" // in the reactor: greeting, TLS, login, routing, backend login
	StateBridged = "bridged" // in the bridge
)

// Bridge kinds, for Connection.Bridge and the bytes metric.
const (
	BridgeSplice = "splice" // splice(2), both legs plaintext
	BridgeCopy   = "copy"   // user-space copy (a TLS leg, or the portable bridge)
)

// Connection is one live client connection in GET /connections.
type Connection struct {
	ID          uint64        `json:"id"`
	Account     string        `json:"account"` // "" before login
	Protocol    string        `json:"protocol"`
	Listener    string        `json:"listener,omitempty"`
	Destination string        `json:"destination"` // "" before routing
	Client      string        `json:"client"`      // client address (after PROXY header)
	State       string        `json:"state"`       // StatePreauth or StateBridged
	Bridge      string        `json:"bridge,omitempty"`
	Age         time.Duration `json:"-"`
	BytesIn     int64         `json:"bytes_in"`  // client -> backend
	BytesOut    int64         `json:"bytes_out"` // backend -> client
}
