// Package config holds switchyard's configuration: the TOML file, strict
// and validated in full before anything starts, plus the flags and
// SWITCHYARD_* environment variables that let a container run without a
// file. The schema is the one documented for Stalwart's migration proxy, so
// that files written for it work here unchanged, extended with [cluster]
// and a few keys of our own. README.md in this directory is the reference
// for every key.
//
// The usual sequence is Load (or Parse, or Default when there is no file),
// then overrides.Overrides.Apply (package config/overrides), then
// Validate. Parse and Load reject unknown keys and values of the wrong
// type, and fill defaults; they check nothing else, so that flags can
// still complete a partial file. Validate checks everything and reports
// every problem at once.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/switchyard-mail/switchyard/config/source"
	"github.com/switchyard-mail/switchyard/limits"
)

// Config is the whole configuration. Field comments give the TOML key.
type Config struct {
	Server       Server                 `toml:"server"`       // [server]
	TLS          TLS                    `toml:"tls"`          // [tls]
	Listener     map[string]Listener    `toml:"listener"`     // [listener.<id>]
	Destination  map[string]Destination `toml:"destination"`  // [destination.<id>]
	Routing      Routing                `toml:"routing"`      // [routing]
	Mapping      Mapping                `toml:"mapping"`      // [mapping]
	Capabilities Capabilities           `toml:"capabilities"` // [capabilities.<proto>]
	OAuth        OAuth                  `toml:"oauth"`        // [oauth]
	HTTP         HTTPConfig             `toml:"http"`         // [http], [[http.route]]
	Admin        *Admin                 `toml:"admin"`        // [admin]; nil when absent
	Metrics      *Metrics               `toml:"metrics"`      // [metrics]; nil when absent
	Cluster      *Cluster               `toml:"cluster"`      // [cluster]; nil when absent

	src *source.Map // where each key came from, for error messages
}

// Server is [server]: process-wide settings.
type Server struct {
	// Hostname is announced in greetings and EHLO; empty means the local
	// address the client connected to.
	Hostname string `toml:"hostname"`
	// Threads is the number of event loops; 0 means one per CPU.
	Threads int `toml:"threads"`
	// ShutdownGrace is how long bridged sessions may drain on shutdown.
	ShutdownGrace Duration `toml:"shutdown_grace"`
	// BridgeIdle closes a bridged session with no traffic either way.
	BridgeIdle Duration `toml:"bridge_idle"`
	// BackendTimeout bounds connecting to a backend and its pre-auth reply.
	BackendTimeout Duration `toml:"backend_timeout"`
	// BackendConnectRetries is how many more times a failed connect is
	// tried, at once, within backend_timeout.
	BackendConnectRetries int `toml:"backend_connect_retries"`
	// HostDownThreshold consecutive failures mark a backend host down.
	HostDownThreshold int `toml:"host_down_threshold"`
	// HostDownMinClients: failures a backend could have aimed at one
	// client (it refused the connection after accepting it) open the
	// circuit only when the streak spans this many distinct client
	// addresses; failures to connect always count.
	HostDownMinClients int `toml:"host_down_min_clients"`
	// HostDownCooldown is how long a host stays marked down.
	HostDownCooldown Duration `toml:"host_down_cooldown"`
	// HealthCheckInterval runs active checks (connect and read the
	// greeting) of every destination and protocol at this interval; "0s"
	// turns them off (switchyard).
	HealthCheckInterval Duration `toml:"health_check_interval"`
	// ProxyTTL is the hop count sent to backends (x-proxy-ttl, XCLIENT
	// TTL) against proxy loops.
	ProxyTTL int `toml:"proxy_ttl"`
	// LogLevel is trace, debug, info, warn or error (or off).
	LogLevel string `toml:"log_level"`
}

// TLS is [tls]: the certificates the proxy presents to clients.
type TLS struct {
	Certificate map[string]Certificate `toml:"certificate"` // [tls.certificate.<id>]
	Protocols   TLSProtocols           `toml:"protocols"`   // [tls.protocols]
	Tickets     TLSTickets             `toml:"tickets"`     // [tls.tickets]
}

// TLSTickets is [tls.tickets]: session resumption by tickets sealed with
// keys derived from one secret (internal/ticketkeys), so instances that
// share key_file resume each other's sessions.
type TLSTickets struct {
	Enabled  bool     `toml:"enabled"`  // issue and accept tickets
	KeyFile  string   `toml:"key_file"` // shared secret, 32 bytes or more; unset: random per process
	Rotation Duration `toml:"rotation"` // one key per period
	Lifetime Duration `toml:"lifetime"` // how long a ticket resumes
}

// Certificate is [tls.certificate.<id>].
type Certificate struct {
	Cert     string   `toml:"cert"`     // PEM chain file
	Key      string   `toml:"key"`      // PEM private key file
	Subjects []string `toml:"subjects"` // SNI names it serves ("*.example.com" allowed)
	Default  bool     `toml:"default"`  // served when SNI matches nothing
}

// TLSProtocols is [tls.protocols].
// Versions and CipherSuites (tls.go) say what a server applies.
type TLSProtocols struct {
	MinVersion string `toml:"min_version"` // "1.2" or "1.3"
	MaxVersion string `toml:"max_version"` // "1.2" or "1.3" (switchyard)
	// IgnoreClientOrder: only true (or unset) can be honoured; crypto/tls
	// always picks by the server's order. nil: not set.
	IgnoreClientOrder   *bool    `toml:"ignore_client_order"`
	DisableCipherSuites []string `toml:"disable_cipher_suites"` // TLS 1.2 suite names to turn off
}

// Listener is [listener.<id>]: one client-facing socket set.
type Listener struct {
	Protocol       Protocol          `toml:"protocol"`
	Bind           []string          `toml:"bind"` // "ip:port", IPv6 as "[::]:993"
	TLS            TLSMode           `toml:"tls"`
	ProxyProtocol  ProxyProtocolMode `toml:"proxy_protocol"`
	ProxyTrusted   []string          `toml:"proxy_trusted"` // CIDRs (or single IPs)
	MaxConnections int               `toml:"max_connections"`
	// MaxConnectionsPerIP caps what one client address (an IPv6 /64)
	// holds on this listener, bridged sessions included (switchyard;
	// 0: no cap).
	MaxConnectionsPerIP int           `toml:"max_connections_per_ip"`
	PreauthTimeout      Duration      `toml:"preauth_timeout"`
	MaxAuthAttempts     int           `toml:"max_auth_attempts"`
	Forwarded           ForwardedMode `toml:"forwarded"` // HTTP only
	// HTTP2 offers h2 by ALPN on a TLS http listener (switchyard; nil:
	// on).
	HTTP2 *bool `toml:"http2"`

	// SMTP (port 25) and LMTP listeners only (switchyard).
	// RecipientRouting routes each recipient (nil: on unless
	// routing.smtp_passthrough_destination is set); see RoutesRecipients.
	RecipientRouting    *bool    `toml:"recipient_routing"`
	MaxRecipients       int      `toml:"max_recipients"`        // per transaction
	MaxMessageSize      Size     `toml:"max_message_size"`      // announced as SIZE
	CommandTimeout      Duration `toml:"command_timeout"`       // waiting for the client's next command
	BackendReplyTimeout Duration `toml:"backend_reply_timeout"` // waiting for a backend reply
}

// RoutesRecipients reports whether an smtp or lmtp listener speaks the
// envelope itself and routes every recipient (rather than bridging raw to
// routing.smtp_passthrough_destination).
func (c *Config) RoutesRecipients(l Listener) bool {
	if !l.Protocol.Passthrough() {
		return false
	}
	if l.RecipientRouting != nil {
		return *l.RecipientRouting
	}
	return c.Routing.SMTPPassthroughDestination == ""
}

// Destination is [destination.<id>]: one backend.
type Destination struct {
	Host          string `toml:"host"`            // name or IP literal, no port
	TLSServerName string `toml:"tls_server_name"` // SNI and name to verify
	// ProxyProtocol: with no forwarding set, true means "proxy" and false
	// means "none" (the reference proxy's older switch; default true).
	ProxyProtocol        bool       `toml:"proxy_protocol"`
	Forwarding           Forwarding `toml:"forwarding"` // empty: from proxy_protocol
	Forwarded            bool       `toml:"forwarded"`  // add Forwarded/X-Forwarded-For on HTTP
	TLSAllowInvalidCerts bool       `toml:"tls_allow_invalid_certs"`
	TLSPinnedCertSHA256  string     `toml:"tls_pinned_cert_sha256"` // hex, colons optional
	TLSClientCert        string     `toml:"tls_client_cert"`
	TLSClientKey         string     `toml:"tls_client_key"`
	TLSCAFile            string     `toml:"tls_ca_file"` // extra roots (switchyard)
	SourceIPs            []string   `toml:"source_ips"`  // local addresses to dial from, in turn
	// DNSCacheTTL: a host name is resolved once and its addresses kept
	// this long, refreshed in the background; "0s" resolves on every
	// connect.
	DNSCacheTTL        Duration `toml:"dns_cache_ttl"`
	HideAuthErrors     bool     `toml:"hide_auth_errors"`
	AllowPlaintextAuth bool     `toml:"allow_plaintext_auth"`
	// Protocol holds [destination.<id>.protocol.<proto>].
	Protocol map[Protocol]Endpoint `toml:"protocol"`
}

// Endpoint is [destination.<id>.protocol.<proto>].
type Endpoint struct {
	Port       int        `toml:"port"`
	TLS        TLSMode    `toml:"tls"`
	Forwarding Forwarding `toml:"forwarding"` // overrides the destination's
}

// ForwardingFor returns how the client is announced on a leg of protocol p:
// the endpoint's forwarding, else the destination's, else "proxy" when
// proxy_protocol is true and "none" when it is false.
func (d Destination) ForwardingFor(p Protocol) Forwarding {
	if ep, ok := d.Protocol[p]; ok && ep.Forwarding != "" {
		return ep.Forwarding
	}
	if d.Forwarding != "" {
		return d.Forwarding
	}
	if d.ProxyProtocol {
		return ForwardProxy
	}
	return ForwardNone
}

// Routing is [routing].
type Routing struct {
	DefaultDestination         string   `toml:"default_destination"`
	SMTPPassthroughDestination string   `toml:"smtp_passthrough_destination"`
	MasterUserSeparators       []string `toml:"master_user_separators"`
}

// Mapping is [mapping]: the identifier -> destination store and its cache.
type Mapping struct {
	Source          MappingSource `toml:"source"`
	Normalize       Normalize     `toml:"normalize"`
	NegativeTTL     Duration      `toml:"negative_ttl"`
	PositiveTTL     Duration      `toml:"positive_ttl"`
	CacheMaxEntries int64         `toml:"cache_max_entries"` // 0 disables the cache
	LookupTimeout   Duration      `toml:"lookup_timeout"`
	// StripDetail routes user+tag@domain as user@domain (switchyard).
	StripDetail bool `toml:"strip_detail"`
	// DomainAliases maps alias domains to their canonical domain before
	// lookup, e.g. { "example.net" = "example.com" } (switchyard).
	DomainAliases map[string]string `toml:"domain_aliases"`
	// OnStoreError is what a login gets when the store cannot answer:
	// "tempfail" (the default: a temporary failure, the client retries, a
	// migrated account never lands on a stale mailbox) or "default" (the
	// default destination) (switchyard).
	OnStoreError string        `toml:"on_store_error"`
	File         *MappingFile  `toml:"file"`  // [mapping.file]
	Redis        *MappingRedis `toml:"redis"` // [mapping.redis]
	SQL          *MappingSQL   `toml:"sql"`   // [mapping.sql]
}

// MappingFile is [mapping.file].
type MappingFile struct {
	Path string `toml:"path"`
}

// MappingRedis is [mapping.redis].
type MappingRedis struct {
	URL       string `toml:"url"`
	KeyPrefix string `toml:"key_prefix"`
	PoolSize  int    `toml:"pool_size"`
}

// MappingSQL is [mapping.sql].
type MappingSQL struct {
	URL         string `toml:"url"`
	Query       string `toml:"query"`
	PoolSize    int    `toml:"pool_size"`
	UpsertQuery string `toml:"upsert_query"`
	DeleteQuery string `toml:"delete_query"`
	// ListQuery returns one page of mappings for the admin API's list
	// (placeholders: cursor, [search pattern,] page size); CountQuery the
	// number of mappings per destination.
	ListQuery  string `toml:"list_query"`
	CountQuery string `toml:"count_query"`
}

// Capabilities is [capabilities.*]: what the proxy announces before login.
type Capabilities struct {
	IMAP        IMAPCapabilities        `toml:"imap"`
	POP3        POP3Capabilities        `toml:"pop3"`
	Submission  SubmissionCapabilities  `toml:"submission"`
	ManageSieve ManageSieveCapabilities `toml:"managesieve"`
}

// IMAPCapabilities is [capabilities.imap].
type IMAPCapabilities struct {
	Advertise []string `toml:"advertise"`
	LoginCapabilities
	Banner string `toml:"banner"`
}

// LoginCapabilities is what the four login protocols' tables share: the SASL
// mechanisms offered and whether a plaintext login may go without TLS.
// It is embedded, so its keys stay in each protocol's table
// (capabilities.imap.sasl); the TOML codec and the schema walkers
// (source.FieldType) follow embedded structs.
type LoginCapabilities struct {
	SASL                     []string `toml:"sasl"`
	AllowPlainAuthWithoutTLS bool     `toml:"allow_plain_auth_without_tls"`
}

// POP3Capabilities is [capabilities.pop3].
type POP3Capabilities struct {
	LoginCapabilities
	Banner      string `toml:"banner"`
	DisableUTF8 bool   `toml:"disable_utf8"` // RFC 6856 UTF8 is offered unless set
}

// SubmissionCapabilities is [capabilities.submission].
type SubmissionCapabilities struct {
	EHLO []string `toml:"ehlo"`
	LoginCapabilities
	Banner string `toml:"banner"`
}

// ManageSieveCapabilities is [capabilities.managesieve].
type ManageSieveCapabilities struct {
	Sieve []string `toml:"sieve"`
	LoginCapabilities
	Implementation string `toml:"implementation"`
}

// OAuth is [oauth].
type OAuth struct {
	// JWTUsernameClaim names the JWT claim that holds the account.
	JWTUsernameClaim string `toml:"jwt_username_claim"`

	// Edge verification of bearer tokens (switchyard): with Verify, a
	// token that does not verify is refused at the proxy (HTTP 401, a
	// failed OAUTHBEARER/XOAUTH2 login) and never reaches a backend.
	Verify          bool     `toml:"verify"`
	JWKSFile        string   `toml:"jwks_file"`         // JWKS document for JWTs
	JWKSURL         string   `toml:"jwks_url"`          // or fetched (https), refreshed in the background
	Issuer          string   `toml:"issuer"`            // required "iss" when set
	Audience        string   `toml:"audience"`          // required in "aud" when set
	Leeway          Duration `toml:"leeway"`            // clock skew allowed on exp/nbf/iat
	StalwartKeyFile string   `toml:"stalwart_key_file"` // Stalwart's OAuth key, to open sw1. tokens
}

// HTTPConfig is [http].
type HTTPConfig struct {
	Route                []HTTPRoute `toml:"route"` // [[http.route]], first match wins
	BodyExtractCap       Size        `toml:"body_extract_cap"`
	MaxHeadSize          Size        `toml:"max_head_size"`
	RelayIdle            Duration    `toml:"relay_idle"`
	KeepaliveTimeout     Duration    `toml:"keepalive_timeout"`
	MaxKeepaliveRequests int         `toml:"max_keepalive_requests"`
}

// HTTPRoute is one [[http.route]].
type HTTPRoute struct {
	Match       string       `toml:"match"`       // path glob: *, **, ?, [..], {a,b}
	Host        string       `toml:"host"`        // and this Host only (switchyard)
	Methods     []string     `toml:"methods"`     // and these methods only (switchyard)
	Destination string       `toml:"destination"` // pin to this destination
	Extract     *HTTPExtract `toml:"extract"`     // or resolve an identifier
	Fallback    string       `toml:"fallback"`    // "default" or a destination
}

// HTTPExtract is the extract table of an HTTP route.
type HTTPExtract struct {
	From   ExtractFrom `toml:"from"`
	Regex  string      `toml:"regex"`  // first capture group is the identifier
	Param  string      `toml:"param"`  // query parameter (from = "query")
	Header string      `toml:"header"` // header name (from = "header")
}

// Admin is [admin]: the management API.
type Admin struct {
	Bind             string   `toml:"bind"`
	TLS              TLSMode  `toml:"tls"`
	BearerTokenFile  string   `toml:"bearer_token_file"`
	BearerToken      string   `toml:"bearer_token"`
	MinTokenLen      int      `toml:"min_token_len"`
	LockoutThreshold int      `toml:"lockout_threshold"`
	LockoutDuration  Duration `toml:"lockout_duration"`
	// ViewerToken (or ViewerTokenFile) may read everything and change
	// nothing (switchyard).
	ViewerTokenFile string `toml:"viewer_token_file"`
	ViewerToken     string `toml:"viewer_token"`
	// ConfigWrite lets the API change the configuration in force: reload
	// it from the file, change the log level (nil: true). The API never
	// writes the file itself.
	ConfigWrite *bool `toml:"config_write"`
	// Allow bounds what the API may point accounts at or put in force
	// ([admin.allow]; nil: no bound).
	Allow *AdminAllow `toml:"allow"`
}

// AdminAllow is [admin.allow]: what the admin API may set. An empty list
// allows anything.
type AdminAllow struct {
	// ListenerPorts: a reload through the API is refused when the file
	// binds a listener on another port.
	ListenerPorts []int `toml:"listener_ports"`
	// DestinationPorts and DestinationHosts: the API may map accounts
	// only to destinations whose every port and whose host are allowed,
	// and a reload through the API is refused when the file declares
	// another. A host pattern is a name, "*.example.com" (any name below
	// it), an IP address or a CIDR network.
	DestinationPorts []int    `toml:"destination_ports"`
	DestinationHosts []string `toml:"destination_hosts"`
}

// CanWriteConfig reports whether the admin API may change the
// configuration in force (admin.config_write, true by default).
func (a *Admin) CanWriteConfig() bool { return a == nil || a.ConfigWrite == nil || *a.ConfigWrite }

// Metrics is [metrics] (switchyard): a listener serving /metrics only, so
// that a scraper does not hold the admin token.
type Metrics struct {
	Bind      string  `toml:"bind"`
	TLS       TLSMode `toml:"tls"`        // plain or implicit
	Token     string  `toml:"token"`      // optional bearer token
	TokenFile string  `toml:"token_file"` // or a file holding it
}

// Cluster is [cluster] (switchyard): accounts without a mapping are spread
// over these destinations by consistent hashing.
type Cluster struct {
	Nodes   []string       `toml:"nodes"`   // destination ids
	Weights map[string]int `toml:"weights"` // [cluster.weights] node = weight (default 1)
}

// Default values. README.md documents each of them; every number is a
// limit named in package limits (docs/LIMITS.md), and a test checks that
// the defaults below are those values.
const (
	DefaultShutdownGrace         = Duration(limits.ShutdownGrace)
	DefaultBridgeIdle            = Duration(limits.BridgeIdle)
	DefaultBackendTimeout        = Duration(limits.BackendTimeout)
	DefaultBackendConnectRetries = limits.BackendConnectRetries
	DefaultHostDownThreshold     = limits.HostDownThreshold
	DefaultHostDownMinClients    = limits.HostDownMinClients
	DefaultDNSCacheTTL           = Duration(limits.DNSCacheTTL)
	DefaultHostDownCooldown      = Duration(limits.HostDownCooldown)
	DefaultHealthCheckInterval   = Duration(limits.HealthCheckInterval)
	DefaultProxyTTL              = limits.ProxyTTL
	DefaultLogLevel              = "info"
	DefaultTicketRotation        = Duration(limits.TicketRotation)
	DefaultTicketLifetime        = Duration(limits.TicketLifetime)
	DefaultMinTLSVersion         = TLS12
	DefaultMaxTLSVersion         = TLS13
	DefaultMaxConnections        = limits.MaxConnections
	DefaultMaxConnectionsPerIP   = limits.MaxConnectionsPerIP
	DefaultPreauthTimeout        = Duration(limits.PreauthTimeout)
	DefaultMaxAuthAttempts       = limits.MaxAuthAttempts
	DefaultMaxRecipients         = limits.MaxRecipients
	DefaultMaxMessageSize        = Size(limits.MaxMessageSize)
	DefaultCommandTimeout        = Duration(limits.CommandTimeout)
	DefaultBackendReplyTimeout   = Duration(limits.BackendReplyTimeout)
	DefaultNegativeTTL           = Duration(limits.NegativeTTL)
	DefaultPositiveTTL           = Duration(limits.PositiveTTL)
	DefaultCacheMaxEntries       = limits.CacheMaxEntries
	DefaultLookupTimeout         = Duration(limits.LookupTimeout)
	DefaultRedisKeyPrefix        = "route:"
	DefaultRedisPoolSize         = limits.RedisPoolSize
	DefaultSQLPoolSize           = limits.SQLPoolSize
	DefaultJWTUsernameClaim      = "email"
	DefaultOAuthLeeway           = Duration(limits.OAuthLeeway)
	DefaultBodyExtractCap        = Size(limits.BodyExtractCap)
	// MaxBodyExtractCap bounds http.body_extract_cap (limits.MaxBodyExtractCap).
	MaxBodyExtractCap            = Size(limits.MaxBodyExtractCap)
	DefaultMaxHeadSize           = Size(limits.MaxHeadSize)
	DefaultRelayIdle             = Duration(limits.RelayIdle)
	DefaultKeepaliveTimeout      = Duration(limits.KeepaliveTimeout)
	DefaultMaxKeepaliveRequests  = limits.MaxKeepaliveRequests
	DefaultAdminMinTokenLen      = limits.AdminMinTokenLen
	DefaultAdminLockoutThreshold = limits.AdminLockoutThreshold
	DefaultAdminLockoutDuration  = Duration(limits.AdminLockoutDuration)
)

// Default returns the configuration of an empty file: every default
// filled, no listener, no destination.
func Default() *Config {
	sasl := func() []string { return []string{"PLAIN", "OAUTHBEARER", "XOAUTH2"} }
	return &Config{
		Server: Server{
			ShutdownGrace:         DefaultShutdownGrace,
			BridgeIdle:            DefaultBridgeIdle,
			BackendTimeout:        DefaultBackendTimeout,
			BackendConnectRetries: DefaultBackendConnectRetries,
			HostDownThreshold:     DefaultHostDownThreshold,
			HostDownMinClients:    DefaultHostDownMinClients,
			HostDownCooldown:      DefaultHostDownCooldown,
			HealthCheckInterval:   DefaultHealthCheckInterval,
			ProxyTTL:              DefaultProxyTTL,
			LogLevel:              DefaultLogLevel,
		},
		TLS: TLS{
			Protocols: TLSProtocols{MinVersion: DefaultMinTLSVersion, MaxVersion: DefaultMaxTLSVersion},
			Tickets:   TLSTickets{Enabled: true, Rotation: DefaultTicketRotation, Lifetime: DefaultTicketLifetime},
		},
		Routing: Routing{
			MasterUserSeparators: []string{"%"},
		},
		Mapping: Mapping{
			Normalize:       NormalizeNone,
			NegativeTTL:     DefaultNegativeTTL,
			PositiveTTL:     DefaultPositiveTTL,
			CacheMaxEntries: DefaultCacheMaxEntries,
			LookupTimeout:   DefaultLookupTimeout,
		},
		Capabilities: Capabilities{
			IMAP: IMAPCapabilities{
				Advertise:         []string{"IMAP4rev1", "IMAP4rev2", "SASL-IR", "LITERAL+", "ID", "ENABLE"},
				LoginCapabilities: LoginCapabilities{SASL: sasl()},
				Banner:            "switchyard IMAP proxy ready",
			},
			POP3: POP3Capabilities{
				LoginCapabilities: LoginCapabilities{SASL: sasl()},
				Banner:            "switchyard POP3 proxy ready",
			},
			Submission: SubmissionCapabilities{
				EHLO:              []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING"},
				LoginCapabilities: LoginCapabilities{SASL: []string{"PLAIN", "LOGIN", "OAUTHBEARER", "XOAUTH2"}},
				Banner:            "switchyard submission proxy ready",
			},
			ManageSieve: ManageSieveCapabilities{
				Sieve: []string{
					"fileinto", "reject", "envelope", "encoded-character",
					"vacation", "vacation-seconds", "subaddress", "relational",
					"comparator-i;ascii-numeric", "regex", "imap4flags", "copy",
					"include", "variables", "body", "enotify", "environment",
					"mailbox", "date", "index", "ihave", "duplicate", "mime",
					"foreverypart", "extracttext", "editheader", "special-use",
				},
				LoginCapabilities: LoginCapabilities{SASL: sasl()},
				Implementation:    "switchyard",
			},
		},
		OAuth: OAuth{JWTUsernameClaim: DefaultJWTUsernameClaim, Leeway: DefaultOAuthLeeway},
		HTTP: HTTPConfig{
			BodyExtractCap:       DefaultBodyExtractCap,
			MaxHeadSize:          DefaultMaxHeadSize,
			RelayIdle:            DefaultRelayIdle,
			KeepaliveTimeout:     DefaultKeepaliveTimeout,
			MaxKeepaliveRequests: DefaultMaxKeepaliveRequests,
		},
	}
}

// NewListener returns a listener with every default filled; the caller sets
// protocol, bind and tls.
func NewListener() Listener {
	return Listener{
		ProxyProtocol:       ProxyOff,
		MaxConnections:      DefaultMaxConnections,
		MaxConnectionsPerIP: DefaultMaxConnectionsPerIP,
		PreauthTimeout:      DefaultPreauthTimeout,
		MaxAuthAttempts:     DefaultMaxAuthAttempts,
		Forwarded:           ForwardedOff,

		MaxRecipients:       DefaultMaxRecipients,
		MaxMessageSize:      DefaultMaxMessageSize,
		CommandTimeout:      DefaultCommandTimeout,
		BackendReplyTimeout: DefaultBackendReplyTimeout,
	}
}

// NewDestination returns a destination with every default filled.
func NewDestination() Destination {
	return Destination{ProxyProtocol: true, DNSCacheTTL: DefaultDNSCacheTTL}
}

// NewAdmin returns an [admin] section with every default filled.
func NewAdmin() *Admin {
	return &Admin{
		TLS:              TLSImplicit,
		MinTokenLen:      DefaultAdminMinTokenLen,
		LockoutThreshold: DefaultAdminLockoutThreshold,
		LockoutDuration:  DefaultAdminLockoutDuration,
	}
}

// Load reads and parses the file at path (see Parse).
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes a TOML document over the defaults. name is used in error
// messages (usually the file's path). Unknown keys and values of the wrong
// type are errors, each naming the key with its full dotted path and its
// line; all unknown keys are reported together. Parse does not validate:
// call Validate (after Overrides.Apply, if any).
func Parse(data []byte, name string) (*Config, error) {
	// Copy: positions are computed against this exact slice, and the
	// caller may reuse theirs.
	data = bytes.Clone(data)
	if name == "" {
		name = "config"
	}
	src := &source.Map{Name: name, Schema: reflect.TypeOf(Config{})}

	// First pass, loose: which tables exist, so that map entries and
	// optional sections can start from their defaults before the strict
	// pass fills in what the file says.
	var raw map[string]any
	if err := toml.Unmarshal(data, &raw); err != nil {
		return nil, src.DecodeError(err)
	}
	src.Index(data)
	if errs := checkDurations(raw, reflect.TypeOf(Config{}), "", src); len(errs) > 0 {
		return nil, source.SortedJoin(errs)
	}

	c := Default()
	prefill(c, raw)
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, src.DecodeError(err)
	}
	c.src = src
	return c, nil
}

// checkDurations rejects numbers where a Duration is expected: go-toml
// would take 30 as 30 nanoseconds, and the unit must never be guessed.
func checkDurations(raw any, t reflect.Type, key string, src *source.Map) []error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	join := func(k string) string {
		if key == "" {
			return source.KeyPart(k)
		}
		return key + "." + source.KeyPart(k)
	}
	var errs []error
	switch v := raw.(type) {
	case map[string]any:
		for k, x := range v {
			var ft reflect.Type
			switch t.Kind() {
			case reflect.Map:
				ft = t.Elem()
			case reflect.Struct:
				ft = source.FieldType(t, []string{k})
			}
			if ft != nil {
				errs = append(errs, checkDurations(x, ft, join(k), src)...)
			}
		}
	case []any:
		if t.Kind() == reflect.Slice {
			for i, x := range v {
				errs = append(errs, checkDurations(x, t.Elem(), key+"["+strconv.Itoa(i)+"]", src)...)
			}
		}
	case int64, float64:
		if t == reflect.TypeOf(Duration(0)) {
			errs = append(errs, &FieldError{Key: key, Location: src.Locate(key),
				Msg: fmt.Sprintf("expected a duration string such as \"30s\", found the number %v (write the unit)", v)})
		}
	}
	return errs
}

// prefill creates, with their defaults, the map entries and optional
// sections the document declares. The strict decoder then decodes into
// them, so a key left out keeps its default and a key set to zero stays
// zero (and Validate reports it).
func prefill(c *Config, raw map[string]any) {
	if m, ok := raw["listener"].(map[string]any); ok {
		if c.Listener == nil {
			c.Listener = make(map[string]Listener, len(m))
		}
		for id := range m {
			if _, ok := c.Listener[id]; !ok {
				c.Listener[id] = NewListener()
			}
		}
	}
	if m, ok := raw["destination"].(map[string]any); ok {
		if c.Destination == nil {
			c.Destination = make(map[string]Destination, len(m))
		}
		for id := range m {
			if _, ok := c.Destination[id]; !ok {
				c.Destination[id] = NewDestination()
			}
		}
	}
	if _, ok := raw["admin"].(map[string]any); ok && c.Admin == nil {
		c.Admin = NewAdmin()
	}
	if _, ok := raw["metrics"].(map[string]any); ok && c.Metrics == nil {
		c.Metrics = &Metrics{TLS: TLSPlain}
	}
	if m, ok := raw["mapping"].(map[string]any); ok {
		if _, ok := m["redis"].(map[string]any); ok && c.Mapping.Redis == nil {
			c.Mapping.Redis = &MappingRedis{KeyPrefix: DefaultRedisKeyPrefix, PoolSize: DefaultRedisPoolSize}
		}
		if _, ok := m["sql"].(map[string]any); ok && c.Mapping.SQL == nil {
			c.Mapping.SQL = &MappingSQL{PoolSize: DefaultSQLPoolSize}
		}
	}
}

// MarkOrigin records that key (and everything under it) was set by origin
// ("flag --x", "env X"), so that Validate's errors say so.
func (c *Config) MarkOrigin(key, origin string) {
	if c.src == nil {
		c.src = &source.Map{}
	}
	c.src.SetOrigin(key, origin)
}

// Assign decodes one TOML assignment (`key = value\n`, as --set gives
// it) over c with the file's rules: unknown keys, values of the wrong
// type and bare numbers for durations are refused. It returns the keys
// the assignment set.
func (c *Config) Assign(doc []byte) (keys []string, err error) {
	var raw map[string]any
	if err := toml.Unmarshal(doc, &raw); err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "toml: "))
	}
	if errs := checkDurations(raw, reflect.TypeOf(Config{}), "", nil); len(errs) > 0 {
		return nil, errs[0]
	}
	prefill(c, raw)
	dec := toml.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		var sm *toml.StrictMissingError
		if errors.As(err, &sm) && len(sm.Errors) > 0 {
			return nil, fmt.Errorf("unknown key %s", source.KeyPath(sm.Errors[0].Key()...))
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			return nil, errors.New(strings.TrimPrefix(de.Error(), "toml: "))
		}
		return nil, err
	}
	var src source.Map
	src.Index(doc)
	return src.Keys(), nil
}
