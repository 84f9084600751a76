// Package limits names every cap, deadline and budget switchyard enforces,
// once, with its default. Each limit is a constant here, the packages that
// enforce it take their defaults from it (config's defaults, the router's,
// the breaker's, the bridge's, the engine's DefaultLimits, the admin API's,
// the protocol machines'), and Table says for each its config key, its
// scope and why it has this value. docs/LIMITS.md is that table; a test
// keeps the two in step, and config's tests check that the configuration's
// defaults are these values.
//
// The rule: a new limit is added here first (a constant in this file and
// a row in Table, then `go test ./limits -run TestDoc -update`), and the
// code that enforces it refers to the constant. A number that bounds
// memory, time, concurrency or retries for something a client, a backend
// or an administrator controls does not get written anywhere else.
//
// What stays next to its parser: bounds a specification fixes (RFC 2971's
// 30 ID pairs, RFC 5321's 512-octet lines for XCLIENT, PostgreSQL's NOTIFY
// payload) and bounds that are part of validating a format (the digits of
// a literal's length, an RSA key's size, a glob's alternatives).
//
// This package imports only the standard library, so that every other
// package, the sans-IO protocol machines included, may use it.
package limits

import "time"

// Process and configuration ([server], [mapping], [oauth], [cluster]).
const (
	ShutdownGrace         = 30 * time.Second
	BridgeIdle            = 30 * time.Minute
	BackendTimeout        = 10 * time.Second
	BackendConnectRetries = 1
	HostDownThreshold     = 5
	HostDownMinClients    = 1
	HostDownCooldown      = 30 * time.Second
	HealthCheckInterval   = 10 * time.Second
	DNSCacheTTL           = 60 * time.Second
	DNSMaxStale           = 10 * time.Minute
	DNSRetryInterval      = 5 * time.Second
	NotifyStatusInterval  = 10 * time.Second
	ProxyTTL              = 7
	MaxPEMFile            = 1 << 20
	TicketRotation        = time.Hour
	TicketLifetime        = 12 * time.Hour
)

// Listeners ([listener.<id>]).
const (
	MaxConnections      = 8192
	MaxConnectionsPerIP = 1024
	PreauthTimeout      = 60 * time.Second
	MaxAuthAttempts     = 3
	MaxRecipients       = 100
	MaxMessageSize      = 50 << 20
	CommandTimeout      = 5 * time.Minute
	BackendReplyTimeout = 10 * time.Minute
)

// Routing ([mapping] and the stores).
const (
	PositiveTTL          = 10 * time.Minute
	NegativeTTL          = 30 * time.Second
	CacheMaxEntries      = 1_000_000
	CacheEntryBytes      = 64
	MaxCacheBytes        = 1 << 30
	MaxInternedDests     = 4096
	LookupTimeout        = 5 * time.Second
	MaxIdentifierLen     = 1024
	RedisPoolSize        = 16
	RedisTimeout         = 500 * time.Millisecond
	SQLPoolSize          = 16
	SQLTimeout           = time.Second
	SQLMaxIdleConns      = 4
	MappingWatchInterval = time.Second
)

// Bearer tokens ([oauth]).
const (
	OAuthLeeway         = 60 * time.Second
	MaxTokenLen         = 16 << 10
	JWKSRefreshInterval = 10 * time.Minute
	JWKSRetryInterval   = 30 * time.Second
	JWKSMinKickInterval = 30 * time.Second
	JWKSFetchTimeout    = 15 * time.Second
	MaxJWKSSize         = 1 << 20
	MaxJWKSKeys         = 100
)

// HTTP ([http]) and HTTP/2.
const (
	BodyExtractCap          = 64 << 10
	MaxBodyExtractCap       = 1 << 20
	MaxHeadSize             = 64 << 10
	MaxHeadFields           = 100
	MaxFieldLine            = 8 << 10
	MaxTarget               = 8 << 10
	MaxChunkLine            = 4 << 10
	MaxChunkExt             = 16 << 10
	MaxTrailer              = 8 << 10
	MaxBasicCredentials     = 8 << 10
	HTTPBodyHold            = 64 << 10
	HTTPMaxDiscard          = 64 << 10
	RelayIdle               = 60 * time.Second
	KeepaliveTimeout        = 75 * time.Second
	MaxKeepaliveRequests    = 1000
	MaxIdleLegsPerDest      = 32
	LegIdleTimeout          = 30 * time.Second
	H2IdleTimeout           = 2 * time.Minute
	H2ResponseHeaderTimeout = 2 * time.Minute
	H2MaxConcurrentStreams  = 100
	H2BackendDialTimeout    = 5 * time.Second
	H2BackendTLSTimeout     = 10 * time.Second
	H2BackendIdleTimeout    = 90 * time.Second
	H2MaxIdlePerBackend     = 64
	H2ExpectContinueTimeout = time.Second
)

// The reactor (options.DefaultLimits and its neighbours).
const (
	FirstByteTimeout         = 2 * time.Second
	HandshakeTimeout         = 10 * time.Second
	ProxyHeaderTimeout       = 3 * time.Second
	MaxHandshakes            = 1024
	MaxHandshakesPerListener = 512
	MaxHandshakesPerAddr     = 32
	OutputSoftCap            = 256 << 10
	OutputHardCap            = 4 << 20
	PreauthInputCap          = 128 << 10
	RelayInputCap            = 512 << 10
	BackendInputCap          = 1 << 20
	FDReserve                = 256
	MaxDials                 = 4096
	MaxDelayHold             = 20 * time.Second
	FeedChunk                = 4 << 10
	SweepInterval            = 250 * time.Millisecond
)

// The bridge (splice).
const (
	PipeSize            = 1 << 20
	MaxPipes            = 1024
	CopyBufferSize      = 16 << 10
	TLSBufferSize       = 64 << 10
	TurnBudget          = 8
	BridgeSweepInterval = time.Second
)

// Health checks and the breaker (health).
const (
	ProbeTimeout = 30 * time.Second
	MaxGreeting  = 8 << 10
)

// Protocol machines: what a client may send before login, and what a
// backend may answer.
const (
	MaxAuthLine            = 32 << 10
	IMAPMaxLine            = 8 << 10
	IMAPMaxLiteral         = 8 << 10
	IMAPMaxBackendLine     = 64 << 10
	IMAPMaxBackendRelay    = 128 << 10
	POP3MaxLine            = 2 << 10
	POP3MaxBackendLine     = 4 << 10
	POP3MaxCapaLines       = 256
	SMTPMaxLine            = 2048
	SMTPMaxErrors          = 20
	SMTPMaxReplyLine       = 8 << 10
	SMTPMaxReplyLines      = 256
	SMTPMaxBackendRelay    = 64 << 10
	SMTPMaxRelayReplyLines = 100
	SieveMaxCommand        = 40 << 10
	SieveMaxQuoted         = 64 << 10
	SieveMaxBackendReply   = 64 << 10
	SASLMaxFieldLen        = 1024
)

// The admin API ([admin]).
const (
	AdminMinTokenLen       = 32
	AdminMinTokenLenFloor  = 16
	AdminLockoutThreshold  = 5
	AdminLockoutDuration   = 5 * time.Minute
	AdminLockoutPace       = time.Second
	AdminMaxLockoutWait    = 30 * time.Second
	AdminLockoutEntries    = 16 << 10
	AdminReadHeaderTimeout = 5 * time.Second
	AdminReadTimeout       = 30 * time.Second
	AdminWriteTimeout      = 60 * time.Second
	AdminIdleTimeout       = 60 * time.Second
	AdminMaxConns          = 256
	AdminMaxConnsPerClient = 8
	AdminLoopbackReserve   = 8
	AdminMaxHeaderBytes    = 16 << 10
	AdminMaxQueryLen       = 8 << 10
	AdminMaxDestinationLen = 256
	AdminMaxImportBytes    = 16 << 20
	AdminMaxDelay          = 24 * time.Hour
	AdminStoreTimeout      = 5 * time.Second
	AdminImportTimeout     = 30 * time.Second
	MetricsScrapeTimeout   = 10 * time.Second
	MetricsScrapesInFlight = 4
)
