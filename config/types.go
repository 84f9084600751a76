package config

// Protocol names a mail or web protocol, spelled as in the configuration.
type Protocol string

// The protocols a listener or a destination endpoint can speak.
const (
	IMAP        Protocol = "imap"
	POP3        Protocol = "pop3"
	ManageSieve Protocol = "managesieve"
	Submission  Protocol = "submission"
	SMTP        Protocol = "smtp"
	LMTP        Protocol = "lmtp"
	HTTP        Protocol = "http"
)

// Protocols lists every protocol name the configuration accepts.
var Protocols = []Protocol{IMAP, POP3, ManageSieve, Submission, SMTP, LMTP, HTTP}

// Valid reports whether p is one of Protocols.
func (p Protocol) Valid() bool {
	for _, q := range Protocols {
		if p == q {
			return true
		}
	}
	return false
}

// Passthrough reports whether connections of this protocol carry no login
// and are bridged whole to routing.smtp_passthrough_destination (SMTP on
// port 25, LMTP).
func (p Protocol) Passthrough() bool { return p == SMTP || p == LMTP }

// CarriesCredentials reports whether a client of this protocol sends a
// password or token that the proxy replays to the backend.
func (p Protocol) CarriesCredentials() bool {
	switch p {
	case IMAP, POP3, ManageSieve, Submission, HTTP:
		return true
	}
	return false
}

// TLSMode says how a leg is secured.
type TLSMode string

// TLS modes.
const (
	// TLSImplicit: TLS from the first byte (993, 995, 465, 443).
	TLSImplicit TLSMode = "implicit"
	// TLSStartTLS: cleartext greeting, then the protocol's STARTTLS/STLS.
	TLSStartTLS TLSMode = "starttls"
	// TLSPlain: cleartext, never upgraded.
	TLSPlain TLSMode = "plain"
)

// Valid reports whether m is a known mode.
func (m TLSMode) Valid() bool { return m == TLSImplicit || m == TLSStartTLS || m == TLSPlain }

// Secure reports whether the leg runs TLS (now or after STARTTLS).
func (m TLSMode) Secure() bool { return m == TLSImplicit || m == TLSStartTLS }

// ProxyProtocolMode says whether a listener accepts an inbound PROXY header.
type ProxyProtocolMode string

// PROXY protocol modes of a listener.
const (
	ProxyOff      ProxyProtocolMode = "off"
	ProxyOptional ProxyProtocolMode = "optional"
	ProxyRequired ProxyProtocolMode = "required"
)

// Valid reports whether m is a known mode.
func (m ProxyProtocolMode) Valid() bool {
	return m == ProxyOff || m == ProxyOptional || m == ProxyRequired
}

// Forwarding says how the real client is announced to a backend.
type Forwarding string

// Forwarding methods.
const (
	// ForwardProxy: a PROXY protocol v2 header before the first byte.
	ForwardProxy Forwarding = "proxy"
	// ForwardXCLIENT: XCLIENT (SMTP, POP3) and the IMAP ID command, as
	// Dovecot and Postfix expect.
	ForwardXCLIENT Forwarding = "xclient"
	// ForwardNone: the backend sees the proxy's address.
	ForwardNone Forwarding = "none"
)

// Valid reports whether f is a known method.
func (f Forwarding) Valid() bool {
	return f == ForwardProxy || f == ForwardXCLIENT || f == ForwardNone
}

// ForwardedMode says what an HTTP listener does with Forwarded and
// X-Forwarded-For headers sent by clients.
type ForwardedMode string

// Forwarded header handling on HTTP listeners.
const (
	// ForwardedOff: strip them; the proxy writes its own from the peer.
	ForwardedOff ForwardedMode = "off"
	// ForwardedTrust: keep them (the listener sits behind a trusted proxy).
	ForwardedTrust ForwardedMode = "trust"
)

// Valid reports whether m is a known mode.
func (m ForwardedMode) Valid() bool { return m == ForwardedOff || m == ForwardedTrust }

// Normalize says how an identifier is rewritten before it is looked up.
type Normalize string

// Identifier normalizations.
const (
	NormalizeNone      Normalize = "none"
	NormalizeLowercase Normalize = "lowercase"
)

// Valid reports whether n is known.
func (n Normalize) Valid() bool { return n == NormalizeNone || n == NormalizeLowercase }

// MappingSource names the store that maps identifiers to destinations.
type MappingSource string

// Mapping stores. SourceNone (the key left out) means no store: every
// account goes to the cluster ring, if any, else to the default destination.
// "sql" is the reference proxy's name, with the driver chosen by the URL
// scheme; "postgresql", "mysql" and "sqlite" name a driver directly.
const (
	SourceNone       MappingSource = ""
	SourceFile       MappingSource = "file"
	SourceRedis      MappingSource = "redis"
	SourceSQL        MappingSource = "sql"
	SourcePostgreSQL MappingSource = "postgresql"
	SourceMySQL      MappingSource = "mysql"
	SourceSQLite     MappingSource = "sqlite"
)

// Valid reports whether s is a known store.
func (s MappingSource) Valid() bool {
	switch s {
	case SourceNone, SourceFile, SourceRedis, SourceSQL, SourcePostgreSQL, SourceMySQL, SourceSQLite:
		return true
	}
	return false
}

// IsSQL reports whether s uses the [mapping.sql] section.
func (s MappingSource) IsSQL() bool {
	return s == SourceSQL || s == SourcePostgreSQL || s == SourceMySQL || s == SourceSQLite
}

// ExtractFrom says where an HTTP route finds the account identifier.
type ExtractFrom string

// Identifier locations for HTTP routes.
const (
	FromAuthorization ExtractFrom = "authorization"
	FromQuery         ExtractFrom = "query"
	FromBody          ExtractFrom = "body"
	FromHeader        ExtractFrom = "header"
)

// Valid reports whether f is known.
func (f ExtractFrom) Valid() bool {
	return f == FromAuthorization || f == FromQuery || f == FromBody || f == FromHeader
}
