package app

import (
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/bench/mockimap"
	"github.com/switchyard-mail/switchyard/config"
	"github.com/switchyard-mail/switchyard/internal/testnet"
)

// withDestinations returns a copy of cfg whose destinations are cfg's
// plus add, minus drop.
func withDestinations(cfg *config.Config, add map[string]config.Destination, drop ...string) *config.Config {
	next := *cfg
	next.Destination = map[string]config.Destination{}
	for id, d := range cfg.Destination {
		next.Destination[id] = d
	}
	for id, d := range add {
		next.Destination[id] = d
	}
	for _, id := range drop {
		delete(next.Destination, id)
	}
	return &next
}

// plainIMAP is a destination on 127.0.0.1 at port, XCLIENT-forwarded as
// the fixture's "old".
func plainIMAP(t *testing.T, addr string) config.Destination {
	return config.Destination{
		Host: "127.0.0.1", Forwarding: config.ForwardXCLIENT, AllowPlaintextAuth: true,
		Protocol: map[config.Protocol]config.Endpoint{config.IMAP: {Port: atoi(t, portOf(addr)), TLS: config.TLSPlain}},
	}
}

func reloadTo(t *testing.T, a *App, next *config.Config) {
	t.Helper()
	a.SetConfigSource(func() (*config.Config, error) { return next, nil })
	if _, err := a.ReloadConfig(); err != nil {
		t.Fatalf("reload: %v", err)
	}
}

// TestReloadedDestinationsReachTheAdminAPI: a destination a reload adds
// can be mapped to at once through the admin API, is listed, and takes the
// account's next login; once a reload removes it, mapping to it is refused.
func TestReloadedDestinationsReachTheAdminAPI(t *testing.T) {
	f, call, _, _ := startAdminFixture(t)
	third := listenMock(t, func() (*mockimap.Server, error) {
		return mockimap.Listen("127.0.0.1:0", mockimap.Config{Name: "third",
			Users: map[string]string{"alice@example.com": "pw-alice", "bob@example.com": "pw-bob"}})
	})
	boot := f.app.cfg
	put := "/mappings?identifier=bob@example.com&destination=third"
	if code, body := call("PUT", put); code != 400 || !strings.Contains(body, "destination") {
		t.Fatalf("PUT to a destination not configured yet: %d %s", code, body)
	}

	reloadTo(t, f.app, withDestinations(boot, map[string]config.Destination{"third": plainIMAP(t, third.Addr())}))
	if code, body := call("PUT", put); code != 200 {
		t.Fatalf("PUT to the destination the reload added: %d %s", code, body)
	}
	if code, body := call("GET", "/destinations"); code != 200 || !strings.Contains(body, `"destination":"third"`) {
		t.Fatalf("/destinations after the reload: %d %s", code, body)
	}
	c := dialGreeted(t, f.plain)
	if got := c.landedOn("bob@example.com", "pw-bob"); got != "third" {
		t.Fatalf("bob landed on %q after the PUT, want third", got)
	}
	if code, body := call("GET", "/mappings?identifier=bob@example.com"); code != 200 || !strings.Contains(body, `"third"`) {
		t.Fatalf("GET mapping: %d %s", code, body)
	}

	// Move bob off it (the mapping file must stay valid), then remove it.
	if code, body := call("DELETE", "/mappings?identifier=bob@example.com"); code != 200 {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	reloadTo(t, f.app, withDestinations(boot, nil))
	if code, body := call("PUT", put); code != 400 || !strings.Contains(body, "destination") {
		t.Fatalf("PUT to the destination the reload removed: %d %s", code, body)
	}
	if code, body := call("GET", "/destinations"); code != 200 || strings.Contains(body, "third") {
		t.Fatalf("/destinations after the removal: %d %s", code, body)
	}
	if code, body := call("POST", "/destinations/reset?destination=third"); code != 404 {
		t.Fatalf("reset of a removed destination: %d %s", code, body)
	}
}

// TestReloadRefusesRemovingADestinationInForce: the default destination
// is read by the router, which only a restart rebuilds: a reload that
// drops it changes nothing.
func TestReloadRefusesRemovingADestinationInForce(t *testing.T) {
	f := startFixture(t, "")
	next := withDestinations(f.app.cfg, nil, "old")
	next.Routing.DefaultDestination = "new"
	f.app.SetConfigSource(func() (*config.Config, error) { return next, nil })
	if _, err := f.app.ReloadConfig(); err == nil || !strings.Contains(err.Error(), "routing.default_destination") {
		t.Fatalf("reload that drops the default destination: %v", err)
	}
	if !f.app.current().hasDestination("old") {
		t.Fatal("the refused reload was applied")
	}
	c := dialGreeted(t, f.plain)
	c.mustLand("bob@example.com", "pw-bob", "old", "bob")
}

// waitProbes waits until p has been probed at least n times.
func waitProbes(t *testing.T, p *testnet.Greeter, n int64, what string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); p.Count() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d probes, want %d", what, p.Count(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReloadMovesActiveChecks: the active checks (every 300 ms in the
// fixture) probe a destination the reload added, follow it to the address
// a second reload gives it, and stop probing the old address.
func TestReloadMovesActiveChecks(t *testing.T) {
	f := startFixture(t, "")
	first, second := testnet.StartGreeter(t, "* OK ready\r\n"), testnet.StartGreeter(t, "* OK ready\r\n")
	boot := f.app.cfg
	reloadTo(t, f.app, withDestinations(boot, map[string]config.Destination{"third": plainIMAP(t, first.Addr)}))
	waitProbes(t, first, 1, "the added destination")

	reloadTo(t, f.app, withDestinations(boot, map[string]config.Destination{"third": plainIMAP(t, second.Addr)}))
	// Rounds run one after the other; a round that began before the reload
	// may still probe the old address once. Once the new address has had
	// two probes, that round is over.
	waitProbes(t, second, 2, "the moved destination")
	settled := first.Count()
	waitProbes(t, second, 4, "the moved destination")
	if got := first.Count(); got != settled {
		t.Fatalf("the old address was probed %d more times after the move", got-settled)
	}
}

// TestAdminTLSFollowsMinVersion: [tls.protocols] min_version = "1.3"
// applies to the admin API as to the listeners.
func TestAdminTLSFollowsMinVersion(t *testing.T) {
	_, _, addr, _ := startAdminFixtureWith(t, "[tls.protocols]\nmin_version = \"1.3\"\n")
	get := func(max uint16) (int, error) {
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: max}}}
		defer hc.CloseIdleConnections()
		resp, err := hc.Get("https://" + addr + "/healthz")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get(tls.VersionTLS12); err == nil {
		t.Fatalf("a TLS 1.2 client was answered %d", code)
	}
	if code, err := get(tls.VersionTLS13); err != nil || code != 200 {
		t.Fatalf("a TLS 1.3 client: %d %v", code, err)
	}
}

// TestAdminPprofBehindToken: with EnablePprof (switchyard --pprof) the
// profiler is on the admin API, for the token holder only.
func TestAdminPprofBehindToken(t *testing.T) {
	_, call, addr, hc := startAdminFixtureWith(t, "", func(a *App) { a.EnablePprof() })
	resp, err := hc.Get("https://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("pprof without the token: %d", resp.StatusCode)
	}
	if code, body := call("GET", "/debug/pprof/goroutine?debug=1"); code != 200 || !strings.Contains(body, "goroutine profile:") {
		t.Fatalf("pprof with the token: %d %.100s", code, body)
	}
}

// TestAdminSurvivesIdleFlood: idle TCP connections and stalled TLS
// handshakes from other addresses leave /healthz (the container's health
// check) and the API answering on loopback. Before the per-client cap, 32
// idle connections took the admin API down.
func TestAdminSurvivesIdleFlood(t *testing.T) {
	_, call, addr, _ := startAdminFixture(t)
	for i, from := range []string{"127.0.0.2", "127.0.0.3"} {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 3 * time.Second}
		for j := 0; j < 64; j++ {
			c, err := d.Dial("tcp", addr)
			if err != nil {
				continue // refused at once
			}
			t.Cleanup(func() { c.Close() })
			if i == 1 { // a ClientHello record that never arrives whole
				_, _ = c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00})
			}
		}
	}
	// Fresh connections (no keep-alive) from 127.0.0.1, queued behind the
	// flood.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}}
	for i := 0; i < 3; i++ {
		resp, err := hc.Get("https://" + addr + "/healthz")
		if err != nil {
			t.Fatalf("/healthz %d during the flood: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/healthz %d during the flood: %d", i, resp.StatusCode)
		}
	}
	if code, body := call("GET", "/stats"); code != 200 {
		t.Fatalf("/stats during the flood: %d %s", code, body)
	}
	m := scrapeMetrics(t, call)
	if got := m["switchyard_admin_connections_rejected_total{}"]; got < 2*(64-8) {
		t.Fatalf("switchyard_admin_connections_rejected_total = %v", got)
	}
}
