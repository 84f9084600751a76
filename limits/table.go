package limits

import (
	"strconv"
	"time"
)

// Limit describes one limit: a row of docs/LIMITS.md.
type Limit struct {
	// Name is the constant's name in this package (limits.Name); it is
	// the limit's stable identifier.
	Name string
	// Key is the configuration key that sets it ("listener.<id>.preauth_timeout"),
	// or "" when it is not configurable.
	Key string
	// Default as written in the docs: "60s", "256 KiB", "1024".
	Default string
	// Scope is what the limit is counted against (Scope* values).
	Scope string
	// Reason says in one sentence why it has this value.
	Reason string
	// Kind and Value are the default as a number: nanoseconds for a
	// duration, bytes for a size, the count otherwise.
	Kind  Kind
	Value int64
}

// Kind is what a limit's Value counts.
type Kind uint8

const (
	KindCount    Kind = iota // a number of things
	KindBytes                // a size in bytes
	KindDuration             // a duration in nanoseconds
)

// Scopes: what a limit is counted against. An address is an IPv4 address
// or an IPv6 /64.
const (
	ScopeProcess     = "process"
	ScopeLoop        = "per event loop"
	ScopeListener    = "per listener"
	ScopeAddress     = "per client address"
	ScopeListenAddr  = "per listener and client address"
	ScopeConnection  = "per connection"
	ScopeCommand     = "per command"
	ScopeRequest     = "per request"
	ScopeStream      = "per HTTP/2 stream"
	ScopeTransaction = "per transaction"
	ScopeMessage     = "per message"
	ScopeLogin       = "per login"
	ScopeSession     = "per bridged session"
	ScopeDirection   = "per session direction"
	ScopeLeg         = "per backend connection"
	ScopeDestination = "per destination and protocol"
	ScopeBackend     = "per destination"
	ScopeLookup      = "per lookup"
	ScopeStore       = "per store"
	ScopeToken       = "per token"
	ScopeFile        = "per file"
	ScopeEntry       = "per cache entry"
)

func dur(name string, v time.Duration, key, scope, reason string) Limit {
	return Limit{Name: name, Key: key, Default: FormatDuration(v), Scope: scope, Reason: reason, Kind: KindDuration, Value: int64(v)}
}

func size(name string, v int64, key, scope, reason string) Limit {
	return Limit{Name: name, Key: key, Default: FormatBytes(v), Scope: scope, Reason: reason, Kind: KindBytes, Value: v}
}

func count(name string, v int64, key, scope, reason string) Limit {
	return Limit{Name: name, Key: key, Default: strconv.FormatInt(v, 10), Scope: scope, Reason: reason, Kind: KindCount, Value: v}
}

// FormatDuration writes d as the docs and the configuration do: in the
// largest of ms, s, m and h that divides it, keeping seconds below two
// minutes and minutes below two hours ("60s", "90s", "5m", "24h").
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Second != 0:
		if d%time.Millisecond == 0 {
			return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
		}
		return d.String()
	case d%time.Hour == 0 && d >= 2*time.Hour:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0 && d >= 2*time.Minute:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

// FormatBytes writes n in the largest binary unit that divides it
// ("256 KiB", "1 MiB"), or in bytes ("510 B").
func FormatBytes(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + " " + u.name
		}
	}
	return strconv.FormatInt(n, 10) + " B"
}

// Lookup returns the limit called name.
func Lookup(name string) (Limit, bool) {
	for _, l := range Table {
		if l.Name == name {
			return l, true
		}
	}
	return Limit{}, false
}

// Table lists every limit, in the order of docs/LIMITS.md.
var Table = []Limit{
	// Process and configuration.
	dur("ShutdownGrace", ShutdownGrace, "server.shutdown_grace", ScopeProcess,
		"Lets a client in the middle of a command finish it and a rolling restart still take seconds, not minutes."),
	dur("BridgeIdle", BridgeIdle, "server.bridge_idle", ScopeSession,
		"RFC 3501 section 5.4 lets an IMAP server log out a client silent for 30 minutes and RFC 2177 has IDLE clients re-issue within 29, so no working client is cut and a dead one is reaped."),
	dur("BackendTimeout", BackendTimeout, "server.backend_timeout", ScopeLeg,
		"A backend on the local network connects and greets in milliseconds; ten seconds rides out a busy one without holding a login, a dial slot and two descriptors for long (also an active check's bound)."),
	count("BackendConnectRetries", BackendConnectRetries, "server.backend_connect_retries", ScopeLogin,
		"One more connect rides out a refused connect while a backend restarts without doubling what a dead backend is sent; every try shares backend_timeout."),
	count("HostDownThreshold", HostDownThreshold, "server.host_down_threshold", ScopeDestination,
		"Five failures in a row is a pattern rather than one client's bad luck, and costs only five clients a temporary failure."),
	count("HostDownMinClients", HostDownMinClients, "server.host_down_min_clients", ScopeDestination,
		"One keeps every streak able to open the circuit; set two or more where backends ban client addresses, so that one banned client cannot take a destination out for everyone."),
	dur("HostDownCooldown", HostDownCooldown, "server.host_down_cooldown", ScopeDestination,
		"Long enough to stop hammering a backend that is down, short enough that one that restarted is back within a client's retry."),
	dur("HealthCheckInterval", HealthCheckInterval, "server.health_check_interval", ScopeDestination,
		"Finds a dead backend before many logins do and a healed one within a cooldown, for one connection per destination and protocol every ten seconds."),
	dur("TicketRotation", TicketRotation, "tls.tickets.rotation", ScopeProcess,
		"A TLS session ticket key serves one hour: a key that leaks opens at most an hour of sessions, and every instance sharing the secret moves to the next key at the same moment."),
	dur("TicketLifetime", TicketLifetime, "tls.tickets.lifetime", ScopeProcess,
		"A mail client that reconnects through a working day resumes without a full handshake; a ticket older than that gets one, which bounds how long a captured ticket is worth anything."),
	dur("DNSCacheTTL", DNSCacheTTL, "destination.<id>.dns_cache_ttl", ScopeBackend,
		"A backend's address changes rarely and is refreshed in the background, so no login waits on DNS and a changed record is followed within a minute."),
	dur("DNSMaxStale", DNSMaxStale, "", ScopeBackend,
		"While the resolver fails, a backend's last known addresses keep serving logins this long past their TTL; then connects fail until it answers."),
	dur("DNSRetryInterval", DNSRetryInterval, "", ScopeBackend,
		"A failed background refresh is tried again this soon (or at the TTL, if shorter), so a resolver that comes back is used within seconds."),
	dur("NotifyStatusInterval", NotifyStatusInterval, "", ScopeProcess,
		"systemctl status shows the session count this fresh; one datagram to systemd every ten seconds costs nothing."),
	dur("ProbeTimeout", ProbeTimeout, "", ScopeDestination,
		"A half-open circuit whose probe never reports frees its probe slot after three backend timeouts, so it cannot stay half-open."),
	count("ProxyTTL", ProxyTTL, "server.proxy_ttl", ScopeConnection,
		"Real proxy chains are one or two hops deep; seven cuts a routing loop quickly and leaves room for any sane chain."),
	size("MaxPEMFile", MaxPEMFile, "", ScopeFile,
		"A certificate chain, key or CA bundle is a few KiB (a full system bundle ~200 KiB); validation reads no more than this of a file named by mistake."),

	// Listeners.
	count("MaxConnections", MaxConnections, "listener.<id>.max_connections", ScopeListener,
		"A bridged session holds two descriptors, so 8192 per listener fits a process of 20,000 descriptors with room for backends, pipes and a second listener."),
	count("MaxConnectionsPerIP", MaxConnectionsPerIP, "listener.<id>.max_connections_per_ip", ScopeListenAddr,
		"An office of a few hundred users behind one NAT, several connections each, stays under it, while one address cannot take a listener's whole share."),
	dur("PreauthTimeout", PreauthTimeout, "listener.<id>.preauth_timeout", ScopeConnection,
		"Greeting, STARTTLS and login take a client well under a second and a human typing a password under a minute; past that the socket is only holding a slot."),
	count("MaxAuthAttempts", MaxAuthAttempts, "listener.<id>.max_auth_attempts", ScopeConnection,
		"Enough for a typo and a retry; a guesser must reconnect (and pass the per-address caps) every three tries."),
	count("MaxRecipients", MaxRecipients, "listener.<id>.max_recipients", ScopeTransaction,
		"RFC 5321 section 4.5.3.1.8: a server must accept at least 100 recipients per transaction; senders split larger lists."),
	size("MaxMessageSize", MaxMessageSize, "listener.<id>.max_message_size", ScopeMessage,
		"Above the 20-35 MB that large mail providers accept, so the proxy is rarely the tighter limit in front of a mailbox server."),
	dur("CommandTimeout", CommandTimeout, "listener.<id>.command_timeout", ScopeCommand,
		"RFC 5321 section 4.5.3.2.7's server timeout for the next command, absolute per command so a client cannot renew it a byte at a time."),
	dur("BackendReplyTimeout", BackendReplyTimeout, "listener.<id>.backend_reply_timeout", ScopeCommand,
		"RFC 5321 section 4.5.3.2's longest client-side wait (10 minutes after the end of data), so a slow backend is not abandoned sooner than a real MTA would."),

	// Routing.
	dur("PositiveTTL", PositiveTTL, "mapping.positive_ttl", ScopeEntry,
		"A moved account follows its mapping within ten minutes even when no invalidation arrives; the admin API and the Redis/PostgreSQL buses invalidate at once."),
	dur("NegativeTTL", NegativeTTL, "mapping.negative_ttl", ScopeEntry,
		"Absorbs a burst of logins for unmapped accounts while a newly added mapping takes effect within half a minute."),
	count("CacheMaxEntries", CacheMaxEntries, "mapping.cache_max_entries", ScopeProcess,
		"Every account of a large installation stays cached, for about 61 MiB at CacheEntryBytes each, allocated only for a remote store."),
	size("CacheEntryBytes", CacheEntryBytes, "", ScopeEntry,
		"The cache is sized in bytes: an address, a destination id and freecache's header fit in 64 with room to spare."),
	size("MaxCacheBytes", MaxCacheBytes, "", ScopeProcess,
		"However many entries are configured, the routing cache never takes more than 1 GiB."),
	count("MaxInternedDests", MaxInternedDests, "", ScopeProcess,
		"Destinations are a short configured list; past this many distinct strings cache hits still work but allocate."),
	dur("LookupTimeout", LookupTimeout, "mapping.lookup_timeout", ScopeLookup,
		"A store that has not answered in five seconds is down for this login, which gets the on_store_error policy rather than a hung connection."),
	count("MaxIdentifierLen", MaxIdentifierLen, "", ScopeLogin,
		"A mailbox address is at most 254 octets; 1024 leaves room for directory login names and bounds every cache and store key."),
	count("RedisPoolSize", RedisPoolSize, "mapping.redis.pool_size", ScopeStore,
		"Lookups are sub-millisecond and single-flight per account, so 16 connections serve thousands of logins a second."),
	dur("RedisTimeout", RedisTimeout, "", ScopeLookup,
		"Redis answers in well under a millisecond; half a second per dial, read or write means it is down, and the login should meet the store-error policy early."),
	count("SQLPoolSize", SQLPoolSize, "mapping.sql.pool_size", ScopeStore,
		"Lookups are one indexed query and single-flight per account; 16 connections serve thousands a second without crowding the database."),
	dur("SQLTimeout", SQLTimeout, "", ScopeLookup,
		"One indexed lookup takes milliseconds; a second means the database is in trouble and the login should meet the store-error policy."),
	count("SQLMaxIdleConns", SQLMaxIdleConns, "", ScopeStore,
		"Idle connections kept open between bursts of lookups; the rest of the pool is closed when idle, sparing the database's connection slots."),
	dur("MappingWatchInterval", MappingWatchInterval, "", ScopeFile,
		"An edited mapping file is in force within a second, for one stat(2) a second."),

	// Bearer tokens.
	dur("OAuthLeeway", OAuthLeeway, "oauth.leeway", ScopeToken,
		"Covers the clock skew between the issuer and this host that NTP leaves, and little more."),
	size("MaxTokenLen", MaxTokenLen, "", ScopeToken,
		"Real access tokens are a few KiB; a larger one is refused unparsed so that a client cannot make a loop decode megabytes."),
	dur("JWKSRefreshInterval", JWKSRefreshInterval, "", ScopeProcess,
		"A rotated key is picked up within ten minutes, and an unknown key id triggers an earlier fetch."),
	dur("JWKSRetryInterval", JWKSRetryInterval, "", ScopeProcess,
		"After a failed JWKS download the next try waits half a minute, not a whole refresh interval."),
	dur("JWKSMinKickInterval", JWKSMinKickInterval, "", ScopeProcess,
		"Tokens with made-up key ids cannot make the proxy fetch the JWKS more than twice a minute."),
	dur("JWKSFetchTimeout", JWKSFetchTimeout, "", ScopeProcess,
		"A JWKS download is a small HTTPS request; fifteen seconds allows a slow identity provider without blocking refreshes forever."),
	size("MaxJWKSSize", MaxJWKSSize, "", ScopeProcess,
		"A JWKS holding a few keys is a few KiB; 1 MiB is far above any real one and bounds what a bad URL can make us read."),
	count("MaxJWKSKeys", MaxJWKSKeys, "", ScopeProcess,
		"Providers publish two or three keys at a time; 100 bounds the keys tried and kept."),
	size("SASLMaxFieldLen", SASLMaxFieldLen, "", ScopeLogin,
		"Bounds a SASL user name, authorization identity or password; real ones are far shorter, and the replayed message stays within what backends accept."),

	// HTTP.
	size("BodyExtractCap", BodyExtractCap, "http.body_extract_cap", ScopeRequest,
		"A form or JMAP call naming an account is a few KiB; the body is held before any backend is chosen, for a client nobody has authenticated."),
	size("MaxBodyExtractCap", MaxBodyExtractCap, "", ScopeRequest,
		"The ceiling of http.body_extract_cap: with 100 streams on one HTTP/2 connection, 1 MiB each is already 100 MiB for one client."),
	size("MaxHeadSize", MaxHeadSize, "http.max_head_size", ScopeRequest,
		"Real request heads, cookies included, are a few KiB; 64 KiB bounds the head held in memory per request (HTTP/2 header lists and backend response heads too)."),
	count("MaxHeadFields", MaxHeadFields, "", ScopeRequest,
		"Browsers send about 20 fields; 100 is Apache's LimitRequestFields and bounds the parse work per request."),
	size("MaxFieldLine", MaxFieldLine, "", ScopeRequest,
		"Matches common servers' limit on one header line (8 KiB), which a large cookie fits."),
	size("MaxTarget", MaxTarget, "", ScopeRequest,
		"Matches common servers' limit on the request target; longer ones get 414."),
	size("MaxChunkLine", MaxChunkLine, "", ScopeRequest,
		"A chunk size line is a few hex digits; 4 KiB leaves room for extensions and bounds the scan."),
	size("MaxChunkExt", MaxChunkExt, "", ScopeRequest,
		"Chunk extensions are practically unused; their total per body is bounded so that extensions cost less to scan than they carry."),
	size("MaxTrailer", MaxTrailer, "", ScopeRequest,
		"Trailers are rare and short; the section is bounded like one header line."),
	size("MaxBasicCredentials", MaxBasicCredentials, "", ScopeRequest,
		"Basic credentials are a user name and password; 8 KiB of base64 is far above both and bounds the decoding."),
	size("HTTPBodyHold", HTTPBodyHold, "", ScopeRequest,
		"Body bytes that arrived with a head are held while the leg is dialled, up to one read's worth, so they go out with it."),
	size("HTTPMaxDiscard", HTTPMaxDiscard, "", ScopeRequest,
		"After the proxy answered a request itself, a body up to this size is read and dropped to keep the connection; a longer one closes it."),
	dur("RelayIdle", RelayIdle, "http.relay_idle", ScopeRequest,
		"A backend that sends nothing for a minute while a request is open has stalled; event streams send keep-alives more often."),
	dur("KeepaliveTimeout", KeepaliveTimeout, "http.keepalive_timeout", ScopeRequest,
		"nginx's default wait for the next request head, absolute per head so that a slow client cannot renew it byte by byte."),
	count("MaxKeepaliveRequests", MaxKeepaliveRequests, "http.max_keepalive_requests", ScopeConnection,
		"nginx's default: a long-lived connection is recycled now and then, freeing what it accumulated."),
	count("MaxIdleLegsPerDest", MaxIdleLegsPerDest, "", ScopeLoop,
		"Enough idle backend connections for the requests one loop serves at once to reuse them, without holding hundreds per destination."),
	dur("LegIdleTimeout", LegIdleTimeout, "", ScopeLeg,
		"An idle backend connection is kept half a minute for the next request; a parked one still watches its socket, so a backend closing it sooner is noticed."),

	// HTTP/2.
	dur("H2IdleTimeout", H2IdleTimeout, "", ScopeConnection,
		"An HTTP/2 connection without streams is kept two minutes for the browser's next request, then its goroutines and descriptors are freed."),
	dur("H2ResponseHeaderTimeout", H2ResponseHeaderTimeout, "", ScopeStream,
		"A backend may compute a JMAP or WebDAV answer for a while, but one that sends no head in two minutes has stalled; bodies are not bounded."),
	count("H2MaxConcurrentStreams", H2MaxConcurrentStreams, "", ScopeConnection,
		"The value RFC 9113 recommends as a minimum and browsers expect; it bounds one client's goroutines and read-ahead."),
	dur("H2BackendDialTimeout", H2BackendDialTimeout, "", ScopeLeg,
		"A backend on the local network connects in milliseconds; a stream fails over to 502 quickly rather than waiting."),
	dur("H2BackendTLSTimeout", H2BackendTLSTimeout, "", ScopeLeg,
		"Bounds a TLS handshake to a backend like a client's handshake."),
	dur("H2BackendIdleTimeout", H2BackendIdleTimeout, "", ScopeLeg,
		"net/http's default for pooled connections: reused across bursts, closed before a backend's own timeout usually would."),
	count("H2MaxIdlePerBackend", H2MaxIdlePerBackend, "", ScopeBackend,
		"Enough pooled connections for bursts of HTTP/2 streams to reuse them, bounded so an idle pool holds few descriptors."),
	dur("H2ExpectContinueTimeout", H2ExpectContinueTimeout, "", ScopeStream,
		"net/http's default: a backend that says nothing to Expect: 100-continue gets the body after a second anyway."),

	// The reactor.
	dur("FirstByteTimeout", FirstByteTimeout, "", ScopeConnection,
		"A TLS client sends its ClientHello at once; an idle socket is closed after two seconds without ever holding a handshake slot."),
	dur("HandshakeTimeout", HandshakeTimeout, "", ScopeConnection,
		"A TLS handshake takes a few round trips; ten seconds, absolute, covers a slow mobile link and frees the slot from a stalling client."),
	dur("ProxyHeaderTimeout", ProxyHeaderTimeout, "", ScopeConnection,
		"A load balancer sends an optional PROXY header at once; after three seconds the connection goes on without one."),
	count("MaxHandshakes", MaxHandshakes, "", ScopeProcess,
		"Handshakes run on goroutines of their own; 1024 at once keep every core busy with crypto while bounding their memory."),
	count("MaxHandshakesPerListener", MaxHandshakesPerListener, "", ScopeListener,
		"Half the process's slots, so a flood on one listener leaves the others able to complete handshakes."),
	count("MaxHandshakesPerAddr", MaxHandshakesPerAddr, "", ScopeAddress,
		"A real client (or a NAT of them) rarely has more than a few handshakes in flight; one address cannot take the slots of every other."),
	size("OutputSoftCap", OutputSoftCap, "", ScopeConnection,
		"Enough output waiting for a peer to keep a fast link busy; past it the source stops being read until half of it has drained."),
	size("OutputHardCap", OutputHardCap, "", ScopeConnection,
		"A peer this far behind is not reading; it is closed rather than buffered without bound."),
	size("PreauthInputCap", PreauthInputCap, "", ScopeConnection,
		"Pipelined commands of a login fit many times over, and a client that sends without reading cannot grow the buffer."),
	size("RelayInputCap", RelayInputCap, "", ScopeConnection,
		"Relayed SMTP and HTTP sessions stream bodies through; this bounds what waits for a slow backend."),
	size("BackendInputCap", BackendInputCap, "", ScopeLeg,
		"A backend's greeting, capabilities and login replies are small; more than this unread means the client is not reading."),
	count("FDReserve", FDReserve, "", ScopeProcess,
		"Descriptors kept free below RLIMIT_NOFILE for what does not ask the budget: the runtime, the resolver, store pools and log files."),
	count("MaxDials", MaxDials, "", ScopeProcess,
		"Backend dials and blocking lookups run on goroutines; 4096 at once bounds them while a store or backend stalls."),
	dur("MaxDelayHold", MaxDelayHold, "", ScopeLogin,
		"Clients give up on a silent server after a minute or so; after twenty seconds a held login gets a temporary failure and retries."),
	size("FeedChunk", FeedChunk, "", ScopeConnection,
		"One call into a protocol machine sees at most this much input, so its output stays small and the loop stays fair."),
	dur("SweepInterval", SweepInterval, "", ScopeLoop,
		"Deadlines are checked by one sweep per loop; a quarter second is precise enough for timeouts of seconds and costs nothing."),

	// The bridge.
	size("PipeSize", PipeSize, "", ScopeDirection,
		"Measured: 1 MiB pipes carry about three times what 64 KiB ones do; an idle session holds no pipe."),
	count("MaxPipes", MaxPipes, "", ScopeProcess,
		"HAProxy's maxpipes: past it a direction copies through a buffer; lowered to fit fs.pipe-user-pages-soft when that applies."),
	size("CopyBufferSize", CopyBufferSize, "", ScopeDirection,
		"A buffer borrowed only while bytes are in flight when no pipe is free; one TLS record's worth."),
	size("TLSBufferSize", TLSBufferSize, "", ScopeDirection,
		"Several TLS records per read and write, borrowed only while a TLS direction has bytes in flight."),
	count("TurnBudget", TurnBudget, "", ScopeDirection,
		"Reads one direction does per turn of its loop (8 MiB with 1 MiB pipes), so one bulk session cannot starve the others."),
	dur("BridgeSweepInterval", BridgeSweepInterval, "", ScopeLoop,
		"Idle sessions are found by a sweep per loop, not a timer per session; a second is precise enough for idle limits of minutes."),

	// Health.
	size("MaxGreeting", MaxGreeting, "", ScopeLeg,
		"An active check reads at most this much of a greeting (ManageSieve sends its capabilities first)."),

	// Protocol machines.
	size("MaxAuthLine", MaxAuthLine, "", ScopeCommand,
		"An AUTHENTICATE/AUTH line or SASL response carries a base64 OAuth token of up to MaxTokenLen, which is 4/3 larger, with room to spare (IMAP, POP3, SMTP)."),
	size("IMAPMaxLine", IMAPMaxLine, "", ScopeCommand,
		"RFC 2683 asks servers to take command lines of at least 8000 octets; pre-auth commands are far shorter."),
	size("IMAPMaxLiteral", IMAPMaxLiteral, "", ScopeCommand,
		"Pre-auth literals carry a user name or password; 8 KiB is far above both."),
	size("IMAPMaxBackendLine", IMAPMaxBackendLine, "", ScopeLeg,
		"Bounds one backend response line before login, literals included; capability lists are a few hundred octets."),
	size("IMAPMaxBackendRelay", IMAPMaxBackendRelay, "", ScopeLeg,
		"Untagged lines a backend sends during the login are kept for the client up to this much."),
	size("POP3MaxLine", POP3MaxLine, "", ScopeCommand,
		"Room for PASS with a 1024-octet password; RFC 2449 asks for 255."),
	size("POP3MaxBackendLine", POP3MaxBackendLine, "", ScopeLeg,
		"Bounds one backend status or CAPA line before the verdict."),
	count("POP3MaxCapaLines", POP3MaxCapaLines, "", ScopeLeg,
		"A CAPA response lists a dozen capabilities; 256 lines bounds a backend that never ends it."),
	size("SMTPMaxLine", SMTPMaxLine, "", ScopeCommand,
		"Postfix's line_length_limit; RFC 5321 requires 512 with the CRLF."),
	count("SMTPMaxErrors", SMTPMaxErrors, "", ScopeConnection,
		"Refused or unknown commands before the connection is closed, as Postfix's smtpd_hard_error_limit."),
	size("SMTPMaxReplyLine", SMTPMaxReplyLine, "", ScopeLeg,
		"Bounds one backend reply line; RFC 5321 lines are 512 octets."),
	count("SMTPMaxReplyLines", SMTPMaxReplyLines, "", ScopeLeg,
		"A multi-line EHLO reply lists a few dozen extensions; 256 bounds a backend that never ends one."),
	size("SMTPMaxBackendRelay", SMTPMaxBackendRelay, "", ScopeLeg,
		"Reply octets kept for the client during the backend login."),
	count("SMTPMaxRelayReplyLines", SMTPMaxRelayReplyLines, "", ScopeCommand,
		"Lines of one backend reply relayed to an SMTP/LMTP client; real replies have a handful."),
	size("SieveMaxCommand", SieveMaxCommand, "", ScopeCommand,
		"A ManageSieve command or SASL response with a base64 OAuth token of MaxTokenLen in a literal fits."),
	size("SieveMaxQuoted", SieveMaxQuoted, "", ScopeCommand,
		"Bounds one quoted string a ManageSieve reader accepts."),
	size("SieveMaxBackendReply", SieveMaxBackendReply, "", ScopeLeg,
		"Bounds one backend ManageSieve response before login, literals included; capabilities are a few hundred octets."),

	// The admin API.
	count("AdminMinTokenLen", AdminMinTokenLen, "admin.min_token_len", ScopeProcess,
		"32 random characters are out of reach of guessing paced at one try per second per address."),
	count("AdminMinTokenLenFloor", AdminMinTokenLenFloor, "", ScopeProcess,
		"The lowest admin.min_token_len accepted: below 16 characters a token is within reach of patient guessing."),
	count("AdminLockoutThreshold", AdminLockoutThreshold, "admin.lockout_threshold", ScopeAddress,
		"An administrator mistypes a token once or twice; five wrong tokens from one address start pacing its checks."),
	dur("AdminLockoutDuration", AdminLockoutDuration, "admin.lockout_duration", ScopeAddress,
		"Pacing lasts five minutes after an address's last wrong token: long for a guesser, short for a colleague behind the same NAT."),
	dur("AdminLockoutPace", AdminLockoutPace, "", ScopeAddress,
		"A locked address gets one token check per second: 86,400 guesses a day against a 32-character token, and the right token waits its turn only."),
	dur("AdminMaxLockoutWait", AdminMaxLockoutWait, "", ScopeRequest,
		"A request that would wait longer than this for its paced check is answered 429 at once rather than held."),
	count("AdminLockoutEntries", AdminLockoutEntries, "", ScopeProcess,
		"Addresses the lockout table remembers, bounding its memory under a spread-out guessing attack."),
	dur("AdminReadHeaderTimeout", AdminReadHeaderTimeout, "", ScopeRequest,
		"Bounds the TLS handshake and each request head, so a client that connects and stalls frees its slot in seconds."),
	dur("AdminReadTimeout", AdminReadTimeout, "", ScopeRequest,
		"An import body of 16 MiB arrives in well under 30 seconds on any management network."),
	dur("AdminWriteTimeout", AdminWriteTimeout, "", ScopeRequest,
		"Room for an export or a CPU profile of up to a minute."),
	dur("AdminIdleTimeout", AdminIdleTimeout, "", ScopeConnection,
		"A scraper's keep-alive connection survives between scrapes of up to a minute."),
	count("AdminMaxConns", AdminMaxConns, "", ScopeProcess,
		"Scrapers, scripts and consoles need a few dozen; 256 bounds the goroutines and descriptors the admin API can take."),
	count("AdminMaxConnsPerClient", AdminMaxConnsPerClient, "", ScopeAddress,
		"A script or console uses a few connections; eight per address keeps one address from taking the API and /healthz down."),
	count("AdminLoopbackReserve", AdminLoopbackReserve, "", ScopeProcess,
		"Connections of AdminMaxConns kept for loopback clients, so the container's health check gets through whatever remote clients hold."),
	size("AdminMaxHeaderBytes", AdminMaxHeaderBytes, "", ScopeRequest,
		"Admin requests carry a token and a few fields; 16 KiB is plenty."),
	size("AdminMaxQueryLen", AdminMaxQueryLen, "", ScopeRequest,
		"Every admin query is an identifier and a few short parameters."),
	count("AdminMaxDestinationLen", AdminMaxDestinationLen, "", ScopeRequest,
		"Destination ids are short names from the configuration."),
	size("AdminMaxImportBytes", AdminMaxImportBytes, "", ScopeRequest,
		"About 300,000 mapping lines per import; larger imports are split."),
	dur("AdminMaxDelay", AdminMaxDelay, "", ScopeLogin,
		"A login delay for a migration lasts minutes or hours; one day bounds a forgotten one."),
	dur("AdminImportTimeout", AdminImportTimeout, "", ScopeRequest,
		"A bulk import reads the current mappings in a few round trips and writes the new ones at once (one file, one transaction, one pipeline): seconds for the largest body; thirty leave the answer time to reach the client within AdminWriteTimeout."),
	dur("AdminStoreTimeout", AdminStoreTimeout, "", ScopeRequest,
		"A mapping read or written through the admin API waits this long on the store, as a login's lookup does, then the request fails rather than hangs."),
	dur("MetricsScrapeTimeout", MetricsScrapeTimeout, "", ScopeRequest,
		"Prometheus' default scrape timeout; a slower collection is answered with what is ready."),
	count("MetricsScrapesInFlight", MetricsScrapesInFlight, "", ScopeProcess,
		"One or two scrapers are normal; more at once are refused rather than gathering the metrics many times over."),
}
