//go:build linux

package harness

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SwitchyardConfig is what the tests vary in switchyard's configuration.
// TOML renders it; keep every knowledge of the file's schema in that one
// function.
type SwitchyardConfig struct {
	Hostname       string // default "mail.test"
	BackendTimeout string // default "10s"
	// HostDownCooldown is how long a destination that failed is skipped
	// (default "1s", so that a restarted backend is used again quickly).
	HostDownCooldown string
	ShutdownGrace    string // default "2s"
	LogLevel         string // default "debug"
	Cert             *Cert  // the default certificate; needed by TLS listeners
	Listeners        []SYListener
	Destinations     []SYDestination
	// DefaultDestination receives every account the mapping does not name.
	DefaultDestination string
	// SMTPPassthroughDestination is routing.smtp_passthrough_destination:
	// smtp and lmtp listeners that do not set RecipientRouting bridge every
	// connection whole to it.
	SMTPPassthroughDestination string
	MappingFile                string // "identifier destination" lines
	PositiveTTL                string // default "1s"
	NegativeTTL                string // default "1s"
	// AllowPlainAuthWithoutTLS lets IMAP clients log in on plaintext
	// listeners (the tests' plain listener needs it).
	AllowPlainAuthWithoutTLS bool
	// IMAPSASL, when not nil, lists the SASL mechanisms IMAP listeners
	// offer (switchyard's default leaves out LOGIN).
	IMAPSASL []string
	// HTTPRoutes are the [[http.route]] tables, in order (first match
	// wins).
	HTTPRoutes []SYHTTPRoute
	// JWTUsernameClaim is oauth.jwt_username_claim ("" = switchyard's
	// default, "email").
	JWTUsernameClaim string
	// OAuthVerify turns on edge verification of bearer tokens against
	// JWKSFile (oauth.verify, oauth.jwks_file).
	OAuthVerify bool
	JWKSFile    string
	// Extra is appended verbatim.
	Extra string
}

// SYHTTPRoute is one [[http.route]]: a path glob, then either a pinned
// Destination or an Extract that finds the account, and the Fallback
// ("default" or a destination id) for requests that name none.
type SYHTTPRoute struct {
	Match       string
	Destination string
	Extract     *SYHTTPExtract
	Fallback    string
}

// SYHTTPExtract is a route's [http.route.extract] table.
type SYHTTPExtract struct {
	From   string // authorization, query, header, body
	Param  string // from = "query"
	Header string // from = "header"
	Regex  string // one capture group: the account (required for body)
}

// AnyPort is a listener's default bind address: the kernel picks the
// port and switchyard reports it in its ready file (Switchyard.Addr).
const AnyPort = "127.0.0.1:0"

// SYListener is one [listener.<ID>] table.
type SYListener struct {
	ID             string
	Protocol       string   // imap, pop3, managesieve, submission, smtp, lmtp, http
	Bind           []string // host:port; nil: [AnyPort]
	TLS            string   // plain, starttls, implicit
	ProxyProtocol  string   // "", "off", "optional", "required"
	ProxyTrusted   []string // CIDRs
	PreauthTimeout string   // "" = switchyard's default
	MaxConnections int      // 0 = switchyard's default
	// MaxConnectionsPerIP is max_connections_per_ip (0 = switchyard's
	// default; every test client comes from loopback).
	MaxConnectionsPerIP int
	// Forwarded (http listeners): "off" drops the client's Forwarded and
	// X-Forwarded-* fields, "trust" keeps and appends to them ("" =
	// switchyard's default, off).
	Forwarded string

	// smtp and lmtp listeners only; zero values leave switchyard's default.

	// RecipientRouting: the proxy speaks the envelope and routes each RCPT
	// TO through the mapping (true), or bridges the connection whole to
	// SMTPPassthroughDestination (false). nil: switchyard's default (true
	// unless a passthrough destination is set).
	RecipientRouting    *bool
	MaxRecipients       int    // per transaction
	MaxMessageSize      string // a size, "10MiB"
	CommandTimeout      string // a duration
	BackendReplyTimeout string // a duration
}

// SYDestination is one [destination.<ID>] table and its protocol tables.
type SYDestination struct {
	ID                 string
	Host               string
	Forwarding         string // xclient (IMAP ID / XCLIENT), proxy (PROXY v2), none
	AllowPlaintextAuth bool
	// Forwarded adds Forwarded, X-Forwarded-For and X-Forwarded-Proto to
	// HTTP requests sent to this destination.
	Forwarded bool
	Endpoints []SYEndpoint
}

// SYEndpoint is one [destination.<ID>.protocol.<Protocol>] table.
type SYEndpoint struct {
	Protocol string
	Port     int
	TLS      string // plain, starttls, implicit
	// Forwarding overrides the destination's for this protocol: xclient,
	// proxy, none ("" = the destination's).
	Forwarding string
}

func tomlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

func tomlStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = tomlString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// TOML renders the configuration file. This is the only place that knows
// the schema (config/config.go).
func (c SwitchyardConfig) TOML() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	// opt writes key = "v" unless v is empty (the key left at its default).
	opt := func(key, v string) {
		if v != "" {
			w("%s = %s\n", key, tomlString(v))
		}
	}
	posInt := func(key string, v int) {
		if v > 0 {
			w("%s = %d\n", key, v)
		}
	}
	w("# Generated by switchyard's e2e harness.\n\n[server]\n")
	w("hostname = %s\n", tomlString(cmp.Or(c.Hostname, "mail.test")))
	w("backend_timeout = %s\n", tomlString(cmp.Or(c.BackendTimeout, "10s")))
	w("host_down_cooldown = %s\n", tomlString(cmp.Or(c.HostDownCooldown, "1s")))
	w("shutdown_grace = %s\n", tomlString(cmp.Or(c.ShutdownGrace, "2s")))
	w("log_level = %s\n", tomlString(cmp.Or(c.LogLevel, "debug")))
	if c.Cert != nil {
		w("\n[tls.certificate.main]\ncert = %s\nkey = %s\ndefault = true\n", tomlString(c.Cert.CertFile), tomlString(c.Cert.KeyFile))
	}
	for _, l := range c.Listeners {
		bind := l.Bind
		if len(bind) == 0 {
			bind = []string{AnyPort}
		}
		w("\n[listener.%s]\nprotocol = %s\nbind = %s\ntls = %s\n", l.ID, tomlString(l.Protocol), tomlStrings(bind), tomlString(cmp.Or(l.TLS, "plain")))
		opt("proxy_protocol", l.ProxyProtocol)
		if len(l.ProxyTrusted) > 0 {
			w("proxy_trusted = %s\n", tomlStrings(l.ProxyTrusted))
		}
		opt("preauth_timeout", l.PreauthTimeout)
		posInt("max_connections", l.MaxConnections)
		posInt("max_connections_per_ip", l.MaxConnectionsPerIP)
		opt("forwarded", l.Forwarded)
		if l.RecipientRouting != nil {
			w("recipient_routing = %t\n", *l.RecipientRouting)
		}
		posInt("max_recipients", l.MaxRecipients)
		opt("max_message_size", l.MaxMessageSize)
		opt("command_timeout", l.CommandTimeout)
		opt("backend_reply_timeout", l.BackendReplyTimeout)
	}
	for _, d := range c.Destinations {
		w("\n[destination.%s]\nhost = %s\nforwarding = %s\nallow_plaintext_auth = %t\n", d.ID, tomlString(d.Host), tomlString(cmp.Or(d.Forwarding, "none")), d.AllowPlaintextAuth)
		if d.Forwarded {
			w("forwarded = true\n")
		}
		for _, e := range d.Endpoints {
			w("\n[destination.%s.protocol.%s]\nport = %d\ntls = %s\n", d.ID, e.Protocol, e.Port, tomlString(cmp.Or(e.TLS, "plain")))
			opt("forwarding", e.Forwarding)
		}
	}
	w("\n[routing]\ndefault_destination = %s\n", tomlString(c.DefaultDestination))
	opt("smtp_passthrough_destination", c.SMTPPassthroughDestination)
	if c.MappingFile != "" {
		w("\n[mapping]\nsource = \"file\"\nnormalize = \"lowercase\"\npositive_ttl = %s\nnegative_ttl = %s\n",
			tomlString(cmp.Or(c.PositiveTTL, "1s")), tomlString(cmp.Or(c.NegativeTTL, "1s")))
		w("\n[mapping.file]\npath = %s\n", tomlString(c.MappingFile))
	}
	if c.AllowPlainAuthWithoutTLS || c.IMAPSASL != nil {
		w("\n[capabilities.imap]\n")
		if c.AllowPlainAuthWithoutTLS {
			w("allow_plain_auth_without_tls = true\n")
		}
		if c.IMAPSASL != nil {
			w("sasl = %s\n", tomlStrings(c.IMAPSASL))
		}
	}
	if c.JWTUsernameClaim != "" || c.OAuthVerify {
		w("\n[oauth]\n")
		opt("jwt_username_claim", c.JWTUsernameClaim)
		if c.OAuthVerify {
			w("verify = true\njwks_file = %s\n", tomlString(c.JWKSFile))
		}
	}
	for _, r := range c.HTTPRoutes {
		w("\n[[http.route]]\nmatch = %s\n", tomlString(r.Match))
		opt("destination", r.Destination)
		opt("fallback", r.Fallback)
		if e := r.Extract; e != nil {
			w("\n[http.route.extract]\nfrom = %s\n", tomlString(e.From))
			opt("param", e.Param)
			opt("header", e.Header)
			opt("regex", e.Regex)
		}
	}
	w("%s", c.Extra)
	return b.String()
}

// Switchyard is a running switchyard binary.
type Switchyard struct {
	Dir        string
	ConfigPath string
	// Addrs maps a listener ID to the first address it is bound to, as
	// switchyard reported it (the port the kernel chose for port 0).
	Addrs map[string]string
	// Bound maps a listener ID to all its bound addresses.
	Bound map[string][]string
	// AdminAddr is the admin API's bound address ("" without [admin]).
	AdminAddr string
	Proc      *Process
}

// SwitchyardArgs is the command line for a configuration file; adjust it
// here if the binary's flags change.
var SwitchyardArgs = func(configPath string) []string {
	return []string{"--config", configPath, "--log-format", "text"}
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// RepoRoot is the directory holding go.mod (from `go env GOMOD`).
func RepoRoot() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the switchyard module")
	}
	return filepath.Dir(mod), nil
}

// BuildSwitchyard builds ./cmd/switchyard once per test run and returns
// the binary's path. SWITCHYARD_BIN, when set, names a binary to use
// instead.
func BuildSwitchyard(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SWITCHYARD_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "sy-bin-")
		if err != nil {
			buildErr = err
			return
		}
		RegisterRunCleanup(func() { os.RemoveAll(dir) })
		buildPath = filepath.Join(dir, "switchyard")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", buildPath, "./cmd/switchyard")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/switchyard: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// StartSwitchyardConfig renders cfg and starts switchyard with it.
func StartSwitchyardConfig(t testing.TB, cfg SwitchyardConfig) *Switchyard {
	t.Helper()
	return StartSwitchyard(t, cfg.TOML())
}

// StartSwitchyard builds the binary (once per run), writes configTOML into
// a fresh directory, checks it with --check-config (so a schema mistake is
// reported as such), starts switchyard with --ready-file and waits for
// that file: then every listener accepts and Addrs says where (no port is
// guessed; binds use AnyPort). It is stopped (SIGTERM to its PID) when the
// test ends.
func StartSwitchyard(t testing.TB, configTOML string) *Switchyard {
	t.Helper()
	bin := BuildSwitchyard(t)
	s := &Switchyard{Dir: t.TempDir()}
	s.ConfigPath = filepath.Join(s.Dir, "switchyard.toml")
	if err := os.WriteFile(s.ConfigPath, []byte(configTOML), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"--check-config"}, SwitchyardArgs(s.ConfigPath)...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("switchyard --check-config rejected the test configuration: %v\n%s\n--- %s ---\n%s", err, out, s.ConfigPath, configTOML)
	}
	ready := filepath.Join(s.Dir, "ready.json")
	s.Proc = StartProcess(t, s.Dir, "switchyard", bin, append(SwitchyardArgs(s.ConfigPath), "--ready-file", ready)...)
	doc, err := WaitReadyFile(ready, 15*time.Second, s.Proc.Done())
	if err != nil {
		t.Fatalf("switchyard: %v\n%s", err, TailFile(s.Proc.LogPath, 30))
	}
	s.Bound, s.AdminAddr = doc.Listeners, doc.Admin
	s.Addrs = map[string]string{}
	for id, addrs := range doc.Listeners {
		if len(addrs) > 0 {
			s.Addrs[id] = addrs[0]
		}
	}
	return s
}

// ReadyDoc is switchyard's --ready-file.
type ReadyDoc struct {
	Listeners map[string][]string `json:"listeners"`
	Admin     string              `json:"admin"`
}

// WaitReadyFile waits for switchyard's ready file (written whole, by a
// rename) and reads it; it gives up when gone is closed (switchyard
// exited) or after timeout.
func WaitReadyFile(path string, timeout time.Duration, gone <-chan struct{}) (ReadyDoc, error) {
	var doc ReadyDoc
	for deadline := time.Now().Add(timeout); ; {
		b, err := os.ReadFile(path)
		if err == nil {
			if err := json.Unmarshal(b, &doc); err != nil {
				return doc, fmt.Errorf("ready file %s: %v: %q", path, err, b)
			}
			return doc, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return doc, err
		}
		select {
		case <-gone:
			return doc, fmt.Errorf("exited before it wrote %s", path)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return doc, fmt.Errorf("no ready file %s after %v", path, timeout)
		}
	}
}

// Addr returns the address of listener id, or fails the test.
func (s *Switchyard) Addr(t testing.TB, id string) string {
	t.Helper()
	a, ok := s.Addrs[id]
	if !ok {
		t.Fatalf("no listener %q in the configuration", id)
	}
	return a
}

// Reload sends SIGHUP to switchyard's PID.
func (s *Switchyard) Reload(t testing.TB) {
	t.Helper()
	if err := s.Proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP: %v", err)
	}
}

// LogOnFailure prints what switchyard logged while t ran, if t fails.
// Call it first in a subtest that shares a switchyard with others.
func (s *Switchyard) LogOnFailure(t testing.TB) {
	t.Helper()
	var start int64
	if fi, err := os.Stat(s.Proc.LogPath); err == nil {
		start = fi.Size()
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		b, err := os.ReadFile(s.Proc.LogPath)
		if err != nil || int64(len(b)) < start {
			return
		}
		lines := strings.Split(strings.TrimRight(string(b[start:]), "\n"), "\n")
		if len(lines) > 80 {
			lines = append(lines[:40], append([]string{"..."}, lines[len(lines)-40:]...)...)
		}
		t.Logf("--- switchyard log during %s ---\n%s", t.Name(), strings.Join(lines, "\n"))
	})
}

// RSSKiB is switchyard's resident set size.
func (s *Switchyard) RSSKiB(t testing.TB) int {
	t.Helper()
	kb, err := s.Proc.RSSKiB()
	if err != nil {
		t.Fatalf("RSS of switchyard: %v", err)
	}
	return kb
}

// WriteMapping replaces a mapping file in place (truncate and write), as an
// editor that does not rename would.
func WriteMapping(t testing.TB, path string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ReplaceMapping writes a new mapping file beside path and renames it over
// path, as configuration management tools do.
func ReplaceMapping(t testing.TB, path string, lines ...string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
