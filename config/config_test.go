package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseEmptyIsDefault(t *testing.T) {
	c := mustParse(t, "# nothing\n")
	c.src = nil
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("empty document:\n%+v\nwant Default():\n%+v", c, Default())
	}
}

func TestParseReferenceSchema(t *testing.T) {
	c, err := Parse(readFile(t, "testdata/reference-schema.toml"), "reference-schema.toml")
	if err != nil {
		t.Fatalf("a file using every reference key must decode: %v", err)
	}
	s := c.Server
	if s.Threads != 4 || s.Hostname != "proxy.example.net" || s.ShutdownGrace.D() != 45*time.Second ||
		s.BridgeIdle.D() != 2*time.Hour || s.BackendTimeout.D() != 7*time.Second || s.BackendConnectRetries != 2 ||
		s.HostDownThreshold != 9 || s.HostDownCooldown.D() != time.Minute || s.ProxyTTL != 5 || s.LogLevel != "debug" {
		t.Errorf("server: %+v", s)
	}
	cert := c.TLS.Certificate["main"]
	if cert.Cert != "CERT" || cert.Key != "KEY" || !cert.Default || len(cert.Subjects) != 2 {
		t.Errorf("tls.certificate.main: %+v", cert)
	}
	if p := c.TLS.Protocols; p.MinVersion != "1.3" || p.IgnoreClientOrder == nil || !*p.IgnoreClientOrder || len(p.DisableCipherSuites) != 1 {
		t.Errorf("tls.protocols: %+v", p)
	}
	if r := c.Routing; r.DefaultDestination != "a" || r.SMTPPassthroughDestination != "b" ||
		!reflect.DeepEqual(r.MasterUserSeparators, []string{"%", "*"}) {
		t.Errorf("routing: %+v", r)
	}
	m := c.Mapping
	if m.Source != SourceFile || m.Normalize != NormalizeLowercase || m.NegativeTTL.D() != 15*time.Second ||
		m.PositiveTTL.D() != 20*time.Minute || m.CacheMaxEntries != 5000 || m.LookupTimeout.D() != 2*time.Second ||
		m.File.Path != "MAPPING" {
		t.Errorf("mapping: %+v", m)
	}
	if m.Redis == nil || m.Redis.KeyPrefix != "acct:" || m.Redis.PoolSize != 8 || m.Redis.URL == "" {
		t.Errorf("mapping.redis: %+v", m.Redis)
	}
	if m.SQL == nil || m.SQL.PoolSize != 4 || m.SQL.UpsertQuery == "" || m.SQL.DeleteQuery == "" {
		t.Errorf("mapping.sql: %+v", m.SQL)
	}
	a := c.Destination["a"]
	if a.ProxyProtocol || !a.Forwarded || !a.TLSAllowInvalidCerts || !a.HideAuthErrors || !a.AllowPlaintextAuth ||
		a.SourceIPs[0] != "192.0.2.10" || a.Protocol[IMAP].Forwarding != ForwardXCLIENT || a.Protocol[HTTP].Port != 8443 {
		t.Errorf("destination.a: %+v", a)
	}
	if got := a.ForwardingFor(IMAP); got != ForwardXCLIENT {
		t.Errorf("a imap forwarding = %q, want the endpoint's xclient", got)
	}
	if got := a.ForwardingFor(POP3); got != ForwardNone {
		t.Errorf("a pop3 forwarding = %q, want none (proxy_protocol = false)", got)
	}
	b := c.Destination["b"]
	if !b.ProxyProtocol || b.ForwardingFor(SMTP) != ForwardProxy {
		t.Errorf("destination.b: proxy_protocol must default to true: %+v", b)
	}
	l := c.Listener["imap"]
	if l.ProxyProtocol != ProxyOptional || len(l.ProxyTrusted) != 2 || l.MaxConnections != 100 ||
		l.PreauthTimeout.D() != 20*time.Second || l.MaxAuthAttempts != 5 {
		t.Errorf("listener.imap: %+v", l)
	}
	if p := c.Listener["pop3"]; p.MaxConnections != DefaultMaxConnections || p.PreauthTimeout != DefaultPreauthTimeout ||
		p.MaxAuthAttempts != DefaultMaxAuthAttempts || p.ProxyProtocol != ProxyOff {
		t.Errorf("listener.pop3 defaults: %+v", p)
	}
	if c.Listener["web"].Forwarded != ForwardedTrust {
		t.Errorf("listener.web: %+v", c.Listener["web"])
	}
	cp := c.Capabilities
	if !reflect.DeepEqual(cp.IMAP.Advertise, []string{"IMAP4rev1", "ID"}) || cp.IMAP.Banner != "IMAP ready" ||
		!cp.IMAP.AllowPlainAuthWithoutTLS || cp.ManageSieve.Implementation != "Sieve ready" ||
		len(cp.ManageSieve.Sieve) != 2 || cp.Submission.EHLO[1] != "SIZE 52428800" || cp.POP3.Banner != "POP3 ready" {
		t.Errorf("capabilities: %+v", cp)
	}
	if c.OAuth.JWTUsernameClaim != "preferred_username" {
		t.Errorf("oauth: %+v", c.OAuth)
	}
	h := c.HTTP
	if h.BodyExtractCap != 32768 || h.MaxHeadSize != 16384 || h.RelayIdle.D() != 90*time.Second ||
		h.KeepaliveTimeout.D() != 30*time.Second || h.MaxKeepaliveRequests != 50 || len(h.Route) != 5 {
		t.Errorf("http: %+v", h)
	}
	if r := h.Route[1]; r.Extract == nil || r.Extract.From != FromBody || r.Extract.Regex == "" || r.Fallback != "a" {
		t.Errorf("http.route[1]: %+v", r)
	}
	ad := c.Admin
	if ad == nil || ad.Bind != "127.0.0.1:9443" || ad.TLS != TLSImplicit || ad.BearerTokenFile != "TOKEN" ||
		ad.MinTokenLen != 24 || ad.LockoutThreshold != 7 || ad.LockoutDuration.D() != 10*time.Minute {
		t.Errorf("admin: %+v", ad)
	}
}

func TestReferenceSchemaValidates(t *testing.T) {
	f := newFixture(t)
	c := mustParse(t, f.expand(string(readFile(t, "testdata/reference-schema.toml"))))
	errs := fieldErrors(t, c.Validate())
	// Only what this build does not implement may be reported.
	want := []string{
		`admin: the management API is not supported yet (remove [admin])`,
		`listener.web.protocol: "http" is not supported yet`,
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.Key+": "+e.Msg)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Validate:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestUnknownKeysNamedWithPathAndLine(t *testing.T) {
	doc := `[server]
hostname = "x"
hostnme = "typo"

[listener.imap]
protocol = "imap"
bnid = ["127.0.0.1:143"]

[destination.a.protocol.imap]
prot = 143

[capabilities.lmtp]
sasl = []

[[http.route]]
match = "/"
extract = { from = "body", regexp = "x" }
`
	_, err := Parse([]byte(doc), "site.toml")
	if err == nil {
		t.Fatal("unknown keys must be rejected")
	}
	got := fieldErrors(t, err)
	want := []string{
		`site.toml:12: capabilities.lmtp: unknown key`,
		`site.toml:10: destination.a.protocol.imap.prot: unknown key`,
		`site.toml:17: http.route[0].extract.regexp: unknown key`,
		`site.toml:7: listener.imap.bnid: unknown key`,
		`site.toml:3: server.hostnme: unknown key`,
	}
	var lines []string
	for _, e := range got {
		lines = append(lines, e.Error())
	}
	if !reflect.DeepEqual(lines, want) {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestTypeErrorsNameKeyAndExpectation(t *testing.T) {
	cases := []struct{ doc, want string }{
		{"[server]\nhostname = 1\n", `t.toml:2:12: server.hostname: expected a string, found an integer`},
		{"[server]\nthreads = \"4\"\n", `server.threads: expected an integer, found a string`},
		{"[listener.x]\nbind = \"0.0.0.0:1\"\n", `listener.x.bind: expected an array of strings, found a string`},
		{"[server]\nshutdown_grace = 30\n", `t.toml:2: server.shutdown_grace: expected a duration string such as "30s", found the number 30 (write the unit)`},
		{"[server]\nshutdown_grace = \"30\"\n", `server.shutdown_grace: invalid duration "30": missing unit`},
		{"[destination.a]\nproxy_protocol = \"yes\"\n", `destination.a.proxy_protocol: expected true or false, found a string`},
		{"[http]\nmax_head_size = \"12 parsecs\"\n", `http.max_head_size: invalid size "12 parsecs"`},
		{"[server\n", `t.toml:1:`},
	}
	for _, tc := range cases {
		_, err := Parse([]byte(tc.doc), "t.toml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want it to contain %q", tc.doc, err, tc.want)
		}
	}
}

func TestPrefillKeepsExplicitZero(t *testing.T) {
	c := mustParse(t, "[listener.a]\nprotocol = \"imap\"\nmax_connections = 0\n[destination.d]\nhost = \"h\"\n")
	if got := c.Listener["a"].MaxConnections; got != 0 {
		t.Fatalf("explicit 0 became %d", got)
	}
	if got := c.Listener["a"].PreauthTimeout; got != DefaultPreauthTimeout {
		t.Fatalf("left-out preauth_timeout = %v, want default", got)
	}
	if !c.Destination["d"].ProxyProtocol {
		t.Fatal("destination proxy_protocol must default to true")
	}
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "listener.a.max_connections: 0 must be at least 1") {
		t.Fatalf("Validate = %v", err)
	}
}

func TestArraysReplaceDefaults(t *testing.T) {
	c := mustParse(t, "[capabilities.imap]\nsasl = [\"PLAIN\"]\n")
	if !reflect.DeepEqual(c.Capabilities.IMAP.SASL, []string{"PLAIN"}) {
		t.Fatalf("sasl = %v, want the file's list only", c.Capabilities.IMAP.SASL)
	}
	if len(c.Capabilities.POP3.SASL) != 3 {
		t.Fatalf("pop3 sasl default lost: %v", c.Capabilities.POP3.SASL)
	}
}

func TestBaseValidates(t *testing.T) {
	f := newFixture(t)
	writeFile(t, f.mapping, "alice@example.com new\nBob@Example.com\told\n")
	c := mustParse(t, f.expand(baseDoc))
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

// Port 0 asks the kernel for a port: several listeners and the admin API
// may all say "127.0.0.1:0" without clashing.
func TestBindPortZero(t *testing.T) {
	defer func(was bool) { Implemented.Admin = was }(Implemented.Admin)
	Implemented.Admin = true
	f := newFixture(t)
	writeFile(t, f.mapping, "alice@example.com new\n")
	doc := strings.NewReplacer(`"127.0.0.1:10993"`, `"127.0.0.1:0"`, `"127.0.0.1:10587", "[::1]:10587"`, `"127.0.0.1:0", "[::1]:0"`).Replace(f.expand(baseDoc))
	doc += "[admin]\nbind = \"127.0.0.1:0\"\nbearer_token = \"0123456789abcdef0123456789abcdef\"\n"
	c := mustParse(t, doc)
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if got := c.Listener["imaps"].Bind; len(got) != 1 || got[0] != "127.0.0.1:0" {
		t.Fatalf("imaps bind = %v", got)
	}
}

func TestValidateRules(t *testing.T) {
	f := newFixture(t)
	other1, other2 := writeKeyPair(t, f.dir, "other.example.com")
	shortKey, okKey := filepath.Join(f.dir, "short.key"), filepath.Join(f.dir, "ok.key")
	writeFile(t, shortKey, "0123456789")
	writeFile(t, okKey, strings.Repeat("k", 32))
	cases := []struct {
		name  string
		edit  func(doc string) string
		wants []string // each must appear as one error "key: message"
	}{
		{"default destination missing", sub(`default_destination = "old"`, `default_destination = "nope"`),
			[]string{`routing.default_destination: "nope" is not a declared destination (declared: new, old)`}},
		{"default destination unset", sub(`default_destination = "old"`, ``),
			[]string{`routing.default_destination: is required`}},
		{"default lacks a listener protocol", add("[listener.pop]\nprotocol = \"pop3\"\nbind = [\"127.0.0.1:10110\"]\ntls = \"starttls\"\n"),
			[]string{`listener.pop.protocol: "pop3": the default destination "old" has no [destination.old.protocol.pop3]`}},
		{"bad protocol", sub(`protocol = "submission"`, `protocol = "smtps"`),
			[]string{`listener.submission.protocol: "smtps" is not one of "imap", "pop3", "managesieve", "submission", "smtp", "lmtp" or "http"`}},
		{"http not supported", add("[listener.web]\nprotocol = \"http\"\nbind = [\"127.0.0.1:10443\"]\ntls = \"implicit\"\n"),
			[]string{`listener.web.protocol: "http" is not supported yet`}},
		{"duplicate bind", sub(`"[::1]:10587"`, `"127.0.0.1:10993"`),
			[]string{`listener.submission.bind[1]: "127.0.0.1:10993" is already bound by listener "imaps" ("127.0.0.1:10993")`}},
		{"bind not ip", sub(`"[::1]:10587"`, `"localhost:10587"`),
			[]string{`listener.submission.bind[1]: "localhost:10587": "localhost" is not an IP address`}},
		{"bind port", sub(`"[::1]:10587"`, `"[::1]:70000"`),
			[]string{`listener.submission.bind[1]: "[::1]:70000": port "70000" is not 0-65535`}},
		{"no bind", sub(`bind = ["127.0.0.1:10993"]`, ``),
			[]string{`listener.imaps.bind: at least one "ip:port" address is required`}},
		{"listener tls without certificate", sub("[tls.certificate.default]\ncert = \"CERT\"\nkey = \"KEY\"\n", ""),
			[]string{`listener.imaps.tls: "implicit" needs a certificate`, `listener.submission.tls: "starttls" needs a certificate`}},
		{"bad listener tls", sub(`tls = "implicit"`+"\n\n[listener.submission]", `tls = "ssl"`+"\n\n[listener.submission]"),
			[]string{`listener.imaps.tls: "ssl" is not one of "implicit", "starttls" or "plain"`}},
		{"proxy protocol without trusted", add("[listener.p]\nprotocol = \"imap\"\nbind = [\"127.0.0.1:11143\"]\ntls = \"plain\"\nproxy_protocol = \"required\"\n"),
			[]string{`listener.p.proxy_trusted: is empty, but proxy_protocol = "required" needs the networks allowed to send a PROXY header`}},
		{"bad proxy protocol and cidr", add("[listener.p]\nprotocol = \"imap\"\nbind = [\"127.0.0.1:11143\"]\ntls = \"plain\"\nproxy_protocol = \"on\"\nproxy_trusted = [\"10.0.0.0/33\", \"nope\"]\n"),
			[]string{`listener.p.proxy_protocol: "on" is not one of "off", "optional" or "required"`,
				`listener.p.proxy_trusted[0]: "10.0.0.0/33" is not a CIDR network`,
				`listener.p.proxy_trusted[1]: "nope" is not an IP address or CIDR network`}},
		{"durations", sub(`hostname = "mail.example.com"`, "hostname = \"mail.example.com\"\nbackend_timeout = \"0s\"\nbridge_idle = \"-5m\""),
			[]string{`server.backend_timeout: duration "0s" must be positive`, `server.bridge_idle: duration "-5m" must be positive`}},
		{"ip host tls leg", sub(`tls_server_name = "new.internal"`, ``),
			[]string{`destination.new.protocol.imap.tls: "implicit" to the IP address "10.0.0.2" cannot verify the backend's certificate`}},
		{"ip host pinned is fine", sub(`tls_server_name = "new.internal"`, `tls_pinned_cert_sha256 = "`+strings.Repeat("ab", 32)+`"`), nil},
		{"ip host invalid certs allowed is fine", sub(`tls_server_name = "new.internal"`, `tls_allow_invalid_certs = true`), nil},
		{"bad pin", sub(`tls_server_name = "new.internal"`, "tls_server_name = \"new.internal\"\ntls_pinned_cert_sha256 = \"abcd\""),
			[]string{`destination.new.tls_pinned_cert_sha256: "abcd" is not a SHA-256 fingerprint`}},
		{"plaintext credentials", sub("port = 143\ntls = \"starttls\"", "port = 143\ntls = \"plain\""),
			[]string{`destination.old.protocol.imap.tls: "plain" would send imap credentials in clear`}},
		{"plaintext allowed", chain(sub("port = 143\ntls = \"starttls\"", "port = 143\ntls = \"plain\""),
			sub(`forwarding = "xclient"`, "forwarding = \"xclient\"\nallow_plaintext_auth = true")),
			nil},
		{"ports", sub("port = 993", "port = 0"),
			[]string{`destination.new.protocol.imap.port: is required (1-65535)`}},
		{"port range", sub("port = 993", "port = 99999"),
			[]string{`destination.new.protocol.imap.port: 99999 is not a port number (1-65535)`}},
		{"unknown destination protocol", add("[destination.new.protocol.jmap]\nport = 443\ntls = \"implicit\"\n"),
			[]string{`destination.new.protocol.jmap: "jmap" is not one of`}},
		{"host with port", sub(`host = "old.internal"`, `host = "old.internal:143"`),
			[]string{`destination.old.host: "old.internal:143" must not include a port`}},
		{"forwarding", sub(`forwarding = "xclient"`, `forwarding = "haproxy"`),
			[]string{`destination.old.forwarding: "haproxy" is not one of "proxy", "xclient" or "none"`}},
		{"client cert without key", sub(`forwarding = "xclient"`, "forwarding = \"xclient\"\ntls_client_cert = \"CERT\""),
			[]string{`destination.old.tls_client_key: is required with tls_client_cert`}},
		{"client cert mismatched pair", sub(`forwarding = "xclient"`, "forwarding = \"xclient\"\ntls_client_cert = \"CERT\"\ntls_client_key = \""+other2+"\""),
			[]string{`destination.old.tls_client_cert: cert`}},
		{"ca file missing", sub(`forwarding = "xclient"`, "forwarding = \"xclient\"\ntls_ca_file = \"/nonexistent/ca.pem\""),
			[]string{`destination.old.tls_ca_file: "/nonexistent/ca.pem": no such file or directory`}},
		{"ca file ok", sub(`forwarding = "xclient"`, "forwarding = \"xclient\"\ntls_ca_file = \""+other1+"\""), nil},
		{"cert unreadable", sub(`cert = "CERT"`, `cert = "/nonexistent/cert.pem"`),
			[]string{`tls.certificate.default: cert "/nonexistent/cert.pem" and key`}},
		{"cert and key mismatch", sub(`key = "KEY"`, `key = "`+other2+`"`),
			[]string{`tls.certificate.default: cert`}},
		{"two certificates no default", add("[tls.certificate.other]\ncert = \"" + other1 + "\"\nkey = \"" + other2 + "\"\n"),
			[]string{`tls.certificate: 2 certificates with 0 marked default = true: exactly one must be the default`}},
		{"two certificates one default", add("[tls.certificate.other]\ncert = \"" + other1 + "\"\nkey = \"" + other2 + "\"\ndefault = true\nsubjects = [\"other.example.com\", \"bad name\"]\n"),
			[]string{`tls.certificate.other.subjects[1]: "bad name" is not a host name or wildcard`}},
		{"ticket periods", add("[tls.tickets]\nrotation = \"2h\"\nlifetime = \"1h\"\n"),
			[]string{`tls.tickets.lifetime: 1h is shorter than rotation 2h: a ticket must outlive its key's period`}},
		{"ticket key file missing", add("[tls.tickets]\nkey_file = \"/nonexistent/tickets.key\"\n"),
			[]string{`tls.tickets.key_file: stat /nonexistent/tickets.key: no such file or directory`}},
		{"ticket key file short", add("[tls.tickets]\nkey_file = \"" + shortKey + "\"\n"),
			[]string{`tls.tickets.key_file: ` + shortKey + ` holds 10 bytes; a ticket key file holds at least 32 random bytes`}},
		{"ticket key file ok", add("[tls.tickets]\nkey_file = \"" + okKey + "\"\nrotation = \"30m\"\nlifetime = \"1d\"\n"), nil},
		{"min version", add("[tls.protocols]\nmin_version = \"1.1\"\n"),
			[]string{`tls.protocols.min_version: "1.1" is not "1.2" or "1.3"`}},
		{"cipher suite", add("[tls.protocols]\ndisable_cipher_suites = [\"TLS_FAKE\"]\n"),
			[]string{`tls.protocols.disable_cipher_suites[0]: "TLS_FAKE" is not a known cipher suite`}},
		// The reference takes rustls' names in any case; Go's work too.
		{"cipher suite names", add("[tls.protocols]\ndisable_cipher_suites = [\"tls_ecdhe_rsa_with_aes_128_cbc_sha\", \"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305\", \"TLS_RSA_WITH_RC4_128_SHA\"]\n"), nil},
		{"tls 1.3 suite", add("[tls.protocols]\nmin_version = \"1.3\"\ndisable_cipher_suites = [\"TLS13_CHACHA20_POLY1305_SHA256\", \"TLS_AES_128_GCM_SHA256\"]\n"),
			[]string{`tls.protocols.disable_cipher_suites[0]: "TLS13_CHACHA20_POLY1305_SHA256" is a TLS 1.3 suite: Go's crypto/tls always offers the three TLS 1.3 suites and cannot turn one off`,
				`tls.protocols.disable_cipher_suites[1]: "TLS_AES_128_GCM_SHA256" is a TLS 1.3 suite`}},
		{"client order", add("[tls.protocols]\nignore_client_order = false\n"),
			[]string{`tls.protocols.ignore_client_order: false asks for the client's cipher suite order, which Go's crypto/tls never follows`}},
		{"server order", add("[tls.protocols]\nignore_client_order = true\n"), nil},
		{"max version", add("[tls.protocols]\nmin_version = \"1.3\"\nmax_version = \"1.2\"\n"),
			[]string{`tls.protocols.max_version: "1.2" is below min_version "1.3"`}},
		{"max version value", add("[tls.protocols]\nmax_version = \"1.4\"\n"),
			[]string{`tls.protocols.max_version: "1.4" is not "1.2" or "1.3"`}},
		{"every tls 1.2 suite off", add("[tls.protocols]\ndisable_cipher_suites = [" + allTLS12Suites() + "]\n"),
			[]string{`tls.protocols.disable_cipher_suites: turns off every TLS 1.2 suite`}},
		{"every tls 1.2 suite off with tls 1.3 only", add("[tls.protocols]\nmin_version = \"1.3\"\ndisable_cipher_suites = [" + allTLS12Suites() + "]\n"), nil},
		{"body extract cap", add("[http]\nbody_extract_cap = \"2MiB\"\n"),
			[]string{`http.body_extract_cap: 2097152 is above the maximum of 1048576 (1 MiB)`}},
		{"body extract cap at the maximum", add("[http]\nbody_extract_cap = \"1MiB\"\n"), nil},
		{"mapping source unsupported", sub(`source = "file"`, `source = "redis"`),
			[]string{`mapping.source: "redis" is not supported yet`, `mapping.redis: mapping.source = "redis" needs [mapping.redis]`}},
		{"mapping source unknown", sub(`source = "file"`, `source = "ldap"`),
			[]string{`mapping.source: "ldap" is not one of`}},
		{"mapping sql", sub(`source = "file"`, "source = \"mysql\"\n[mapping.sql]\nurl = \"postgres://u:secret@h/db\""),
			[]string{`mapping.source: "mysql" is not supported yet`, `mapping.sql.url: "postgres://u:xxxxx@h/db" does not fit mapping.source = "mysql"`}},
		{"mapping file missing", sub(`path = "MAPPING"`, `path = "/nonexistent/map.tsv"`),
			[]string{`mapping.file.path: "/nonexistent/map.tsv": no such file or directory`}},
		{"mapping file is a directory", sub(`path = "MAPPING"`, `path = "`+f.dir+`"`),
			[]string{`mapping.file.path: "` + f.dir + `": is not a regular file`}},
		{"normalize", sub(`source = "file"`, "source = \"file\"\nnormalize = \"upper\""),
			[]string{`mapping.normalize: "upper" is not one of "none" or "lowercase"`}},
		{"smtp routing needs the protocol at the default destination", add("[listener.mx]\nprotocol = \"smtp\"\nbind = [\"127.0.0.1:10025\"]\ntls = \"plain\"\nmax_recipients = 0\n"),
			[]string{`listener.mx.protocol: "smtp": the default destination "old" has no [destination.old.protocol.smtp]`,
				`listener.mx.max_recipients: 0 must be at least 1`}},
		{"lmtp has no starttls", add("[listener.lmtp]\nprotocol = \"lmtp\"\nbind = [\"127.0.0.1:10024\"]\ntls = \"starttls\"\nrecipient_routing = false\n"),
			[]string{`listener.lmtp.tls: "starttls" is not possible on a lmtp listener in pass-through mode`,
				`listener.lmtp.recipient_routing: is false, but routing.smtp_passthrough_destination is not set`}},
		{"oauth verify needs keys", add("[oauth]\nverify = true\n"),
			[]string{`oauth.verify: is true, but there is nothing to verify with`}},
		{"oauth jwks url", add("[oauth]\nverify = true\njwks_url = \"http://idp.example/jwks\"\nstalwart_key_file = \"/nonexistent/key\"\n"),
			[]string{`oauth.jwks_url: "http://idp.example/jwks" must be an https:// URL`, `oauth.stalwart_key_file: "/nonexistent/key": no such file or directory`}},
		{"recipient routing is smtp only", add("[listener.x]\nprotocol = \"imap\"\nbind = [\"127.0.0.1:10143\"]\ntls = \"plain\"\nrecipient_routing = true\n"),
			[]string{`listener.x.recipient_routing: only applies to smtp and lmtp listeners, not imap`}},
		{"passthrough lacks smtp", chain(sub(`default_destination = "old"`, "default_destination = \"old\"\nsmtp_passthrough_destination = \"new\""),
			add("[listener.mx]\nprotocol = \"smtp\"\nbind = [\"127.0.0.1:10025\"]\ntls = \"plain\"\n")),
			[]string{`routing.smtp_passthrough_destination: "new" has no [destination.new.protocol.smtp], but a smtp listener passes through to it`}},
		{"sasl", add("[capabilities.imap]\nsasl = [\"PLAIN\", \"CRAM-MD5\"]\n"),
			[]string{`capabilities.imap.sasl[1]: "CRAM-MD5" cannot be proxied`}},
		{"banner", add("[capabilities.pop3]\nbanner = \"a\\r\\nb\"\n"),
			[]string{`capabilities.pop3.banner: "a\r\nb" must be a single line`}},
		{"log level", sub(`hostname = "mail.example.com"`, "log_level = \"loud\""),
			[]string{`server.log_level: "loud" is not one of`}},
		{"hostname", sub(`hostname = "mail.example.com"`, `hostname = "mail example"`),
			[]string{`server.hostname: "mail example" is not a valid host name`}},
		{"http route", add("[[http.route]]\nmatch = \"/a[\"\ndestination = \"old\"\n[[http.route]]\nmatch = \"/b\"\nextract = { from = \"query\" }\nfallback = \"gone\"\n[[http.route]]\nmatch = \"/c\"\n"),
			[]string{`http.route[0].match: "/a[": unclosed '['`,
				`http.route[0].destination: "old" has no [destination.old.protocol.http]`,
				`http.route[1].extract.param: is required with from = "query"`,
				`http.route[1].fallback: "gone" is not a declared destination`,
				`http.route[2]: needs destination (pin the path) or extract (route by account)`}},
		{"admin", add("[admin]\nbind = \"127.0.0.1:10993\"\ntls = \"plain\"\nbearer_token = \"short\"\n"),
			[]string{`admin: the management API is not supported yet`,
				`admin.bind: "127.0.0.1:10993" is already bound by listener "imaps"`,
				`admin.tls: "plain": the management API is served over TLS only`,
				`admin.bearer_token: is 5 characters long, below min_token_len 32`}},
		{"admin token file", add("[admin]\nbind = \"127.0.0.1:9443\"\nbearer_token_file = \"TOKEN\"\n"),
			[]string{`admin: the management API is not supported yet`}},
		{"viewer token", add("[admin]\nbind = \"127.0.0.1:9443\"\nbearer_token_file = \"TOKEN\"\nviewer_token = \"short\"\n"),
			[]string{`admin: the management API is not supported yet`,
				`admin.viewer_token: holds a token of 5 characters, below 32`}},
		{"viewer token is the admin token", add("[admin]\nbind = \"127.0.0.1:9443\"\nbearer_token = \"" + strings.Repeat("t", 40) + "\"\nviewer_token = \"" + strings.Repeat("t", 40) + "\"\n"),
			[]string{`admin: the management API is not supported yet`,
				`admin.viewer_token: is the admin token`}},
		{"viewer token twice", add("[admin]\nbind = \"127.0.0.1:9443\"\nbearer_token_file = \"TOKEN\"\nviewer_token = \"" + strings.Repeat("v", 40) + "\"\nviewer_token_file = \"/nonexistent\"\n"),
			[]string{`admin: the management API is not supported yet`,
				`admin.viewer_token: is set both inline and in admin.viewer_token_file`}},
		{"viewer token file", add("[admin]\nbind = \"127.0.0.1:9443\"\nbearer_token = \"" + strings.Repeat("t", 40) + "\"\nviewer_token_file = \"TOKEN\"\n"),
			[]string{`admin: the management API is not supported yet`}},
		{"metrics", add("[metrics]\nbind = \"127.0.0.1:10993\"\ntls = \"starttls\"\ntoken = \"short\"\n"),
			[]string{`metrics.bind: "127.0.0.1:10993" is already bound by listener "imaps"`,
				`metrics.tls: "starttls": use "plain" or "implicit"`,
				`metrics.token: holds a token of 5 characters, below 16`}},
		{"metrics on the admin address", add("[admin]\nbind = \"127.0.0.1:9443\"\nbearer_token_file = \"TOKEN\"\n[metrics]\nbind = \"127.0.0.1:9443\"\n"),
			[]string{`admin: the management API is not supported yet`, `metrics.bind: "127.0.0.1:9443" is already admin.bind`}},
		{"metrics needs bind", add("[metrics]\ntoken_file = \"/nonexistent\"\n"),
			[]string{`metrics.bind: is required`, `metrics.token_file: "/nonexistent": no such file or directory`}},
		{"metrics tls", add("[metrics]\nbind = \"127.0.0.1:0\"\ntls = \"implicit\"\ntoken_file = \"TOKEN\"\n"), nil},
		{"cluster", add("[cluster]\nnodes = [\"old\", \"gone\", \"old\"]\n[cluster.weights]\nold = 0\nzzz = 2\n"),
			[]string{`cluster.nodes[1]: "gone" is not a declared destination`,
				`cluster.nodes[2]: "old" is listed twice`,
				`cluster.weights.old: 0 must be between 1 and 1000`,
				`cluster.weights.zzz: "zzz" is not in cluster.nodes`}},
		{"cluster node lacks protocol", add("[cluster]\nnodes = [\"old\", \"new\"]\n"),
			[]string{`listener.submission.protocol: "submission": cluster node "new" has no [destination.new.protocol.submission]`}},
		{"empty cluster", add("[cluster]\n"),
			[]string{`cluster.nodes: must list at least one destination`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, f.expand(tc.edit(baseDoc)))
			errs := fieldErrors(t, c.Validate())
			var got []string
			for _, e := range errs {
				got = append(got, e.Key+": "+e.Msg)
			}
			if len(tc.wants) == 0 && len(got) > 0 {
				t.Fatalf("unexpected errors:\n%s", strings.Join(got, "\n"))
			}
			for _, w := range tc.wants {
				found := false
				for _, g := range got {
					if strings.HasPrefix(g, w) {
						found = true
					}
				}
				if !found {
					t.Errorf("missing %q in:\n%s", w, strings.Join(got, "\n"))
				}
			}
			if len(got) != len(tc.wants) {
				t.Errorf("got %d errors, want %d:\n%s", len(got), len(tc.wants), strings.Join(got, "\n"))
			}
		})
	}
}

// sub returns an edit replacing old by new exactly once.
func sub(old, new string) func(string) string {
	return func(doc string) string {
		if strings.Count(doc, old) != 1 {
			panic("sub: " + old + " does not occur once")
		}
		return strings.Replace(doc, old, new, 1)
	}
}

// chain applies edits in order.
func chain(edits ...func(string) string) func(string) string {
	return func(doc string) string {
		for _, e := range edits {
			doc = e(doc)
		}
		return doc
	}
}

// add returns an edit appending text.
func add(text string) func(string) string {
	return func(doc string) string { return doc + "\n" + text }
}

func TestValidateCollectsAllSortedWithLines(t *testing.T) {
	f := newFixture(t)
	doc := f.expand(baseDoc) + `
[listener.zz]
protocol = "imap"
bind = ["127.0.0.1:10993"]
tls = "bogus"
max_auth_attempts = 0

[destination.aa]
host = ""
`
	c := mustParse(t, doc)
	err := c.Validate()
	errs := fieldErrors(t, err)
	if len(errs) < 5 {
		t.Fatalf("want every problem reported, got %v", err)
	}
	keys := make([]string, len(errs))
	for i, e := range errs {
		keys[i] = e.Key
	}
	if !sort.StringsAreSorted(keys) {
		t.Fatalf("errors not sorted by key: %v", keys)
	}
	// Lines point at the offending key, or its table when the key is absent.
	lines := strings.Split(doc, "\n")
	lineOf := func(prefix string) int {
		for i, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return i + 1
			}
		}
		t.Fatalf("no line %q", prefix)
		return 0
	}
	want := map[string]int{
		"listener.zz.tls":               lineOf(`tls = "bogus"`),
		"listener.zz.max_auth_attempts": lineOf(`max_auth_attempts = 0`),
		"destination.aa.host":           lineOf(`host = ""`),
		"destination.aa.protocol":       lineOf(`[destination.aa]`),
	}
	for _, e := range errs {
		if l, ok := want[e.Key]; ok {
			if wantLoc := "test.toml:" + strconv.Itoa(l) + ": "; e.Location != wantLoc {
				t.Errorf("%s at %q, want %q", e.Key, e.Location, wantLoc)
			}
			delete(want, e.Key)
		}
	}
	if len(want) > 0 {
		t.Errorf("no error for %v in %v", want, err)
	}
	if !strings.Contains(err.Error(), "\n") {
		t.Errorf("joined error should hold one problem a line: %q", err.Error())
	}
}

func TestLoad(t *testing.T) {
	f := newFixture(t)
	path := filepath.Join(f.dir, "switchyard.toml")
	writeFile(t, path, f.expand(baseDoc)+"\n[oauth]\nbogus = 1\n")
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path+":") || !strings.Contains(err.Error(), "oauth.bogus: unknown key") {
		t.Fatalf("Load = %v", err)
	}
	_, err = Load(filepath.Join(f.dir, "missing.toml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(missing) = %v", err)
	}
}

func TestKeyPathQuotesOddIDs(t *testing.T) {
	c := mustParse(t, "[listener.\"my imap\"]\nprotocol = \"imap\"\nbind = [\"127.0.0.1:1\"]\ntls = \"plain\"\n[routing]\ndefault_destination = \"d\"\n[destination.d]\nhost = \"h\"\n[destination.d.protocol.pop3]\nport = 995\ntls = \"implicit\"\n")
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), `test.toml:2: listener."my imap".protocol: "imap": the default destination "d" has no [destination.d.protocol.imap]`) {
		t.Fatalf("Validate = %v", err)
	}
}

func TestMappingFileDestinationsChecked(t *testing.T) {
	f := newFixture(t)
	writeFile(t, f.mapping, "# comment\n\nalice@example.com new\nbob@example.com nwe\ncarol@example.com\n")
	c := mustParse(t, f.expand(baseDoc))
	var got []string
	for _, e := range fieldErrors(t, c.Validate()) {
		got = append(got, e.Key+": "+e.Msg)
	}
	want := []string{
		`mapping.file.path: "` + f.mapping + `" line 4: "bob@example.com" maps to "nwe", which is not a declared destination`,
		`mapping.file.path: "` + f.mapping + `" line 5: "carol@example.com" has no destination`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
