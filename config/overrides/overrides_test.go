package overrides

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/config/internal/configtest"
)

func newFlags(t *testing.T, args ...string) *Overrides {
	t.Helper()
	fs := pflag.NewFlagSet("switchyard", pflag.ContinueOnError)
	o := RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("flags %v: %v", args, err)
	}
	return o
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// A simple deployment starts from flags alone, with no file.
func TestFlagsAloneMakeAValidConfig(t *testing.T) {
	f := configtest.New(t)
	o := newFlags(t,
		"--hostname", "mail.example.com",
		"--listen", "imaps=imap:implicit@127.0.0.1:10993",
		"--listen", "imaps=imap:implicit@[::1]:10993",
		"--listen", "submission:starttls@127.0.0.1:10587",
		"--destination", "be=backend.internal",
		"--destination-port", "be:imap=993/implicit,be:submission=587/starttls",
		"--default-destination", "be",
		"--mapping-file", f.Mapping,
		"--tls-cert", f.Cert, "--tls-key", f.Key,
		"--preauth-timeout", "20s",
		"--max-connections", "500",
		"--set", "destination.be.forwarding=xclient",
	)
	c := config.Default()
	if err := o.Apply(c, env(nil)); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	l := c.Listener["imaps"]
	if l.Protocol != config.IMAP || l.TLS != config.TLSImplicit || !reflect.DeepEqual(l.Bind, []string{"127.0.0.1:10993", "[::1]:10993"}) ||
		l.PreauthTimeout.D() != 20*time.Second || l.MaxConnections != 500 || l.MaxAuthAttempts != config.DefaultMaxAuthAttempts {
		t.Errorf("listener imaps = %+v", l)
	}
	if s, ok := c.Listener["submission-starttls"]; !ok || s.Protocol != config.Submission || s.TLS != config.TLSStartTLS {
		t.Errorf("listener without ID: %+v (all: %v)", s, c.Listener)
	}
	d := c.Destination["be"]
	if d.Host != "backend.internal" || d.Protocol[config.IMAP] != (config.Endpoint{Port: 993, TLS: config.TLSImplicit}) ||
		d.Protocol[config.Submission].TLS != config.TLSStartTLS || d.Forwarding != config.ForwardXCLIENT || !d.ProxyProtocol {
		t.Errorf("destination be = %+v", d)
	}
	if cert := c.TLS.Certificate["default"]; cert.Cert != f.Cert || !cert.Default {
		t.Errorf("certificate = %+v", cert)
	}
	if c.Mapping.Source != config.SourceFile || c.Mapping.File.Path != f.Mapping {
		t.Errorf("mapping = %+v", c.Mapping)
	}
}

// flag > env > file > default, key by key.
func TestPrecedence(t *testing.T) {
	f := configtest.New(t)
	file := strings.Replace(f.Expand(configtest.BaseDoc), `hostname = "mail.example.com"`, "hostname = \"file.example.com\"\nlog_level = \"warn\"\nbackend_timeout = \"3s\"", 1)

	c := mustParse(t, file)
	if c.Server.Hostname != "file.example.com" || c.Server.LogLevel != "warn" || c.Server.ShutdownGrace != config.DefaultShutdownGrace {
		t.Fatalf("file values: %+v", c.Server)
	}
	o := newFlags(t, "--hostname", "flag.example.com")
	e := env(map[string]string{
		"SWITCHYARD_HOSTNAME":        "env.example.com",
		"SWITCHYARD_LOG_LEVEL":       "debug",
		"SWITCHYARD_PREAUTH_TIMEOUT": "45s",
	})
	if err := o.Apply(c, e); err != nil {
		t.Fatal(err)
	}
	if c.Server.Hostname != "flag.example.com" {
		t.Errorf("hostname = %q: the flag must win over env and file", c.Server.Hostname)
	}
	if c.Server.LogLevel != "debug" {
		t.Errorf("log_level = %q: env must win over the file", c.Server.LogLevel)
	}
	if c.Server.BackendTimeout.D() != 3*time.Second {
		t.Errorf("backend_timeout = %v: the file must win over the default", c.Server.BackendTimeout)
	}
	if c.Server.ShutdownGrace != config.DefaultShutdownGrace {
		t.Errorf("shutdown_grace = %v, want default", c.Server.ShutdownGrace)
	}
	for id, l := range c.Listener {
		if l.PreauthTimeout.D() != 45*time.Second {
			t.Errorf("listener %s preauth_timeout = %v, want env's 45s", id, l.PreauthTimeout)
		}
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestOriginInValidateErrors(t *testing.T) {
	f := configtest.New(t)
	c := mustParse(t, f.Expand(configtest.BaseDoc))
	o := newFlags(t, "--default-destination", "ghost")
	if err := o.Apply(c, env(map[string]string{"SWITCHYARD_MAX_CONNECTIONS": "0"})); err != nil {
		t.Fatal(err)
	}
	err := c.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	msg := err.Error()
	for _, want := range []string{
		`flag --default-destination: routing.default_destination: "ghost" is not a declared destination`,
		`env SWITCHYARD_MAX_CONNECTIONS: listener.imaps.max_connections: 0 must be at least 1`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

func TestEnvLists(t *testing.T) {
	c := config.Default()
	o := newFlags(t)
	e := env(map[string]string{
		"SWITCHYARD_LISTEN":           "a=imap:plain@127.0.0.1:1143, a=imap:plain@127.0.0.2:1143",
		"SWITCHYARD_DESTINATION":      "x=10.0.0.1,y=10.0.0.2",
		"SWITCHYARD_DESTINATION_PORT": "x:imap=143/starttls",
		"SWITCHYARD_PROXY_TRUSTED":    "10.0.0.0/8,192.0.2.1",
		"SWITCHYARD_PROXY_PROTOCOL":   "optional",
		"SWITCHYARD_SET":              "server.threads=2\ndestination.x.tls_server_name = x.example.com\ncapabilities.imap.sasl=[\"PLAIN\"]",
	})
	if err := o.Apply(c, e); err != nil {
		t.Fatal(err)
	}
	a := c.Listener["a"]
	if !reflect.DeepEqual(a.Bind, []string{"127.0.0.1:1143", "127.0.0.2:1143"}) ||
		!reflect.DeepEqual(a.ProxyTrusted, []string{"10.0.0.0/8", "192.0.2.1"}) || a.ProxyProtocol != config.ProxyOptional {
		t.Errorf("listener a = %+v", a)
	}
	if c.Destination["x"].Host != "10.0.0.1" || c.Destination["y"].Host != "10.0.0.2" ||
		c.Destination["x"].Protocol[config.IMAP].Port != 143 || c.Destination["x"].TLSServerName != "x.example.com" {
		t.Errorf("destinations = %+v", c.Destination)
	}
	if c.Server.Threads != 2 || !reflect.DeepEqual(c.Capabilities.IMAP.SASL, []string{"PLAIN"}) {
		t.Errorf("--set: threads %d sasl %v", c.Server.Threads, c.Capabilities.IMAP.SASL)
	}
}

func TestListenReplacesFileListenerByID(t *testing.T) {
	f := configtest.New(t)
	c := mustParse(t, f.Expand(configtest.BaseDoc))
	before := c.Listener["imaps"]
	before.MaxAuthAttempts = 9
	c.Listener["imaps"] = before
	o := newFlags(t, "--listen", "imaps=imap:implicit@0.0.0.0:993")
	if err := o.Apply(c, nil); err != nil {
		t.Fatal(err)
	}
	l := c.Listener["imaps"]
	if !reflect.DeepEqual(l.Bind, []string{"0.0.0.0:993"}) || l.MaxAuthAttempts != 9 {
		t.Fatalf("listener = %+v: bind replaced, other settings kept", l)
	}
	if _, ok := c.Listener["submission"]; !ok {
		t.Fatal("other file listeners must stay")
	}
}

func TestFlagErrors(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want []string
	}{
		{[]string{"--listen", "imap@nowhere"}, nil, []string{`flag --listen: "imap@nowhere": "nowhere" is not an "ip:port" address`}},
		{[]string{"--listen", "imap:tls@127.0.0.1:1"}, nil, []string{`flag --listen: "imap:tls@127.0.0.1:1": tls "tls" is not one of`}},
		{[]string{"--listen", "jmap@127.0.0.1:1"}, nil, []string{`flag --listen: "jmap@127.0.0.1:1": protocol "jmap" is not one of`}},
		{[]string{"--listen", "127.0.0.1:143"}, nil, []string{`is not [ID=]PROTO[:TLS]@IP:PORT`}},
		{[]string{"--listen", "a=imap@127.0.0.1:1", "--listen", "a=pop3@127.0.0.1:2"}, nil, []string{`listener "a" was already given as imap:plain`}},
		{[]string{"--destination", "noequals"}, nil, []string{`flag --destination: "noequals" is not NAME=HOST`}},
		{[]string{"--destination-port", "x:imap=0"}, nil, []string{`port "0" is not 1-65535`}},
		{[]string{"--destination-port", "x=1"}, nil, []string{`is not NAME:PROTO=PORT[/TLS]`}},
		{[]string{"--destination-port", "x:imap=1/ssl"}, nil, []string{`tls "ssl" is not one of`}},
		{[]string{"--tls-cert", "/c.pem"}, nil, []string{`flag --tls-cert: needs --tls-key (or $SWITCHYARD_TLS_KEY) too`}},
		{nil, map[string]string{"SWITCHYARD_TLS_KEY": "/k.pem"}, []string{`env SWITCHYARD_TLS_KEY: needs --tls-cert`}},
		{[]string{"--backend-timeout", "10"}, nil, []string{`flag --backend-timeout: invalid duration "10": missing unit`}},
		{nil, map[string]string{"SWITCHYARD_MAX_CONNECTIONS": "many"}, []string{`env SWITCHYARD_MAX_CONNECTIONS: "many" is not a whole number`}},
		{[]string{"--proxy-trusted", "10.0.0.0/99"}, nil, []string{`flag --proxy-trusted: "10.0.0.0/99" is not a CIDR network`}},
		{[]string{"--proxy-protocol", "v2"}, nil, []string{`flag --proxy-protocol: "v2" is not one of`}},
		{[]string{"--set", "server.nope=1"}, nil, []string{`flag --set: "server.nope=1": unknown key server.nope`}},
		{[]string{"--set", "server.threads=many"}, nil, []string{`flag --set: "server.threads=many": `}},
		{[]string{"--set", "novalue"}, nil, []string{`flag --set: "novalue" is not KEY=VALUE`}},
		{[]string{"--set", "server.shutdown_grace=5"}, nil, []string{`flag --set: "server.shutdown_grace=5": `}},
	}
	for _, tc := range cases {
		o := newFlags(t, tc.args...)
		err := o.Apply(config.Default(), env(tc.env))
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v %v: Apply = %v, want %q", tc.args, tc.env, err, w)
			}
		}
	}
}

func TestSetCreatesWithDefaultsAndQuotes(t *testing.T) {
	c := config.Default()
	o := newFlags(t,
		"--set", "listener.web.protocol=imap",
		"--set", `server.hostname=a"b`,
		"--set", "destination.n.host=h",
		"--set", "routing.master_user_separators=[\"*\",\"%\"]",
		"--set", "server.shutdown_grace=1m",
	)
	if err := o.Apply(c, nil); err != nil {
		t.Fatal(err)
	}
	if l := c.Listener["web"]; l.Protocol != config.IMAP || l.MaxConnections != config.DefaultMaxConnections {
		t.Errorf("listener created by --set lacks defaults: %+v", l)
	}
	if c.Server.Hostname != `a"b` {
		t.Errorf("hostname = %q", c.Server.Hostname)
	}
	if !c.Destination["n"].ProxyProtocol || c.Destination["n"].Host != "h" {
		t.Errorf("destination = %+v", c.Destination["n"])
	}
	if !reflect.DeepEqual(c.Routing.MasterUserSeparators, []string{"*", "%"}) || c.Server.ShutdownGrace.D() != time.Minute {
		t.Errorf("routing %v grace %v", c.Routing.MasterUserSeparators, c.Server.ShutdownGrace)
	}
}

func TestAdminTokenFromEnv(t *testing.T) {
	c := mustParse(t, "[admin]\nbind = \"127.0.0.1:9443\"\n")
	if err := newFlags(t).Apply(c, env(map[string]string{"PROXY_ADMIN_TOKEN": " tok \n"})); err != nil {
		t.Fatal(err)
	}
	if c.Admin.BearerToken != "tok" {
		t.Fatalf("token = %q", c.Admin.BearerToken)
	}
	if err := newFlags(t).Apply(c, env(map[string]string{"SWITCHYARD_ADMIN_TOKEN": "mine", "PROXY_ADMIN_TOKEN": "theirs"})); err != nil {
		t.Fatal(err)
	}
	if c.Admin.BearerToken != "mine" {
		t.Fatalf("token = %q, want SWITCHYARD_ADMIN_TOKEN first", c.Admin.BearerToken)
	}
	v := mustParse(t, "[admin]\nbind = \"127.0.0.1:9443\"\nviewer_token_file = \"/etc/viewer\"\n")
	if err := newFlags(t).Apply(v, env(map[string]string{"SWITCHYARD_ADMIN_VIEWER_TOKEN": " view \n"})); err != nil {
		t.Fatal(err)
	}
	if v.Admin.ViewerToken != "view" || v.Admin.ViewerTokenFile != "" {
		t.Fatalf("viewer token = %q, file %q", v.Admin.ViewerToken, v.Admin.ViewerTokenFile)
	}
	d := config.Default()
	if err := newFlags(t).Apply(d, env(map[string]string{"SWITCHYARD_ADMIN_TOKEN": "x", "SWITCHYARD_ADMIN_VIEWER_TOKEN": "y"})); err != nil || d.Admin != nil {
		t.Fatalf("no [admin]: the token must not create it (%v, %+v)", err, d.Admin)
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("destination-port"); got != "SWITCHYARD_DESTINATION_PORT" {
		t.Fatal(got)
	}
}

// TestSetNeverEchoesPasswords: a --set of a store URL that fails is
// quoted with its password masked (the file's side is in config).
func TestSetNeverEchoesPasswords(t *testing.T) {
	const pw = "s3cret-pw"
	for _, set := range []string{
		"mapping.redis.uurl=redis://:" + pw + "@h",      // unknown key
		"mapping.redis.url=[\"redis://:" + pw + "@h\"]", // wrong type
	} {
		err := newFlags(t, "--set", set).Apply(config.Default(), env(nil))
		if err == nil {
			t.Fatalf("--set %s: no error", set)
		}
		if strings.Contains(err.Error(), pw) {
			t.Fatalf("--set: the password is in the error:\n%v", err)
		}
	}
}

func TestShownAssignment(t *testing.T) {
	for _, tc := range []struct{ key, v, want string }{
		{"mapping.redis.url", "mapping.redis.url=redis://:pw@h", "mapping.redis.url=redis://:xxxxx@h"},
		{"admin.bearer_token", "admin.bearer_token=abc", "admin.bearer_token=xxxxx"},
		{"server.threads", "server.threads=many", "server.threads=many"},
	} {
		if got := shownAssignment(tc.key, tc.v); got != tc.want {
			t.Errorf("shownAssignment(%q) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// The token in force is the environment's, then the file's, then the
// inline one: with $PROXY_ADMIN_TOKEN set, the file is not used (and not
// checked), so the token from the environment is the one that works.
func TestAdminTokenPrecedence(t *testing.T) {
	defer func(was bool) { config.Implemented.Admin = was }(config.Implemented.Admin)
	config.Implemented.Admin = true
	f := configtest.New(t)
	configtest.WriteFile(t, f.Token, "short\n") // would be refused if it were used
	doc := f.Expand(configtest.BaseDoc) + f.Expand("[admin]\nbind = \"127.0.0.1:0\"\nbearer_token_file = \"TOKEN\"\nbearer_token = \"inline-token-inline-token-inline-token\"\n")
	c := mustParse(t, doc)
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "admin.bearer_token_file") {
		t.Fatalf("file over inline: want the file checked (and refused), got %v", err)
	}
	c = mustParse(t, doc)
	env := map[string]string{"PROXY_ADMIN_TOKEN": strings.Repeat("e", 40)}
	if err := (&Overrides{}).Apply(c, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("with the token in the environment: %v", err)
	}
	if c.Admin.BearerToken != strings.Repeat("e", 40) || c.Admin.BearerTokenFile != "" {
		t.Errorf("token = %q, file = %q", c.Admin.BearerToken, c.Admin.BearerTokenFile)
	}
}

// As the reference proxy: the management API alone is a valid file (what
// switchyard init writes); a file with neither a listener nor [admin]
// serves nothing and is refused; a listener needs a default destination.

// TestREADMEDocumentsEveryFlag: config/README.md documents every flag
// and its variable.
func TestREADMEDocumentsEveryFlag(t *testing.T) {
	readme := string(configtest.ReadFile(t, "../README.md"))
	for _, flag := range []string{"hostname", "log-level", "listen", "destination", "destination-port", "default-destination",
		"mapping-file", "tls-cert", "tls-key", "proxy-trusted", "proxy-protocol", "backend-timeout", "preauth-timeout",
		"max-connections", "set"} {
		documented := strings.Contains(readme, "`--"+flag+"`") || strings.Contains(readme, "`--"+flag+" ")
		if !documented || !strings.Contains(readme, "`"+EnvName(flag)+"`") {
			t.Errorf("README.md does not document --%s and $%s", flag, EnvName(flag))
		}
	}
}

// mustParse parses doc as a file named test.toml, failing the test on error.
func mustParse(t testing.TB, doc string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(doc), "test.toml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}
