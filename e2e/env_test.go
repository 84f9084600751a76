//go:build linux

package e2e

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/e2e/harness"
	"github.com/switchyard-mail/switchyard/e2e/peers"
)

// What the protocol suites share to set up their environment: the two
// Dovecots, the proxy's certificate and mapping file, the "old"/"new"
// destinations, and the list of subtests run against one environment.

// baseMapping is the mapping the suites start from: alice@test on new.
var baseMapping = []string{"# identifier destination", "alice@test new"}

// dovecotPair is two Dovecots: "old" (the default destination) and "new".
type dovecotPair struct {
	old, new *peers.Dovecot
}

// startDovecotPair starts old and new with the same options.
func startDovecotPair(t *testing.T, opts peers.DovecotOptions) dovecotPair {
	t.Helper()
	harness.RequireBinary(t, "dovecot")
	return dovecotPair{
		old: peers.StartDovecot(t, "old", opts),
		new: peers.StartDovecot(t, "new", opts),
	}
}

// dovecot returns the Dovecot called name ("old" or "new").
func (p dovecotPair) dovecot(name string) *peers.Dovecot {
	return map[string]*peers.Dovecot{"old": p.old, "new": p.new}[name]
}

// proxyCertMapping writes switchyard's certificate (for mail.test) and a
// mapping file holding lines (mappingFile).
func proxyCertMapping(t testing.TB, lines ...string) (cert harness.Cert, mapping string) {
	t.Helper()
	return harness.GenerateCert(t, t.TempDir(), "switchyard", "mail.test"), mappingFile(t, lines...)
}

// mappingFile writes a mapping file holding lines into a new temporary
// directory and returns its path.
func mappingFile(t testing.TB, lines ...string) string {
	t.Helper()
	mapping := filepath.Join(t.TempDir(), "mappings.txt")
	harness.WriteMapping(t, mapping, lines...)
	return mapping
}

// oldNewDestinations is the suites' pair of destinations taking plaintext
// logins, each with one plaintext endpoint for proto: "old" told the
// client address with XCLIENT (or IMAP ID), "new" with a PROXY v2 header.
func oldNewDestinations(proto string, oldPort, newPort int) []harness.SYDestination {
	return []harness.SYDestination{
		{ID: "old", Host: "127.0.0.1", Forwarding: "xclient", AllowPlaintextAuth: true,
			Endpoints: []harness.SYEndpoint{{Protocol: proto, Port: oldPort, TLS: "plain"}}},
		{ID: "new", Host: "127.0.0.1", Forwarding: "proxy", AllowPlaintextAuth: true,
			Endpoints: []harness.SYEndpoint{{Protocol: proto, Port: newPort, TLS: "plain"}}},
	}
}

// step is one subtest of a suite that shares env across its subtests.
type step[E any] struct {
	name string
	fn   func(*testing.T, E)
}

// runSteps runs steps in order, each as a subtest given env.
func runSteps[E any](t *testing.T, env E, steps []step[E]) {
	t.Helper()
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) { st.fn(t, env) })
	}
}

func port(t testing.TB, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if _, err := fmt.Sscan(p, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func pw(user string) string { return peers.DefaultUsers[user] }

// expectLogin runs login, which must read the marker of backend, and
// returns the login of user that backend's Dovecot logged meanwhile:
// from the client address rip unless rip is empty.
func (p dovecotPair) expectLogin(t testing.TB, backend, user, rip string, login func() (IMAPResult, error)) peers.LoginRecord {
	t.Helper()
	d := p.dovecot(backend)
	mark := d.Mark()
	res, err := login()
	ExpectMarker(t, res, err, backend)
	if rip == "" {
		return d.WaitLogin(t, mark, user)
	}
	return d.AssertLoginRIP(t, mark, user, rip)
}

// expectLine reads one line from c and fails unless it starts with prefix.
func expectLine(t testing.TB, c *RawConn, prefix string) string {
	t.Helper()
	l := c.ReadLine()
	if !strings.HasPrefix(l, prefix) {
		t.Fatalf("got %q, want %q...", l, prefix)
	}
	return l
}

// dialPP connects to pp, a listener with proxy_protocol = "required", and
// sends a PROXY header (v2, else v1) saying the client is claim:40001.
func dialPP(t testing.TB, pp, claim string, v2 bool) *RawConn {
	t.Helper()
	conn := DialRaw(t, pp, "")
	if v2 {
		conn.Write(string(ProxyV2Header(claim+":40001", pp)))
	} else {
		conn.Write(ProxyV1Header(claim+":40001", pp))
	}
	return conn
}

// ppCase is one client behind a PROXY header (v2, else v1) claiming the
// address claim, logging in as user, whose mail is on backend.
type ppCase struct {
	name, user, backend, claim string
	v2                         bool
}

// testPPListener runs each case as a subtest: it connects to the
// proxy_protocol = "required" listener with the case's header, runs
// session (log in, read the backend's marker), and checks that the
// backend logged the claimed address as the client's.
func (e *loginEnv) testPPListener(t *testing.T, cases []ppCase, session func(*testing.T, *RawConn, ppCase)) {
	t.Helper()
	for _, c := range cases {
		e.onBackend(t, c.name, c.backend, func(t *testing.T, d *peers.Dovecot, mark harness.LogMark) {
			session(t, dialPP(t, e.pp, c.claim, c.v2), c)
			d.AssertLoginRIP(t, mark, c.user, c.claim)
		})
	}
}

// onBackend runs fn as the subtest name (switchyard's log shown if it
// fails), given the Dovecot of backend and the end of its log before fn.
func (e *loginEnv) onBackend(t *testing.T, name, backend string, fn func(t *testing.T, d *peers.Dovecot, mark harness.LogMark)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		e.sy.LogOnFailure(t)
		d := e.dovecot(backend)
		fn(t, d, d.Mark())
	})
}

// loginAddrs are where a login suite's switchyard listens: plaintext,
// STARTTLS, implicit TLS (not for ManageSieve) and plaintext behind a
// required PROXY header.
type loginAddrs struct {
	plain, starttls, implicit, pp string
}

// loginListeners are the listeners for proto that loginAddrs name: id,
// id-starttls, ids (implicit TLS; when implicit) and id-pp (PROXY
// headers required, trusted from loopback).
func loginListeners(proto, id string, implicit bool) []harness.SYListener {
	ls := []harness.SYListener{
		{ID: id, Protocol: proto, TLS: "plain"},
		{ID: id + "-starttls", Protocol: proto, TLS: "starttls"},
	}
	if implicit {
		ls = append(ls, harness.SYListener{ID: id + "s", Protocol: proto, TLS: "implicit"})
	}
	return append(ls, harness.SYListener{ID: id + "-pp", Protocol: proto, TLS: "plain", ProxyProtocol: "required", ProxyTrusted: []string{"127.0.0.0/8"}})
}

// loginAddrsOf looks up where sy's loginListeners(_, id, implicit) listen.
func loginAddrsOf(t testing.TB, sy *harness.Switchyard, id string, implicit bool) loginAddrs {
	t.Helper()
	a := loginAddrs{plain: sy.Addr(t, id), starttls: sy.Addr(t, id+"-starttls"), pp: sy.Addr(t, id+"-pp")}
	if implicit {
		a.implicit = sy.Addr(t, id+"s")
	}
	return a
}

// loginSuite is what differs between the IMAP, POP3 and ManageSieve
// suites' setups (startLoginEnv does the rest).
type loginSuite struct {
	proto, id string // the listeners' protocol and ID (loginListeners)
	implicit  bool   // an implicit TLS listener too
	dovecot   peers.DovecotOptions
	// backends are the Dovecot endpoints of old (plaintext) and new (its
	// haproxy=yes listener).
	backends func(dovecotPair) (old, new string)
	extra    string                          // appended to the configuration file
	tune     func(*harness.SwitchyardConfig) // the suite's own settings
}

// config is the suite's switchyard: its login listeners, old (the
// default) and new at oldPort and newPort, the mapping file.
// TestSwitchyardConfigTOML checks it without them running.
func (s loginSuite) config(cert *harness.Cert, mapping string, oldPort, newPort int) harness.SwitchyardConfig {
	cfg := harness.SwitchyardConfig{
		Cert:               cert,
		Listeners:          loginListeners(s.proto, s.id, s.implicit),
		Destinations:       oldNewDestinations(s.proto, oldPort, newPort),
		DefaultDestination: "old",
		MappingFile:        mapping,
		Extra:              s.extra,
	}
	if s.tune != nil {
		s.tune(&cfg)
	}
	return cfg
}

// loginEnv is one switchyard in front of two Dovecots, old and new, with
// baseMapping.
type loginEnv struct {
	dovecotPair
	sy      *harness.Switchyard
	cert    harness.Cert
	mapping string
	loginAddrs
}

// startLoginEnv starts the Dovecots and switchyard of s.
func startLoginEnv(t *testing.T, s loginSuite) loginEnv {
	t.Helper()
	e := loginEnv{dovecotPair: startDovecotPair(t, s.dovecot)}
	e.cert, e.mapping = proxyCertMapping(t, baseMapping...)
	oldAddr, newAddr := s.backends(e.dovecotPair)
	e.sy = harness.StartSwitchyardConfig(t, s.config(&e.cert, e.mapping, port(t, oldAddr), port(t, newAddr)))
	e.loginAddrs = loginAddrsOf(t, e.sy, s.id, s.implicit)
	return e
}

// routedUsers are the accounts the routing tests log in, and where they
// land: alice is mapped to new, bob goes to old (the default).
var routedUsers = map[string]string{"alice@test": "new", "bob@test": "old"}

// loginWay is one way in: a listener's address, its TLS mode, and how
// the client authenticates.
type loginWay struct{ addr, tls, auth string }

// name names the subtest that logs user in this way with driver.
func (w loginWay) name(driver, user string) string {
	return fmt.Sprintf("%s/%s/%s/%s", driver, w.tls, w.auth, user)
}

// ways are the ways in through a's plaintext, STARTTLS and implicit TLS
// listeners (those it has), each with every one of auths.
func (a loginAddrs) ways(auths ...string) []loginWay {
	var out []loginWay
	for _, l := range []struct{ addr, tls string }{{a.plain, "plain"}, {a.starttls, "starttls"}, {a.implicit, "implicit"}} {
		if l.addr == "" {
			continue
		}
		for _, auth := range auths {
			out = append(out, loginWay{l.addr, l.tls, auth})
		}
	}
	return out
}

// retryCase is an account whose first login, from source, fails.
type retryCase struct{ user, backend, source string }

// testRetry runs session for each case, as a subtest named after its
// backend, on a connection to the plaintext listener from the case's
// source: a failed login, then the right one on the same connection.
func (e *loginEnv) testRetry(t *testing.T, cases []retryCase, session func(t *testing.T, conn *RawConn, c retryCase, d *peers.Dovecot, mark harness.LogMark)) {
	t.Helper()
	for _, c := range cases {
		e.onBackend(t, c.backend, c.backend, func(t *testing.T, d *peers.Dovecot, mark harness.LogMark) {
			session(t, DialRaw(t, e.plain, c.source), c, d, mark)
		})
	}
}

// plainLogins is the [capabilities] table that lets a suite's plaintext
// listener take logins and offers SASL LOGIN too (the default list has
// PLAIN and the OAuth mechanisms).
func plainLogins(protocol string) string {
	return fmt.Sprintf("\n[capabilities.%s]\nallow_plain_auth_without_tls = true\nsasl = [\"PLAIN\", \"LOGIN\"]\n", protocol)
}
