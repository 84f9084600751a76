package config

import (
	"bufio"
	"crypto/sha256"
	"fmt"

	"net/netip"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/switchyard-mail/switchyard/config/check"
	"github.com/switchyard-mail/switchyard/config/source"
	"github.com/switchyard-mail/switchyard/internal/redact"
	"github.com/switchyard-mail/switchyard/internal/sqlparams"
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/protocols/http/rules"
)

// Implemented says which optional parts of the schema the running build
// supports. Validate accepts every key of the reference schema, but reports
// "not supported yet" for a feature that is switched off here when the
// configuration actually uses it. Flip these as features land.
var Implemented = struct {
	Protocols      map[Protocol]bool
	MappingSources map[MappingSource]bool
	Admin          bool // [admin]
	Cluster        bool // [cluster]
}{
	Protocols:      map[Protocol]bool{IMAP: true},
	MappingSources: map[MappingSource]bool{SourceNone: true, SourceFile: true},
	Admin:          false,
	Cluster:        false,
}

// SASLMechanisms are the mechanisms the proxy can take from a client and
// replay to a backend.
var SASLMechanisms = []string{"PLAIN", "LOGIN", "OAUTHBEARER", "XOAUTH2"}

// LogLevels are the values server.log_level accepts (any case).
var LogLevels = []string{"trace", "debug", "info", "warn", "warning", "error", "off"}

const notSupported = "is not supported yet"

// validator collects errors.
type validator struct {
	c    *Config
	errs []error
}

func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Key: key, Location: v.c.src.Locate(key), Msg: fmt.Sprintf(format, args...)})
}

// Validate checks the whole configuration: every value, every reference
// between sections, and that every file it names can be read and parsed.
// It returns nil or all problems at once (errors.Join of *FieldError,
// sorted by key), each naming the key and quoting the bad value.
func (c *Config) Validate() error {
	v := &validator{c: c}
	v.server()
	v.tls()
	v.destinations()
	v.listeners()
	v.routing()
	v.mapping()
	v.capabilities()
	v.http()
	v.admin()
	v.metrics()
	v.cluster()
	if len(v.errs) == 0 {
		return nil
	}
	return source.SortedJoin(v.errs)
}

func (v *validator) positive(key string, d Duration) {
	if d <= 0 {
		v.add(key, "duration %q must be positive", d.String())
	}
}

func (v *validator) atLeast(key string, n, min int64) {
	if n < min {
		v.add(key, "%d must be at least %d", n, min)
	}
}

// unsupported flags a whole section ([section], what it offers) that this
// build does not serve yet, unless done.
func (v *validator) unsupported(section, what string, done bool) {
	if !done {
		v.add(section, "%s %s (remove [%s])", what, notSupported, section)
	}
}

// bind checks a required listening address (example is one).
func (v *validator) bind(key, bind, example string) {
	if bind == "" {
		v.add(key, "is required (%q)", example)
	} else if _, err := check.Bind(bind); err != nil {
		v.add(key, "%v", err)
	}
}

// noCertificate is the error for a TLS mode that serves TLS when no
// [tls.certificate.<id>] is there to serve it with.
func (v *validator) noCertificate(key string, mode TLSMode) {
	v.add(key, "%q needs a certificate, but no [tls.certificate.<id>] is configured", mode)
}

func (v *validator) server() {
	s := &v.c.Server
	if s.Hostname != "" && !check.Hostname(s.Hostname) {
		v.add("server.hostname", "%q is not a valid host name", s.Hostname)
	}
	v.atLeast("server.threads", int64(s.Threads), 0)
	v.positive("server.shutdown_grace", s.ShutdownGrace)
	v.positive("server.bridge_idle", s.BridgeIdle)
	v.positive("server.backend_timeout", s.BackendTimeout)
	v.atLeast("server.backend_connect_retries", int64(s.BackendConnectRetries), 0)
	v.atLeast("server.host_down_threshold", int64(s.HostDownThreshold), 1)
	v.atLeast("server.host_down_min_clients", int64(s.HostDownMinClients), 1)
	v.positive("server.host_down_cooldown", s.HostDownCooldown)
	if s.ProxyTTL < 1 || s.ProxyTTL > 255 {
		v.add("server.proxy_ttl", "%d must be between 1 and 255", s.ProxyTTL)
	}
	if !contains(LogLevels, strings.ToLower(s.LogLevel)) {
		v.add("server.log_level", "%q is not one of %s", s.LogLevel, source.QuoteList(LogLevels...))
	}
}

func (v *validator) tls() {
	t := &v.c.TLS
	defaults := 0
	for _, id := range sortedKeys(t.Certificate) {
		cert := t.Certificate[id]
		key := source.KeyPath("tls", "certificate", id)
		if cert.Default {
			defaults++
		}
		if cert.Cert == "" {
			v.add(key+".cert", "is required (PEM certificate chain file)")
		}
		if cert.Key == "" {
			v.add(key+".key", "is required (PEM private key file)")
		}
		if cert.Cert != "" && cert.Key != "" {
			if err := check.KeyPair(cert.Cert, cert.Key); err != nil {
				v.add(key, "cert %q and key %q: %v", cert.Cert, cert.Key, err)
			}
		}
		for i, s := range cert.Subjects {
			if !check.Subject(s) {
				v.add(key+".subjects["+strconv.Itoa(i)+"]", "%q is not a host name or wildcard (\"*.example.com\")", s)
			}
		}
	}
	if n := len(t.Certificate); n > 1 && defaults != 1 {
		v.add("tls.certificate", "%d certificates with %d marked default = true: exactly one must be the default", n, defaults)
	}
	v.tlsProtocols()
	v.tlsTickets()
}

func (v *validator) listeners() {
	c := v.c
	type owner struct{ id, addr string }
	binds := make(map[netip.AddrPort]owner)
	def, hasDef := c.Destination[c.Routing.DefaultDestination]
	for _, id := range sortedKeys(c.Listener) {
		l := c.Listener[id]
		key := source.KeyPath("listener", id)
		switch {
		case l.Protocol == "":
			v.add(key+".protocol", "is required (%s)", source.QuoteList(Protocols...))
		case !Protocols.Has(l.Protocol):
			v.add(key+".protocol", "%q is not one of %s", l.Protocol, source.QuoteList(Protocols...))
		case !Implemented.Protocols[l.Protocol]:
			v.add(key+".protocol", "%q %s", l.Protocol, notSupported)
		}
		if len(l.Bind) == 0 {
			v.add(key+".bind", "at least one \"ip:port\" address is required")
		}
		for i, b := range l.Bind {
			bk := key + ".bind[" + strconv.Itoa(i) + "]"
			ap, err := check.Bind(b)
			if err != nil {
				v.add(bk, "%v", err)
				continue
			}
			if ap.Port() == 0 {
				// The kernel picks a different port for each: no clash.
				continue
			}
			if o, dup := binds[ap]; dup {
				v.add(bk, "%q is already bound by listener %q (%q)", b, o.id, o.addr)
				continue
			}
			binds[ap] = owner{id, b}
		}
		switch {
		case l.TLS == "":
			v.add(key+".tls", "is required (%s)", source.QuoteList(TLSModes...))
		case !TLSModes.Has(l.TLS):
			v.add(key+".tls", "%q is not one of %s", l.TLS, source.QuoteList(TLSModes...))
		case l.TLS.Secure() && len(c.TLS.Certificate) == 0:
			v.noCertificate(key+".tls", l.TLS)
		}
		routes := c.RoutesRecipients(l)
		if l.Protocol.Passthrough() && !routes && l.TLS == TLSStartTLS {
			v.add(key+".tls", "\"starttls\" is not possible on a %s listener in pass-through mode: it is bridged raw to the pass-through destination; use \"plain\" or \"implicit\", or recipient_routing = true", l.Protocol)
		}
		if l.Protocol == LMTP && routes && l.TLS == TLSStartTLS {
			v.add(key+".tls", "\"starttls\" does not exist for lmtp; use \"plain\" or \"implicit\"")
		}
		if l.Protocol.Passthrough() {
			if l.RecipientRouting != nil && !*l.RecipientRouting && c.Routing.SMTPPassthroughDestination == "" {
				v.add(key+".recipient_routing", "is false, but routing.smtp_passthrough_destination is not set: there is nowhere to pass %s through to", l.Protocol)
			}
			v.atLeast(key+".max_recipients", int64(l.MaxRecipients), 1)
			v.atLeast(key+".max_message_size", int64(l.MaxMessageSize), 0)
			v.positive(key+".command_timeout", l.CommandTimeout)
			v.positive(key+".backend_reply_timeout", l.BackendReplyTimeout)
		} else if l.RecipientRouting != nil {
			v.add(key+".recipient_routing", "only applies to smtp and lmtp listeners, not %s", l.Protocol)
		}
		if l.HTTP2 != nil && l.Protocol != HTTP {
			v.add(key+".http2", "only applies to http listeners, not %s", l.Protocol)
		}
		if l.Protocol == HTTP && l.TLS == TLSStartTLS {
			v.add(key+".tls", "\"starttls\" does not exist for http; use \"plain\" or \"implicit\"")
		}
		switch {
		case !ProxyProtocolModes.Has(l.ProxyProtocol):
			v.add(key+".proxy_protocol", "%q is not one of %s", l.ProxyProtocol, source.QuoteList(ProxyProtocolModes...))
		case l.ProxyProtocol != ProxyOff && len(l.ProxyTrusted) == 0:
			v.add(key+".proxy_trusted", "is empty, but proxy_protocol = %q needs the networks allowed to send a PROXY header", l.ProxyProtocol)
		}
		for i, p := range l.ProxyTrusted {
			if _, err := ParsePrefix(p); err != nil {
				v.add(key+".proxy_trusted["+strconv.Itoa(i)+"]", "%v", err)
			}
		}
		v.atLeast(key+".max_connections", int64(l.MaxConnections), 1)
		v.atLeast(key+".max_connections_per_ip", int64(l.MaxConnectionsPerIP), 0)
		v.positive(key+".preauth_timeout", l.PreauthTimeout)
		v.atLeast(key+".max_auth_attempts", int64(l.MaxAuthAttempts), 1)
		if !ForwardedModes.Has(l.Forwarded) {
			v.add(key+".forwarded", "%q is not one of %s", l.Forwarded, source.QuoteList(ForwardedModes...))
		}
		// The default destination takes every account that has no mapping,
		// so it must serve every protocol a client can log in with.
		// So must it, and every cluster node, serve recipient routing.
		routed := Protocols.Has(l.Protocol) && (!l.Protocol.Passthrough() || routes) && l.Protocol != HTTP
		if hasDef && routed {
			if _, ok := def.Protocol[l.Protocol]; !ok {
				v.add(key+".protocol", "%q: the default destination %q has no [%s]", l.Protocol, c.Routing.DefaultDestination,
					source.KeyPath("destination", c.Routing.DefaultDestination, "protocol", string(l.Protocol)))
			}
		}
		if c.Cluster != nil && routed {
			for _, n := range c.Cluster.Nodes {
				if d, ok := c.Destination[n]; ok {
					if _, ok := d.Protocol[l.Protocol]; !ok {
						v.add(key+".protocol", "%q: cluster node %q has no [%s]", l.Protocol, n,
							source.KeyPath("destination", n, "protocol", string(l.Protocol)))
					}
				}
			}
		}
	}
	var adminAP netip.AddrPort
	if c.Admin != nil && c.Admin.Bind != "" {
		if ap, err := check.Bind(c.Admin.Bind); err == nil && ap.Port() != 0 {
			adminAP = ap
			if o, dup := binds[ap]; dup {
				v.add("admin.bind", "%q is already bound by listener %q", c.Admin.Bind, o.id)
			}
		}
	}
	if c.Metrics != nil && c.Metrics.Bind != "" {
		if ap, err := check.Bind(c.Metrics.Bind); err == nil && ap.Port() != 0 {
			if o, dup := binds[ap]; dup {
				v.add("metrics.bind", "%q is already bound by listener %q", c.Metrics.Bind, o.id)
			} else if ap == adminAP {
				v.add("metrics.bind", "%q is already admin.bind", c.Metrics.Bind)
			}
		}
	}
}

func (v *validator) destinations() {
	for _, id := range sortedKeys(v.c.Destination) {
		d := v.c.Destination[id]
		key := source.KeyPath("destination", id)
		hostIP := false
		switch {
		case d.Host == "":
			v.add(key+".host", "is required (a host name or IP address, without port)")
		default:
			if _, err := netip.ParseAddr(strings.Trim(d.Host, "[]")); err == nil {
				hostIP = true
			} else if _, _, ok := check.SplitHostPort(d.Host); ok {
				v.add(key+".host", "%q must not include a port: ports go in [%s.protocol.<proto>]", d.Host, key)
			} else if !check.Hostname(d.Host) {
				v.add(key+".host", "%q is not a valid host name or IP address", d.Host)
			}
		}
		if d.TLSServerName != "" && !check.Hostname(d.TLSServerName) {
			v.add(key+".tls_server_name", "%q is not a valid host name", d.TLSServerName)
		}
		if d.Forwarding != "" && !ForwardingMethods.Has(d.Forwarding) {
			v.add(key+".forwarding", "%q is not one of %s", d.Forwarding, source.QuoteList(ForwardingMethods...))
		}
		pinned := d.TLSPinnedCertSHA256 != ""
		if pinned {
			if _, err := ParseFingerprint(d.TLSPinnedCertSHA256); err != nil {
				v.add(key+".tls_pinned_cert_sha256", "%v", err)
			}
		}
		switch {
		case d.TLSClientCert != "" && d.TLSClientKey == "":
			v.add(key+".tls_client_key", "is required with tls_client_cert %q", d.TLSClientCert)
		case d.TLSClientCert == "" && d.TLSClientKey != "":
			v.add(key+".tls_client_cert", "is required with tls_client_key %q", d.TLSClientKey)
		case d.TLSClientCert != "":
			if err := check.KeyPair(d.TLSClientCert, d.TLSClientKey); err != nil {
				v.add(key+".tls_client_cert", "cert %q and key %q: %v", d.TLSClientCert, d.TLSClientKey, err)
			}
		}
		if d.TLSCAFile != "" {
			if err := check.CAFile(d.TLSCAFile); err != nil {
				v.add(key+".tls_ca_file", "%q: %v", d.TLSCAFile, err)
			}
		}
		for i, ip := range d.SourceIPs {
			if _, err := netip.ParseAddr(ip); err != nil {
				v.add(key+".source_ips["+strconv.Itoa(i)+"]", "%q is not an IP address", ip)
			}
		}
		if d.DNSCacheTTL < 0 {
			v.add(key+".dns_cache_ttl", "duration %q must not be negative (\"0s\" resolves on every connect)", d.DNSCacheTTL.String())
		}
		if len(d.Protocol) == 0 {
			v.add(key+".protocol", "no protocol is declared: add [%s.protocol.<proto>] with port and tls", key)
		}
		for _, p := range sortedKeys(d.Protocol) {
			ep := d.Protocol[p]
			pk := source.KeyPath("destination", id, "protocol", string(p))
			if !Protocols.Has(p) {
				v.add(pk, "%q is not one of %s", p, source.QuoteList(Protocols...))
				continue
			}
			if ep.Port < 1 || ep.Port > 65535 {
				if ep.Port == 0 {
					v.add(pk+".port", "is required (1-65535)")
				} else {
					v.add(pk+".port", "%d is not a port number (1-65535)", ep.Port)
				}
			}
			switch {
			case ep.TLS == "":
				v.add(pk+".tls", "is required (%s)", source.QuoteList(TLSModes...))
			case !TLSModes.Has(ep.TLS):
				v.add(pk+".tls", "%q is not one of %s", ep.TLS, source.QuoteList(TLSModes...))
			case ep.TLS.Secure() && hostIP && d.TLSServerName == "" && !d.TLSAllowInvalidCerts && !pinned:
				v.add(pk+".tls", "%q to the IP address %q cannot verify the backend's certificate: set %s.tls_server_name (or tls_pinned_cert_sha256)", ep.TLS, d.Host, key)
			case ep.TLS == TLSPlain && p.CarriesCredentials() && !d.AllowPlaintextAuth:
				v.add(pk+".tls", "\"plain\" would send %s credentials in clear: use \"starttls\" or \"implicit\", or set %s.allow_plaintext_auth = true", p, key)
			}
			if p == HTTP && ep.TLS == TLSStartTLS {
				v.add(pk+".tls", "\"starttls\" does not exist for http; use \"plain\" or \"implicit\"")
			}
			if ep.Forwarding != "" && !ForwardingMethods.Has(ep.Forwarding) {
				v.add(pk+".forwarding", "%q is not one of %s", ep.Forwarding, source.QuoteList(ForwardingMethods...))
			}
		}
	}
}

func (v *validator) destRef(key, id string) (Destination, bool) {
	d, ok := v.c.Destination[id]
	if !ok {
		v.add(key, "%q is not a declared destination%s", id, v.declared())
	}
	return d, ok
}

func (v *validator) declared() string {
	ids := sortedKeys(v.c.Destination)
	if len(ids) == 0 {
		return " (no [destination.<id>] is configured)"
	}
	return " (declared: " + strings.Join(ids, ", ") + ")"
}

func (v *validator) routing() {
	c := v.c
	r := &c.Routing
	switch {
	case len(c.Listener) == 0 && c.Admin == nil:
		// As the reference proxy: a file with neither serves nothing.
		v.add("listener", "no [listener.<id>] and no [admin]: there is nothing to serve (switchyard init DIR writes a starter file)")
	case r.DefaultDestination == "" && (len(c.Listener) > 0 || c.Mapping.Source != SourceNone):
		// The management API alone needs no route (a file from switchyard
		// init); a listener or a mapping store does.
		v.add("routing.default_destination", "is required: the destination of accounts with no mapping%s", v.declared())
	case r.DefaultDestination == "":
	default:
		v.destRef("routing.default_destination", r.DefaultDestination)
	}
	used := map[Protocol]bool{}
	for _, l := range c.Listener {
		if l.Protocol.Passthrough() && !c.RoutesRecipients(l) {
			used[l.Protocol] = true
		}
	}
	if r.SMTPPassthroughDestination == "" {
		// Without it smtp and lmtp listeners route each recipient.
	} else if d, ok := v.destRef("routing.smtp_passthrough_destination", r.SMTPPassthroughDestination); ok {
		for _, p := range []Protocol{SMTP, LMTP} {
			if _, has := d.Protocol[p]; used[p] && !has {
				v.add("routing.smtp_passthrough_destination", "%q has no [%s], but a %s listener passes through to it",
					r.SMTPPassthroughDestination, source.KeyPath("destination", r.SMTPPassthroughDestination, "protocol", string(p)), p)
			}
		}
	}
	for i, s := range r.MasterUserSeparators {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			v.add("routing.master_user_separators["+strconv.Itoa(i)+"]", "%q must be non-empty and contain no white space", s)
		}
	}
}

func (v *validator) mapping() {
	m := &v.c.Mapping
	switch {
	case m.Source != SourceNone && !MappingSources.Has(m.Source):
		v.add("mapping.source", "%q is not one of %s", m.Source, source.QuoteList(MappingSources...))
	case !Implemented.MappingSources[m.Source]:
		v.add("mapping.source", "%q %s", m.Source, notSupported)
	}
	if !Normalizations.Has(m.Normalize) {
		v.add("mapping.normalize", "%q is not one of %s", m.Normalize, source.QuoteList(Normalizations...))
	}
	v.positive("mapping.negative_ttl", m.NegativeTTL)
	v.positive("mapping.positive_ttl", m.PositiveTTL)
	v.positive("mapping.lookup_timeout", m.LookupTimeout)
	switch m.OnStoreError {
	case "", "tempfail", "default":
	default:
		v.add("mapping.on_store_error", "%q is not one of \"tempfail\", \"default\"", m.OnStoreError)
	}
	for alias, canon := range m.DomainAliases {
		if alias == "" || canon == "" || strings.ContainsAny(alias+canon, "@ \t") {
			v.add("mapping.domain_aliases", "%q = %q: both sides must be plain domain names", alias, canon)
		}
	}
	v.atLeast("mapping.cache_max_entries", m.CacheMaxEntries, 0)
	switch {
	case m.Source == SourceFile && m.File == nil:
		v.add("mapping.file", "mapping.source = \"file\" needs [mapping.file] with path")
	case m.Source == SourceFile && m.File.Path == "":
		v.add("mapping.file.path", "is required with mapping.source = \"file\"")
	case m.Source == SourceFile:
		if err := check.ReadableFile(m.File.Path); err != nil {
			v.add("mapping.file.path", "%q: %v", m.File.Path, err)
		} else {
			v.mappingFile(m.File.Path)
		}
	case m.Source == SourceRedis && m.Redis == nil:
		v.add("mapping.redis", "mapping.source = \"redis\" needs [mapping.redis] with url")
	case m.Source == SourceRedis:
		if !strings.HasPrefix(m.Redis.URL, "redis://") && !strings.HasPrefix(m.Redis.URL, "rediss://") && !strings.HasPrefix(m.Redis.URL, "unix://") {
			v.add("mapping.redis.url", "%q is not a redis://, rediss:// or unix:// URL", redact.URL(m.Redis.URL))
		}
		v.atLeast("mapping.redis.pool_size", int64(m.Redis.PoolSize), 1)
	case m.Source.IsSQL() && m.SQL == nil:
		v.add("mapping.sql", "mapping.source = %q needs [mapping.sql] with url and query", m.Source)
	case m.Source.IsSQL():
		if m.SQL.URL == "" {
			v.add("mapping.sql.url", "is required (postgres://, mysql:// or sqlite://)")
		} else if scheme, _, ok := strings.Cut(m.SQL.URL, "://"); !ok || !sqlSchemeFits(m.Source, scheme) {
			v.add("mapping.sql.url", "%q does not fit mapping.source = %q", redact.URL(m.SQL.URL), m.Source)
		}
		// An empty query uses switchyard's own table (switchyard_mappings).
		v.atLeast("mapping.sql.pool_size", int64(m.SQL.PoolSize), 1)
		pg := m.Source == SourcePostgreSQL || strings.HasPrefix(m.SQL.URL, "postgres")
		if q := m.SQL.ListQuery; q != "" {
			if n := sqlparams.Count(q, pg); n < 2 || n > 3 {
				v.add("mapping.sql.list_query", "takes the cursor, optionally a search pattern, and the page size (%s): found %d placeholder(s)",
					map[bool]string{true: "$1, $2[, $3]", false: "?, ?[, ?]"}[pg], n)
			}
		}
		if q := m.SQL.CountQuery; q != "" && sqlparams.Count(q, pg) != 0 {
			v.add("mapping.sql.count_query", "takes no parameter: it returns (destination, count) rows")
		}
	}
}

// maxMappingReports bounds the problems reported from one mapping file.
const maxMappingReports = 10

// mappingFile checks that every destination the mapping file names is
// declared: a typo there would silently send an account to nowhere. Lines
// are "identifier destination", separated by white space; empty lines and
// lines starting with '#' are skipped.
func (v *validator) mappingFile(path string) {
	f, err := os.Open(path)
	if err != nil {
		v.add("mapping.file.path", "%q: %v", path, check.UnwrapPathError(err))
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	reported := 0
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Fields(line)
		var problem string
		switch {
		case len(fields) < 2:
			problem = fmt.Sprintf("%q has no destination", fields[0])
		default:
			if _, ok := v.c.Destination[fields[1]]; !ok {
				problem = fmt.Sprintf("%q maps to %q, which is not a declared destination", fields[0], fields[1])
			}
		}
		if problem == "" {
			continue
		}
		if reported++; reported > maxMappingReports {
			v.add("mapping.file.path", "%q: more problems not shown", path)
			return
		}
		v.add("mapping.file.path", "%q line %d: %s", path, n, problem)
	}
	if err := sc.Err(); err != nil {
		v.add("mapping.file.path", "%q: %v", path, err)
	}
}

func sqlSchemeFits(s MappingSource, scheme string) bool {
	pg := scheme == "postgres" || scheme == "postgresql"
	my := scheme == "mysql"
	lite := scheme == "sqlite" || scheme == "sqlite3"
	switch s {
	case SourcePostgreSQL:
		return pg
	case SourceMySQL:
		return my
	case SourceSQLite:
		return lite
	}
	return pg || my || lite
}

func (v *validator) capabilities() {
	cp := &v.c.Capabilities
	v.sasl("capabilities.imap.sasl", cp.IMAP.SASL)
	v.sasl("capabilities.pop3.sasl", cp.POP3.SASL)
	v.sasl("capabilities.submission.sasl", cp.Submission.SASL)
	v.sasl("capabilities.managesieve.sasl", cp.ManageSieve.SASL)
	v.atoms("capabilities.imap.advertise", cp.IMAP.Advertise, false)
	v.atoms("capabilities.submission.ehlo", cp.Submission.EHLO, true)
	v.atoms("capabilities.managesieve.sieve", cp.ManageSieve.Sieve, false)
	v.line("capabilities.imap.banner", cp.IMAP.Banner)
	v.line("capabilities.pop3.banner", cp.POP3.Banner)
	v.line("capabilities.submission.banner", cp.Submission.Banner)
	v.line("capabilities.managesieve.implementation", cp.ManageSieve.Implementation)
	if v.c.OAuth.JWTUsernameClaim == "" {
		v.add("oauth.jwt_username_claim", "must not be empty")
	}
	v.oauth()
}

func (v *validator) oauth() {
	o := &v.c.OAuth
	if o.Verify && o.JWKSFile == "" && o.JWKSURL == "" && o.StalwartKeyFile == "" {
		v.add("oauth.verify", "is true, but there is nothing to verify with: set jwks_file, jwks_url or stalwart_key_file")
	}
	if o.JWKSFile != "" && o.JWKSURL != "" {
		v.add("oauth.jwks_url", "and oauth.jwks_file are both set: use one")
	}
	if o.JWKSURL != "" && !strings.HasPrefix(o.JWKSURL, "https://") {
		v.add("oauth.jwks_url", "%q must be an https:// URL", o.JWKSURL)
	}
	for _, f := range [...]struct{ key, path string }{{"oauth.jwks_file", o.JWKSFile}, {"oauth.stalwart_key_file", o.StalwartKeyFile}} {
		if key, path := f.key, f.path; path != "" {
			if st, err := os.Stat(path); err != nil {
				v.add(key, "%q: %v", path, check.UnwrapPathError(err))
			} else if !st.Mode().IsRegular() {
				v.add(key, "%q: is not a regular file", path)
			}
		}
	}
	if o.Leeway < 0 {
		v.add("oauth.leeway", "must not be negative")
	}
}

func (v *validator) sasl(key string, mechs []string) {
	for i, m := range mechs {
		if !contains(SASLMechanisms, strings.ToUpper(m)) {
			v.add(key+"["+strconv.Itoa(i)+"]", "%q cannot be proxied; use %s", m, source.QuoteList(SASLMechanisms...))
		}
	}
}

// atoms checks capability words: non-empty, printable, and without spaces
// unless params (an EHLO keyword may carry parameters: "SIZE 52428800").
func (v *validator) atoms(key string, words []string, params bool) {
	for i, w := range words {
		bad := w == "" || strings.HasPrefix(w, " ")
		for _, r := range w {
			if r < 0x21 && !(params && r == ' ') || r == 0x7f {
				bad = true
			}
		}
		if bad {
			v.add(key+"["+strconv.Itoa(i)+"]", "%q is not a capability name", w)
		}
	}
}

func (v *validator) line(key, s string) {
	if strings.ContainsAny(s, "\r\n\x00") {
		v.add(key, "%q must be a single line", s)
	}
}

func (v *validator) http() {
	h := &v.c.HTTP
	v.atLeast("http.body_extract_cap", int64(h.BodyExtractCap), 1)
	if h.BodyExtractCap > MaxBodyExtractCap {
		v.add("http.body_extract_cap", "%d is above the maximum of %d (%s): each request being read ahead holds this much memory before any backend is chosen", int64(h.BodyExtractCap), int64(MaxBodyExtractCap), limits.FormatBytes(int64(MaxBodyExtractCap)))
	}
	v.atLeast("http.max_head_size", int64(h.MaxHeadSize), 1)
	v.positive("http.relay_idle", h.RelayIdle)
	v.positive("http.keepalive_timeout", h.KeepaliveTimeout)
	v.atLeast("http.max_keepalive_requests", int64(h.MaxKeepaliveRequests), 1)
	for i, r := range h.Route {
		key := "http.route[" + strconv.Itoa(i) + "]"
		if r.Match == "" {
			v.add(key+".match", "is required (a path glob such as \"/jmap/**\")")
		} else if _, err := rules.CompileGlob(r.Match); err != nil {
			v.add(key+".match", "%q: %v", r.Match, err)
		}
		for j, m := range r.Methods {
			if m == "" || strings.ContainsAny(m, " \t\r\n/:") {
				v.add(key+".methods["+strconv.Itoa(j)+"]", "%q is not an HTTP method", m)
			}
		}
		if strings.ContainsAny(r.Host, " \t\r\n/") {
			v.add(key+".host", "%q is not a host name", r.Host)
		}
		switch {
		case r.Destination == "" && r.Extract == nil:
			v.add(key, "needs destination (pin the path) or extract (route by account)")
		case r.Destination != "" && r.Extract != nil:
			v.add(key, "has both destination %q and extract: use one", r.Destination)
		}
		if r.Destination != "" {
			v.httpDest(key+".destination", r.Destination)
		}
		if r.Fallback != "" && r.Fallback != "default" {
			v.httpDest(key+".fallback", r.Fallback)
		}
		if e := r.Extract; e != nil {
			ek := key + ".extract"
			switch {
			case e.From == "":
				v.add(ek+".from", "is required (%s)", source.QuoteList(ExtractFroms...))
			case !ExtractFroms.Has(e.From):
				v.add(ek+".from", "%q is not one of %s", e.From, source.QuoteList(ExtractFroms...))
			case e.From == FromBody && e.Regex == "":
				v.add(ek+".regex", "is required with from = \"body\"")
			case e.From == FromQuery && e.Param == "":
				v.add(ek+".param", "is required with from = \"query\"")
			case e.From == FromHeader && e.Header == "":
				v.add(ek+".header", "is required with from = \"header\"")
			}
			if e.Regex != "" {
				if re, err := regexp.Compile(e.Regex); err != nil {
					v.add(ek+".regex", "%q: %v", e.Regex, err)
				} else if re.NumSubexp() == 0 && e.From == FromBody {
					v.add(ek+".regex", "%q has no capture group for the identifier", e.Regex)
				}
			}
		}
	}
}

func (v *validator) httpDest(key, id string) {
	if d, ok := v.destRef(key, id); ok {
		if _, has := d.Protocol[HTTP]; !has {
			v.add(key, "%q has no [%s]", id, source.KeyPath("destination", id, "protocol", "http"))
		}
	}
}

func (v *validator) admin() {
	a := v.c.Admin
	if a == nil {
		return
	}
	v.unsupported("admin", "the management API", Implemented.Admin)
	v.bind("admin.bind", a.Bind, "127.0.0.1:9443")
	if a.TLS != TLSImplicit {
		v.add("admin.tls", "%q: the management API is served over TLS only; use \"implicit\"", a.TLS)
	}
	if a.TLS == TLSImplicit && len(v.c.TLS.Certificate) == 0 {
		v.noCertificate("admin.tls", a.TLS)
	}
	v.atLeast("admin.min_token_len", int64(a.MinTokenLen), limits.AdminMinTokenLenFloor)
	v.atLeast("admin.lockout_threshold", int64(a.LockoutThreshold), 1)
	v.positive("admin.lockout_duration", a.LockoutDuration)
	// The token in force: $SWITCHYARD_ADMIN_TOKEN or $PROXY_ADMIN_TOKEN
	// (Apply clears the file then), else the file, else the inline one.
	switch {
	case a.BearerToken == "" && a.BearerTokenFile == "":
		v.add("admin", "needs bearer_token_file, bearer_token or $SWITCHYARD_ADMIN_TOKEN")
	case a.BearerTokenFile == "":
		if len(a.BearerToken) < a.MinTokenLen {
			v.add("admin.bearer_token", "is %d characters long, below min_token_len %d", len(a.BearerToken), a.MinTokenLen)
		}
	default:
		b, err := check.ReadSmallFile(a.BearerTokenFile)
		switch {
		case err != nil:
			v.add("admin.bearer_token_file", "%q: %v", a.BearerTokenFile, err)
		case len(strings.TrimSpace(string(b))) < a.MinTokenLen:
			v.add("admin.bearer_token_file", "%q holds a token of %d characters, below min_token_len %d", a.BearerTokenFile, len(strings.TrimSpace(string(b))), a.MinTokenLen)
		}
	}
	if al := a.Allow; al != nil {
		v.ports("admin.allow.listener_ports", al.ListenerPorts)
		v.ports("admin.allow.destination_ports", al.DestinationPorts)
		for i, h := range al.DestinationHosts {
			if _, err := ParseHostPattern(h); err != nil {
				v.add("admin.allow.destination_hosts["+strconv.Itoa(i)+"]", "%v", err)
			}
		}
	}
	viewer := v.token("admin.viewer_token", a.ViewerToken, a.ViewerTokenFile, a.MinTokenLen)
	if viewer != "" {
		admin := a.BearerToken
		if a.BearerTokenFile != "" {
			if b, err := check.ReadSmallFile(a.BearerTokenFile); err == nil {
				admin = strings.TrimSpace(string(b))
			}
		}
		if viewer == admin {
			v.add("admin.viewer_token", "is the admin token: give the viewer a token of its own")
		}
	}
}

// ports checks a list of port numbers.
func (v *validator) ports(key string, ps []int) {
	for i, p := range ps {
		if p < 1 || p > 65535 {
			v.add(key+"["+strconv.Itoa(i)+"]", "%d is not a port number (1-65535)", p)
		}
	}
}

// MinMetricsTokenLen is the shortest metrics.token accepted.
const MinMetricsTokenLen = 16

// metrics checks [metrics].
func (v *validator) metrics() {
	m := v.c.Metrics
	if m == nil {
		return
	}
	v.bind("metrics.bind", m.Bind, "127.0.0.1:9090")
	switch m.TLS {
	case TLSPlain:
	case TLSImplicit:
		if len(v.c.TLS.Certificate) == 0 {
			v.noCertificate("metrics.tls", m.TLS)
		}
	default:
		v.add("metrics.tls", "%q: use \"plain\" or \"implicit\"", m.TLS)
	}
	v.token("metrics.token", m.Token, m.TokenFile, MinMetricsTokenLen)
}

// token checks an optional secret given inline (key) or in a file
// (key+"_file", not both) and returns it ("" when unset or unreadable).
func (v *validator) token(key, inline, file string, minLen int) string {
	switch {
	case inline != "" && file != "":
		v.add(key, "is set both inline and in %s_file: keep one", key)
		return ""
	case file != "":
		b, err := check.ReadSmallFile(file)
		if err != nil {
			v.add(key+"_file", "%q: %v", file, err)
			return ""
		}
		inline = strings.TrimSpace(string(b))
		key += "_file"
	case inline == "":
		return ""
	}
	switch {
	case len(inline) < minLen:
		v.add(key, "holds a token of %d characters, below %d", len(inline), minLen)
	case strings.ContainsAny(inline, " \t\r\n"):
		v.add(key, "holds whitespace")
	default:
		return inline
	}
	return ""
}

func (v *validator) cluster() {
	cl := v.c.Cluster
	if cl == nil {
		return
	}
	v.unsupported("cluster", "the cluster ring", Implemented.Cluster)
	if len(cl.Nodes) == 0 {
		v.add("cluster.nodes", "must list at least one destination")
	}
	seen := map[string]bool{}
	for i, n := range cl.Nodes {
		key := "cluster.nodes[" + strconv.Itoa(i) + "]"
		if seen[n] {
			v.add(key, "%q is listed twice", n)
			continue
		}
		seen[n] = true
		v.destRef(key, n)
	}
	for _, n := range sortedKeys(cl.Weights) {
		key := source.KeyPath("cluster", "weights", n)
		if !seen[n] {
			v.add(key, "%q is not in cluster.nodes", n)
		}
		if w := cl.Weights[n]; w < 1 || w > 1000 {
			v.add(key, "%d must be between 1 and 1000", w)
		}
	}
}

// ---- helpers -------------------------------------------------------------

// ParseBind reads a listener or admin bind address ("ip:port").
func ParseBind(s string) (netip.AddrPort, error) { return check.Bind(s) }

// ParsePrefix reads a trusted network: a CIDR ("10.0.0.0/8") or a single
// address ("192.0.2.1", taken as /32 or /128).
func ParsePrefix(s string) (netip.Prefix, error) { return check.Prefix(s) }

// ParseFingerprint reads a SHA-256 certificate fingerprint written as 64
// hex digits, with or without colons.
func ParseFingerprint(s string) ([sha256.Size]byte, error) { return check.Fingerprint(s) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
