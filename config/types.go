package config

import "slices"

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
func (p Protocol) Valid() bool { return slices.Contains(Protocols, p) }

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

// TLSModes lists the TLS modes (as error messages name them).
var TLSModes = []TLSMode{TLSImplicit, TLSStartTLS, TLSPlain}

// Valid reports whether m is one of TLSModes.
func (m TLSMode) Valid() bool { return slices.Contains(TLSModes, m) }

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

// ProxyProtocolModes lists the PROXY protocol modes.
var ProxyProtocolModes = []ProxyProtocolMode{ProxyOff, ProxyOptional, ProxyRequired}

// Valid reports whether m is one of ProxyProtocolModes.
func (m ProxyProtocolMode) Valid() bool { return slices.Contains(ProxyProtocolModes, m) }

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

// ForwardingMethods lists the forwarding methods.
var ForwardingMethods = []Forwarding{ForwardProxy, ForwardXCLIENT, ForwardNone}

// Valid reports whether f is one of ForwardingMethods.
func (f Forwarding) Valid() bool { return slices.Contains(ForwardingMethods, f) }

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

// ForwardedModes lists the Forwarded header modes.
var ForwardedModes = []ForwardedMode{ForwardedOff, ForwardedTrust}

// Valid reports whether m is one of ForwardedModes.
func (m ForwardedMode) Valid() bool { return slices.Contains(ForwardedModes, m) }

// Normalize says how an identifier is rewritten before it is looked up.
type Normalize string

// Identifier normalizations.
const (
	NormalizeNone      Normalize = "none"
	NormalizeLowercase Normalize = "lowercase"
)

// Normalizations lists the identifier normalizations.
var Normalizations = []Normalize{NormalizeNone, NormalizeLowercase}

// Valid reports whether n is one of Normalizations.
func (n Normalize) Valid() bool { return slices.Contains(Normalizations, n) }

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

// MappingSources lists the stores that can be named (SourceNone is the
// key left out).
var MappingSources = []MappingSource{SourceFile, SourceRedis, SourceSQL, SourcePostgreSQL, SourceMySQL, SourceSQLite}

// Valid reports whether s is SourceNone or one of MappingSources.
func (s MappingSource) Valid() bool { return s == SourceNone || slices.Contains(MappingSources, s) }

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

// ExtractFroms lists the identifier locations.
var ExtractFroms = []ExtractFrom{FromAuthorization, FromQuery, FromBody, FromHeader}

// Valid reports whether f is one of ExtractFroms.
func (f ExtractFrom) Valid() bool { return slices.Contains(ExtractFroms, f) }
