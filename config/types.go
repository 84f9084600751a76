package config

import "slices"

// Values lists the spellings of one enumeration, in the order error
// messages name them.
type Values[T ~string] []T

// Has reports whether v is one of vs.
func (vs Values[T]) Has(v T) bool { return slices.Contains(vs, v) }

// The values each enumeration accepts. SourceNone, the key left out, is
// not among MappingSources: it cannot be spelled.
var (
	Protocols          = Values[Protocol]{IMAP, POP3, ManageSieve, Submission, SMTP, LMTP, HTTP}
	TLSModes           = Values[TLSMode]{TLSImplicit, TLSStartTLS, TLSPlain}
	ProxyProtocolModes = Values[ProxyProtocolMode]{ProxyOff, ProxyOptional, ProxyRequired}
	ForwardingMethods  = Values[Forwarding]{ForwardProxy, ForwardXCLIENT, ForwardNone}
	ForwardedModes     = Values[ForwardedMode]{ForwardedOff, ForwardedTrust}
	Normalizations     = Values[Normalize]{NormalizeNone, NormalizeLowercase}
	MappingSources     = Values[MappingSource]{SourceFile, SourceRedis, SourceSQL, SourcePostgreSQL, SourceMySQL, SourceSQLite}
	ExtractFroms       = Values[ExtractFrom]{FromAuthorization, FromQuery, FromBody, FromHeader}
)

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

// Normalize says how an identifier is rewritten before it is looked up.
type Normalize string

// Identifier normalizations.
const (
	NormalizeNone      Normalize = "none"
	NormalizeLowercase Normalize = "lowercase"
)

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
