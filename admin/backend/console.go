package backend

import (
	"context"
	"errors"
	"time"
)

// Console is the part of the Backend that /api/v1 needs beyond the
// reference paths: the operator console's view of a running switchyard.
// The JSON types below are what /api/v1 answers (openapi.json describes
// them); the backend fills them in, the server adds nothing but
// filtering, paging and the problem documents.
type Console interface {
	// Instance describes this process and the instances it knows on the
	// cross-instance bus.
	Instance() Instance
	// Normalize applies the router's normalization ("" when unusable).
	Normalize(id string) string

	// DestinationDetails lists every destination in force, sorted by id.
	DestinationDetails() []Destination
	// SetMaintenance switches a destination out of service for new
	// logins (and, for a cluster node, out of the ring) or back.
	// ErrNotFound for an unknown destination.
	SetMaintenance(dest string, on bool) error

	// Sessions lists live sessions matching f (every state, every
	// protocol, HTTP/2 streams included).
	Sessions(f SessionFilter) []Session
	// KickSessions ends the sessions matching f; it returns how many.
	KickSessions(f SessionFilter) int

	// Mappings reads the explicit mappings of the normalized ids (absent
	// ones are not in the map). ErrUnavailable when the store cannot
	// answer.
	Mappings(ctx context.Context, ids []string) (map[string]string, error)
	// ListMappings pages through the store's mappings (ErrNotListable).
	ListMappings(ctx context.Context, cursor, search string, limit int) (page []MappingEntry, next string, err error)
	// MappingCounts counts mappings per destination (ErrNotListable).
	MappingCounts(ctx context.Context) (map[string]int, error)

	// ExplainRoute says how an account is routed, step by step.
	// ErrInvalid for an unusable identifier.
	ExplainRoute(ctx context.Context, id string) (Route, error)

	// Holds lists the accounts whose logins are held now.
	Holds() []Hold
	// CacheInfo describes the routing cache; CacheEntry one account's
	// entry (ErrInvalid for an unusable identifier).
	CacheInfo() CacheInfo
	CacheEntry(id string) (CacheEntry, error)

	// EffectiveConfig is the configuration in force, secrets masked, as
	// its TOML keys.
	EffectiveConfig() (map[string]any, error)
	// Reload rereads the configuration and says what it applied and what
	// needs a restart. An error means nothing was applied (see
	// ReloadConfig).
	Reload() (ReloadReport, error)

	// Cutover moves an account (see CutoverRequest). ErrUnknownDestination,
	// ErrReadOnly, ErrInvalid (an unusable account or alias, or too
	// many aliases).
	Cutover(ctx context.Context, account string, req CutoverRequest) (CutoverReport, error)
}

// ErrNotListable: the mapping store cannot enumerate its mappings (the
// API answers 501).
var ErrNotListable = errors.New("the mapping store cannot list its mappings")

// Roles a token gives.
const (
	RoleAdmin  = "admin"
	RoleViewer = "viewer"
)

// Instance is GET /api/v1/instance.
type Instance struct {
	Name    string    `json:"name"`
	Started time.Time `json:"started"`
	// Bus is how instances reach each other: "redis", "postgresql" or
	// "none" (a single instance, or instances without a shared store).
	Bus   string `json:"bus"`
	Peers []Peer `json:"peers"`
	Ready bool   `json:"ready"`
}

// Peer is another instance seen on the bus.
type Peer struct {
	Name     string    `json:"name"`
	LastSeen time.Time `json:"last_seen"`
}

// Destination is one destination in GET /api/v1/destinations.
type Destination struct {
	ID          string `json:"id"`
	Host        string `json:"host"`
	Maintenance bool   `json:"maintenance"`
	// ClusterNode: the destination is a [cluster] node; RingDown: the
	// ring skips it now (its breaker, or maintenance).
	ClusterNode bool `json:"cluster_node"`
	RingDown    bool `json:"ring_down"`
	// Down: a protocol's circuit is not closed.
	Down               bool               `json:"down"`
	Sessions           int                `json:"sessions"`
	SessionsByProtocol map[string]int     `json:"sessions_by_protocol"`
	Protocols          []DestProtocolInfo `json:"protocols"`
}

// DestProtocolInfo is one protocol of a destination.
type DestProtocolInfo struct {
	Protocol string       `json:"protocol"`
	Port     int          `json:"port"`
	TLS      string       `json:"tls"`
	Breaker  Breaker      `json:"breaker"`
	Check    *CheckResult `json:"check"` // nil: no active check ran
}

// Breaker is a circuit's state and why.
type Breaker struct {
	State               string     `json:"state"` // closed, open, half-open
	ConsecutiveFailures int        `json:"consecutive_failures"`
	Failures            uint64     `json:"failures_total"`
	Since               *time.Time `json:"since"`      // last change; nil: closed since start
	OpenUntil           *time.Time `json:"open_until"` // open: when a probe may go through
	Reason              string     `json:"reason"`     // why it is not closed ("" when closed)
}

// CheckResult is the last active check of a destination's protocol.
type CheckResult struct {
	At        time.Time `json:"at"`
	OK        bool      `json:"ok"`
	LatencyMS float64   `json:"latency_ms"`
	Error     string    `json:"error,omitempty"`
}

// SessionFilter selects live sessions; empty fields match everything.
type SessionFilter struct {
	ID          uint64
	Account     string // compared after normalization
	Destination string
	Protocol    string
	// Client matches the client's address: an IP ("192.0.2.7"), a CIDR
	// ("192.0.2.0/24") or "ip:port".
	Client string
	State  string
	// Except leaves out sessions in these states (the cut-over keeps
	// held logins and relayed sessions).
	Except []string
}

// Session is one live session.
type Session struct {
	ID          uint64    `json:"id"`
	Parent      uint64    `json:"parent,omitempty"` // an HTTP/2 stream's connection
	Account     string    `json:"account"`
	Protocol    string    `json:"protocol"`
	Listener    string    `json:"listener"`
	Destination string    `json:"destination"`
	Client      string    `json:"client"`
	State       string    `json:"state"`
	Bridge      string    `json:"bridge,omitempty"`
	Started     time.Time `json:"started"`
	AgeSeconds  float64   `json:"age_seconds"`
	BytesIn     int64     `json:"bytes_in"`
	BytesOut    int64     `json:"bytes_out"`
}

// Session states (the engine's).
var SessionStates = []string{"preauth", "routing", "held", "login", "relaying", "bridged", "http2", "stream"}

// MappingEntry is one explicit mapping.
type MappingEntry struct {
	Identifier  string `json:"identifier"`
	Destination string `json:"destination"`
}

// Route is an account's route explanation.
type Route struct {
	Normalized string `json:"normalized"`
	// Decision is what a login gets now.
	Decision RouteDecision `json:"decision"`
	Steps    []RouteStep   `json:"steps"`
	Cache    CacheEntry    `json:"cache"`
}

// RouteDecision is the destination a login gets now and which step gave
// it (Source "none" and Error when there is none).
type RouteDecision struct {
	Destination *string `json:"destination"`
	Source      string  `json:"source"` // store, ring, default, none
	Cached      bool    `json:"cached"`
	Error       string  `json:"error,omitempty"`
	// Maintenance and Down describe the destination's state now.
	Maintenance bool `json:"maintenance"`
	Down        bool `json:"down"`
}

// RouteStep is one step of the resolution order.
type RouteStep struct {
	Step string `json:"step"` // store, ring, default
	// Kind is the store's kind (file, redis, sql, none) for the store step.
	Kind string `json:"kind,omitempty"`
	// Outcome: found, not_found, error, not_configured.
	Outcome     string  `json:"outcome"`
	Destination *string `json:"destination"`
	Error       string  `json:"error,omitempty"`
}

// CacheEntry is the routing cache's entry for one account.
type CacheEntry struct {
	Normalized string `json:"normalized"`
	// Used is false when answers never go through the cache (the mapping
	// file is in memory; or the cache is off).
	Used    bool `json:"used"`
	Present bool `json:"present"`
	// Kind: mapping or no_mapping (present entries only).
	Kind        string     `json:"kind,omitempty"`
	Destination *string    `json:"destination"`
	ExpiresAt   *time.Time `json:"expires_at"`
	// Stale: the entry differs from the store's current answer.
	Stale bool `json:"stale"`
}

// CacheInfo is GET /api/v1/cache.
type CacheInfo struct {
	Used               bool    `json:"used"`
	Entries            int64   `json:"entries"`
	Hits               int64   `json:"hits"`
	Misses             int64   `json:"misses"`
	HitRatePct         float64 `json:"hit_rate_pct"`
	Expired            int64   `json:"expired"`
	Evicted            int64   `json:"evicted"`
	CapacityBytes      int     `json:"capacity_bytes"`
	PositiveTTLSeconds float64 `json:"positive_ttl_seconds"`
	NegativeTTLSeconds float64 `json:"negative_ttl_seconds"`
}

// Hold is an account whose new logins wait.
type Hold struct {
	Account          string    `json:"account"`
	Until            time.Time `json:"until"`
	RemainingSeconds float64   `json:"remaining_seconds"`
	// HeldLogins are the logins waiting now.
	HeldLogins int `json:"held_logins"`
}

// ReloadReport is what POST /api/v1/config/reload did.
type ReloadReport struct {
	Applied         []string `json:"applied"`
	RestartRequired []string `json:"restart_required"`
}

// CutoverRequest is POST /api/v1/accounts/{account}/cutover's body.
type CutoverRequest struct {
	// Destination is where the account goes.
	Destination string `json:"destination"`
	// MaxHold bounds the wait for logins in flight ("10s" by default,
	// at most MaxCutoverHold).
	MaxHold string `json:"max_hold,omitempty"`
	// Aliases are the other login names of the account, held and kicked
	// with it. nil: the e-mail address and its bare local part.
	Aliases []string `json:"aliases,omitempty"`
	// MapAliases writes the mapping of every alias too (by default only
	// the account's).
	MapAliases bool `json:"map_aliases,omitempty"`

	// Hold is MaxHold parsed (set by the server).
	Hold time.Duration `json:"-"`
}

// Cut-over limits.
const (
	DefaultCutoverHold = 10 * time.Second
	MaxCutoverHold     = 60 * time.Second
	MaxCutoverAliases  = 32
)

// CutoverReport is what a cut-over did.
type CutoverReport struct {
	Account     string `json:"account"`
	Destination string `json:"destination"`
	// Previous is the account's route before (its explicit mapping, or
	// where the ring or default sent it).
	Previous RouteDecision `json:"previous"`
	Aliases  []string      `json:"aliases"` // held and kicked with it (normalized)
	Mapped   []string      `json:"mapped"`  // whose mapping was written
	// InFlight: logins that were past the hold when it began; Waited of
	// them finished before the flip, the rest were kicked.
	InFlight  int               `json:"in_flight"`
	Waited    int               `json:"waited"`
	Held      int               `json:"held"`     // logins seen waiting, every instance
	Released  int               `json:"released"` // of them still waiting at the release
	Kicked    int               `json:"kicked"`   // sessions kicked, every instance
	Instances []CutoverInstance `json:"instances"`
	// Missing are instances known on the bus that did not reply in time.
	Missing   []string `json:"missing"`
	HoldMS    int64    `json:"hold_ms"`
	ElapsedMS int64    `json:"elapsed_ms"`
}

// CutoverInstance is one instance's part of a cut-over.
type CutoverInstance struct {
	Instance string `json:"instance"`
	Self     bool   `json:"self"`
	Kicked   int    `json:"kicked"`
	Held     int    `json:"held"`
	Released int    `json:"released"`
	Error    string `json:"error,omitempty"`
}
