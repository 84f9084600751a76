// Package overrides is the flag and environment layer over the
// configuration file: --x-y flags and their $SWITCHYARD_X_Y variables,
// applied key by key over a parsed config.Config (flag > environment >
// file > default), each change remembered as the key's origin so that
// Validate's errors name the flag or variable.
package overrides

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/pflag"

	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/config/source"
	"github.com/switchyard-mail/switchyard/internal/redact"
)

// EnvPrefix starts the name of every environment variable: a flag --x-y is
// also $SWITCHYARD_X_Y.
const EnvPrefix = "SWITCHYARD_"

// Overrides holds the command-line flags that override the file. Each flag
// has an environment variable; the precedence is flag > environment > file
// > default. List flags can be repeated or given comma-separated, and their
// variables are comma-separated (except $SWITCHYARD_SET: one assignment a
// line).
type Overrides struct {
	fs *pflag.FlagSet

	hostname           string
	logLevel           string
	listen             []string
	destination        []string
	destinationPort    []string
	defaultDestination string
	mappingFile        string
	tlsCert, tlsKey    string
	proxyTrusted       []string
	proxyProtocol      string
	backendTimeout     string
	preauthTimeout     string
	maxConnections     int
	set                []string
}

// RegisterFlags adds switchyard's configuration flags to fs. The command
// keeps its own --config and --check-config.
func RegisterFlags(fs *pflag.FlagSet) *Overrides {
	o := &Overrides{fs: fs}
	fs.StringVar(&o.hostname, "hostname", "", "host name announced in greetings (server.hostname)")
	fs.StringVar(&o.logLevel, "log-level", "", "trace, debug, info, warn or error (server.log_level)")
	fs.StringSliceVar(&o.listen, "listen", nil, "add a listener: [ID=]PROTO[:TLS]@IP:PORT, e.g. imaps=imap:implicit@0.0.0.0:993; repeat an ID to bind more addresses")
	fs.StringSliceVar(&o.destination, "destination", nil, "add a destination or set its host: NAME=HOST")
	fs.StringSliceVar(&o.destinationPort, "destination-port", nil, "add a destination endpoint: NAME:PROTO=PORT[/TLS], e.g. legacy:imap=993/implicit")
	fs.StringVar(&o.defaultDestination, "default-destination", "", "destination of accounts with no mapping (routing.default_destination)")
	fs.StringVar(&o.mappingFile, "mapping-file", "", "mapping file (mapping.source = \"file\", mapping.file.path)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate chain presented to clients (tls.certificate.default.cert)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key of --tls-cert (tls.certificate.default.key)")
	fs.StringSliceVar(&o.proxyTrusted, "proxy-trusted", nil, "networks allowed to send a PROXY header, on every listener (listener.*.proxy_trusted)")
	fs.StringVar(&o.proxyProtocol, "proxy-protocol", "", "off, optional or required, on every listener (listener.*.proxy_protocol)")
	fs.StringVar(&o.backendTimeout, "backend-timeout", "", "backend connect and greeting timeout, e.g. 10s (server.backend_timeout)")
	fs.StringVar(&o.preauthTimeout, "preauth-timeout", "", "pre-authentication timeout on every listener, e.g. 60s (listener.*.preauth_timeout)")
	fs.IntVar(&o.maxConnections, "max-connections", 0, "connection limit of every listener (listener.*.max_connections)")
	fs.StringArrayVar(&o.set, "set", nil, "set any key: KEY=VALUE with KEY dotted and VALUE in TOML or a bare string, e.g. destination.legacy.forwarding=xclient")
	return o
}

// EnvName returns the environment variable of a flag: "log-level" ->
// "SWITCHYARD_LOG_LEVEL".
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applier carries the state of one Apply.
type applier struct {
	o      *Overrides
	c      *config.Config
	getenv func(string) string
	errs   []error
}

// value returns the flag's value when it was given, else its environment
// variable's, and where it came from ("flag --x", "env SWITCHYARD_X").
// ok is false when neither is set.
func (a *applier) value(name string, flagVal string) (val, origin string, ok bool) {
	if a.o.fs != nil && a.o.fs.Changed(name) {
		return flagVal, "flag --" + name, true
	}
	env := EnvName(name)
	if v := a.getenv(env); v != "" {
		return v, "env " + env, true
	}
	return "", "", false
}

// list is value for list flags; the environment variable is split on
// commas (or on sep).
func (a *applier) list(name string, flagVal []string, sep string) (vals []string, origin string, ok bool) {
	if a.o.fs != nil && a.o.fs.Changed(name) {
		return flagVal, "flag --" + name, true
	}
	env := EnvName(name)
	v := a.getenv(env)
	if v == "" {
		return nil, "", false
	}
	for _, s := range strings.Split(v, sep) {
		if s = strings.TrimSpace(s); s != "" {
			vals = append(vals, s)
		}
	}
	return vals, "env " + env, true
}

func (a *applier) fail(origin, format string, args ...any) {
	a.errs = append(a.errs, fmt.Errorf("%s: %s", origin, fmt.Sprintf(format, args...)))
}

func (a *applier) mark(key, origin string) { a.c.MarkOrigin(key, origin) }

// Apply writes the flags that were given, or else their environment
// variables, over c. It also reads $SWITCHYARD_ADMIN_TOKEN (or the
// reference proxy's $PROXY_ADMIN_TOKEN) into admin.bearer_token when
// [admin] is configured. Listeners, destinations and endpoints named by
// flags are created with their defaults when c lacks them. Errors name the
// flag or variable; Validate still has to be called afterwards.
//
// Order: --set comes last, so that it can refine what the other flags
// create; the flags that apply to every listener (--proxy-trusted,
// --proxy-protocol, --preauth-timeout, --max-connections) come after
// --listen, so that they cover the listeners it adds.
func (o *Overrides) Apply(c *config.Config, getenv func(string) string) error {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	a := &applier{o: o, c: c, getenv: getenv}

	if v, origin, ok := a.value("hostname", o.hostname); ok {
		c.Server.Hostname = v
		a.mark("server.hostname", origin)
	}
	if v, origin, ok := a.value("log-level", o.logLevel); ok {
		c.Server.LogLevel = v
		a.mark("server.log_level", origin)
	}
	if v, origin, ok := a.value("backend-timeout", o.backendTimeout); ok {
		if d, err := config.ParseDuration(v); err != nil {
			a.fail(origin, "%v", err)
		} else {
			c.Server.BackendTimeout = d
			a.mark("server.backend_timeout", origin)
		}
	}
	a.applyDestinations()
	if v, origin, ok := a.value("default-destination", o.defaultDestination); ok {
		c.Routing.DefaultDestination = v
		a.mark("routing.default_destination", origin)
	}
	if v, origin, ok := a.value("mapping-file", o.mappingFile); ok {
		c.Mapping.Source = config.SourceFile
		c.Mapping.File = &config.MappingFile{Path: v}
		a.mark("mapping.source", origin)
		a.mark("mapping.file", origin)
	}
	a.applyCertificate()
	a.applyListen()
	a.applyListenerWide()
	a.applyAdminToken()
	a.applySet()
	return errors.Join(a.errs...)
}

func (a *applier) applyDestinations() {
	c := a.c
	if vals, origin, ok := a.list("destination", a.o.destination, ","); ok {
		for _, v := range vals {
			name, host, found := strings.Cut(v, "=")
			if !found || name == "" || host == "" {
				a.fail(origin, "%q is not NAME=HOST", v)
				continue
			}
			d := a.dest(name)
			d.Host = host
			c.Destination[name] = d
			a.mark(source.KeyPath("destination", name, "host"), origin)
		}
	}
	if vals, origin, ok := a.list("destination-port", a.o.destinationPort, ","); ok {
		for _, v := range vals {
			target, spec, found := strings.Cut(v, "=")
			name, proto, found2 := strings.Cut(target, ":")
			if !found || !found2 || name == "" {
				a.fail(origin, "%q is not NAME:PROTO=PORT[/TLS]", v)
				continue
			}
			portStr, mode, hasMode := strings.Cut(spec, "/")
			port, err := strconv.Atoi(portStr)
			if err != nil || port < 1 || port > 65535 {
				a.fail(origin, "%q: port %q is not 1-65535", v, portStr)
				continue
			}
			ep := config.Endpoint{Port: port, TLS: config.TLSPlain}
			if hasMode {
				ep.TLS = config.TLSMode(mode)
			}
			p := config.Protocol(proto)
			if !config.Protocols.Has(p) {
				a.fail(origin, "%q: protocol %q is not one of %s", v, proto, source.QuoteList(config.Protocols...))
				continue
			}
			if !config.TLSModes.Has(ep.TLS) {
				a.fail(origin, "%q: tls %q is not one of %s", v, mode, source.QuoteList(config.TLSModes...))
				continue
			}
			d := a.dest(name)
			if d.Protocol == nil {
				d.Protocol = make(map[config.Protocol]config.Endpoint)
			}
			d.Protocol[p] = ep
			c.Destination[name] = d
			a.mark(source.KeyPath("destination", name, "protocol", proto), origin)
		}
	}
}

func (a *applier) dest(name string) config.Destination {
	if a.c.Destination == nil {
		a.c.Destination = make(map[string]config.Destination)
	}
	d, ok := a.c.Destination[name]
	if !ok {
		d = config.NewDestination()
	}
	return d
}

func (a *applier) applyCertificate() {
	c := a.c
	cert, corigin, cok := a.value("tls-cert", a.o.tlsCert)
	key, korigin, kok := a.value("tls-key", a.o.tlsKey)
	switch {
	case !cok && !kok:
		return
	case !kok:
		a.fail(corigin, "needs --tls-key (or $%s) too", EnvName("tls-key"))
		return
	case !cok:
		a.fail(korigin, "needs --tls-cert (or $%s) too", EnvName("tls-cert"))
		return
	}
	if c.TLS.Certificate == nil {
		c.TLS.Certificate = make(map[string]config.Certificate)
	}
	for id, other := range c.TLS.Certificate {
		other.Default = false
		c.TLS.Certificate[id] = other
	}
	c.TLS.Certificate["default"] = config.Certificate{Cert: cert, Key: key, Default: true}
	a.mark("tls.certificate.default.cert", corigin)
	a.mark("tls.certificate.default.key", korigin)
	a.mark("tls.certificate.default", corigin)
}

// parseListen reads [ID=]PROTO[:TLS]@IP:PORT.
func parseListen(s string) (id string, proto config.Protocol, mode config.TLSMode, bind string, err error) {
	spec, bind, ok := strings.Cut(s, "@")
	if !ok || bind == "" {
		return "", "", "", "", fmt.Errorf("%q is not [ID=]PROTO[:TLS]@IP:PORT", s)
	}
	if i, p, ok := strings.Cut(spec, "="); ok {
		id, spec = i, p
	}
	p, m, hasMode := strings.Cut(spec, ":")
	proto, mode = config.Protocol(p), config.TLSPlain
	if hasMode {
		mode = config.TLSMode(m)
	}
	if !config.Protocols.Has(proto) {
		return "", "", "", "", fmt.Errorf("%q: protocol %q is not one of %s", s, p, source.QuoteList(config.Protocols...))
	}
	if !config.TLSModes.Has(mode) {
		return "", "", "", "", fmt.Errorf("%q: tls %q is not one of %s", s, m, source.QuoteList(config.TLSModes...))
	}
	if id == "" {
		id = p
		if hasMode {
			id = p + "-" + m
		}
	}
	if _, err := config.ParseBind(bind); err != nil {
		return "", "", "", "", fmt.Errorf("%q: %v", s, err)
	}
	return id, proto, mode, bind, nil
}

func (a *applier) applyListen() {
	c := a.c
	vals, origin, ok := a.list("listen", a.o.listen, ",")
	if !ok {
		return
	}
	if c.Listener == nil {
		c.Listener = make(map[string]config.Listener)
	}
	touched := map[string]bool{}
	for _, v := range vals {
		id, proto, mode, bind, err := parseListen(v)
		if err != nil {
			a.fail(origin, "%v", err)
			continue
		}
		l, exists := c.Listener[id]
		switch {
		case touched[id]:
			if l.Protocol != proto || l.TLS != mode {
				a.fail(origin, "%q: listener %q was already given as %s:%s", v, id, l.Protocol, l.TLS)
				continue
			}
			l.Bind = append(l.Bind, bind)
		default:
			if !exists {
				l = config.NewListener()
			}
			l.Protocol, l.TLS, l.Bind = proto, mode, []string{bind}
			touched[id] = true
		}
		c.Listener[id] = l
		a.mark(source.KeyPath("listener", id), origin)
	}
}

func (a *applier) applyListenerWide() {
	c := a.c
	each := func(field, origin string, set func(*config.Listener)) {
		for id, l := range c.Listener {
			set(&l)
			c.Listener[id] = l
			a.mark(source.KeyPath("listener", id, field), origin)
		}
	}
	if vals, origin, ok := a.list("proxy-trusted", a.o.proxyTrusted, ","); ok {
		bad := false
		for _, p := range vals {
			if _, err := config.ParsePrefix(p); err != nil {
				a.fail(origin, "%v", err)
				bad = true
			}
		}
		if !bad {
			each("proxy_trusted", origin, func(l *config.Listener) { l.ProxyTrusted = append([]string(nil), vals...) })
		}
	}
	if v, origin, ok := a.value("proxy-protocol", a.o.proxyProtocol); ok {
		if m := config.ProxyProtocolMode(v); !config.ProxyProtocolModes.Has(m) {
			a.fail(origin, "%q is not one of %s", v, source.QuoteList(config.ProxyProtocolModes...))
		} else {
			each("proxy_protocol", origin, func(l *config.Listener) { l.ProxyProtocol = m })
		}
	}
	if v, origin, ok := a.value("preauth-timeout", a.o.preauthTimeout); ok {
		if d, err := config.ParseDuration(v); err != nil {
			a.fail(origin, "%v", err)
		} else {
			each("preauth_timeout", origin, func(l *config.Listener) { l.PreauthTimeout = d })
		}
	}
	if v, origin, ok := a.value("max-connections", strconv.Itoa(a.o.maxConnections)); ok {
		if n, err := strconv.Atoi(v); err != nil {
			a.fail(origin, "%q is not a whole number", v)
		} else {
			each("max_connections", origin, func(l *config.Listener) { l.MaxConnections = n })
		}
	}
}

func (a *applier) applyAdminToken() {
	if a.c.Admin == nil {
		return
	}
	if v := a.getenv(EnvPrefix + "ADMIN_VIEWER_TOKEN"); v != "" {
		a.c.Admin.ViewerToken = strings.TrimSpace(v)
		a.c.Admin.ViewerTokenFile = "" // the environment wins over the file's setting
		a.mark("admin.viewer_token", "env "+EnvPrefix+"ADMIN_VIEWER_TOKEN")
	}
	for _, env := range []string{EnvPrefix + "ADMIN_TOKEN", "PROXY_ADMIN_TOKEN"} {
		if v := a.getenv(env); v != "" {
			// The environment wins over the file, which wins over the
			// inline token (the reference proxy's order).
			a.c.Admin.BearerToken = strings.TrimSpace(v)
			a.c.Admin.BearerTokenFile = ""
			a.mark("admin.bearer_token", "env "+env)
			return
		}
	}
}

// applySet applies --set KEY=VALUE: the assignment is decoded as a line of
// TOML into c, strictly, so it obeys the same rules as the file.
func (a *applier) applySet() {
	vals, origin, ok := a.list("set", a.o.set, "\n")
	if !ok {
		return
	}
	for _, v := range vals {
		key, val, found := strings.Cut(v, "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		v = shownAssignment(key, v) // errors quote it: no secret in them
		if !found || key == "" || strings.ContainsAny(key, "\r\n") {
			a.fail(origin, "%q is not KEY=VALUE", v)
			continue
		}
		if !isTOMLValue(val) {
			val = tomlQuote(val)
		}
		keys, err := a.c.Assign([]byte(key + " = " + val + "\n"))
		if err != nil {
			a.fail(origin, "%q: %v", v, err)
			continue
		}
		for _, k := range keys {
			a.mark(k, origin)
		}
	}
}

// shownAssignment is a --set assignment as errors may quote it: the
// password of a store URL masked (redact.URL), and the whole value of a
// key that is itself a secret (bearer_token, password).
func shownAssignment(key, v string) string {
	last := key[strings.LastIndexByte(key, '.')+1:]
	if strings.Contains(last, "token") || strings.Contains(last, "password") || strings.Contains(last, "secret") {
		return key + "=" + redact.Mask
	}
	return redact.URL(v)
}

// isTOMLValue reports whether s is one complete TOML value.
func isTOMLValue(s string) bool {
	if s == "" || strings.ContainsAny(s, "\r\n") {
		return false
	}
	var m map[string]any
	if err := toml.Unmarshal([]byte("v = "+s+"\n"), &m); err != nil {
		return false
	}
	return len(m) == 1
}

// tomlQuote renders s as a TOML basic string.
func tomlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
