//go:build linux

package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/config"
	// The binary's drivers: registering them tells config.Validate which
	// protocols this build serves, so that this test accepts exactly what
	// `switchyard --check-config` accepts.
	"github.com/switchyard-mail/switchyard/e2e/harness"
	_ "github.com/switchyard-mail/switchyard/internal/app"
)

// TestSwitchyardConfigTOML runs in plain unit runs too (it starts
// nothing): the configuration the end-to-end tests generate must be
// accepted by the config package, so that a schema change shows up here
// before it breaks the suite.
func TestSwitchyardConfigTOML(t *testing.T) {
	cert, mapping := proxyCertMapping(t, "alice@test new")

	t.Run("imap", func(t *testing.T) {
		cfg := imapSuite.config(&cert, mapping, 41436, 41437)
		if l := &cfg.Listeners[3]; l.ID == "imap-pp" {
			l.Bind = []string{"127.0.0.1:41434", "127.0.0.1:0"}
		} else {
			t.Fatalf("listener 3 is %s, want imap-pp", l.ID)
		}
		// Several listeners on AnyPort do not clash.
		binds := parsedBinds(t, checkTOML(t, cfg))
		if len(binds) != 5 || strings.Join(binds["imap-pp"], " ") != "127.0.0.1:41434 127.0.0.1:0" || strings.Join(binds["imaps"], " ") != harness.AnyPort {
			t.Fatalf("binds parsed as %v", binds)
		}
	})

	// What lmtp_test.go runs: recipient routing by default (no
	// passthrough destination), XCLIENT to old, PROXY to new.
	t.Run("lmtp routing", func(t *testing.T) {
		cfg := harness.SwitchyardConfig{
			Listeners: []harness.SYListener{
				{ID: "lmtp", Protocol: "lmtp", Bind: []string{"127.0.0.1:41441"}, TLS: "plain"},
				{ID: "lmtp-tuned", Protocol: "lmtp", Bind: []string{"127.0.0.1:41442"}, TLS: "plain", RecipientRouting: boolPtr(true),
					MaxRecipients: 50, MaxMessageSize: "10MiB", CommandTimeout: "30s", BackendReplyTimeout: "1m"},
			},
			Destinations: []harness.SYDestination{
				{ID: "old", Host: "127.0.0.1", Forwarding: "xclient",
					Endpoints: []harness.SYEndpoint{{Protocol: "lmtp", Port: 41443, TLS: "plain"}}},
				{ID: "new", Host: "127.0.0.1", Forwarding: "none",
					Endpoints: []harness.SYEndpoint{{Protocol: "lmtp", Port: 41444, TLS: "plain", Forwarding: "proxy"}}},
			},
			DefaultDestination: "old",
			MappingFile:        mapping,
		}
		text := checkTOML(t, cfg)
		for _, want := range []string{"recipient_routing = true\n", "max_recipients = 50\n", `max_message_size = "10MiB"`,
			`command_timeout = "30s"`, `backend_reply_timeout = "1m"`, "[destination.new.protocol.lmtp]\nport = 41444\ntls = \"plain\"\nforwarding = \"proxy\"\n"} {
			if !strings.Contains(text, want) {
				t.Errorf("the TOML lacks %q:\n%s", want, text)
			}
		}
		if strings.Count(text, "recipient_routing") != 1 {
			t.Errorf("recipient_routing written for a listener that left it unset:\n%s", text)
		}
	})

	// What smtp_test.go runs: a passthrough destination, so routing
	// listeners say so; STARTTLS terminated at the proxy.
	t.Run("smtp routing and passthrough", func(t *testing.T) {
		cfg := harness.SwitchyardConfig{
			Cert: &cert,
			Listeners: []harness.SYListener{
				{ID: "mx", Protocol: "smtp", Bind: []string{"127.0.0.1:41451"}, TLS: "plain", RecipientRouting: boolPtr(true)},
				{ID: "mx-tls", Protocol: "smtp", Bind: []string{"127.0.0.1:41452"}, TLS: "starttls", RecipientRouting: boolPtr(true)},
				{ID: "mx-bridge", Protocol: "smtp", Bind: []string{"127.0.0.1:41453"}, TLS: "plain"},
				{ID: "lmtp-bridge", Protocol: "lmtp", Bind: []string{"127.0.0.1:41454"}, TLS: "plain", RecipientRouting: boolPtr(false)},
			},
			Destinations: []harness.SYDestination{
				{ID: "old", Host: "127.0.0.1", Forwarding: "xclient", Endpoints: []harness.SYEndpoint{
					{Protocol: "smtp", Port: 41455, TLS: "plain"},
					{Protocol: "lmtp", Port: 41456, TLS: "plain"}}},
				{ID: "new", Host: "127.0.0.1", Forwarding: "proxy",
					Endpoints: []harness.SYEndpoint{{Protocol: "smtp", Port: 41457, TLS: "plain"}}},
			},
			DefaultDestination:         "old",
			SMTPPassthroughDestination: "old",
			MappingFile:                mapping,
		}
		text := checkTOML(t, cfg)
		if binds := parsedBinds(t, text); len(binds) != 4 || binds["mx-bridge"][0] != "127.0.0.1:41453" {
			t.Fatalf("binds parsed as %v", binds)
		}
		if !strings.Contains(text, "[routing]\ndefault_destination = \"old\"\nsmtp_passthrough_destination = \"old\"\n") {
			t.Errorf("no smtp_passthrough_destination in [routing]:\n%s", text)
		}
	})

	// What smuggling_test.go runs: one destination serving smtp (a
	// Postfix MX) and lmtp (Dovecot), routing listeners for both.
	t.Run("smtp and lmtp to one destination", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "empty-mappings.txt")
		harness.WriteMapping(t, empty, "# identifier destination")
		text := checkTOML(t, smugglingSwitchyardConfig(41473, 41474, empty))
		if binds := parsedBinds(t, text); len(binds) != 2 || binds["lmtp"][0] != harness.AnyPort {
			t.Fatalf("binds parsed as %v", binds)
		}
	})

	// What http_test.go runs: three http listeners (plain, implicit TLS,
	// forwarded = "trust"), routes pinned and by account (authorization,
	// query, header with a regex, body), forwarded and PROXY destinations.
	t.Run("http routes", func(t *testing.T) {
		cfg := httpSwitchyardConfig(&cert, mapping, httpTopology{Old: 41464, OldPP: 41465, New: 41466, Down: 41467})
		text := checkTOML(t, cfg)
		if binds := parsedBinds(t, text); len(binds) != 3 || binds["web-tls"][0] != harness.AnyPort {
			t.Fatalf("binds parsed as %v", binds)
		}
		c, err := config.Parse([]byte(text), "e2e.toml")
		if err != nil {
			t.Fatal(err)
		}
		if len(c.HTTP.Route) != len(cfg.HTTPRoutes) {
			t.Fatalf("%d routes parsed, want %d:\n%s", len(c.HTTP.Route), len(cfg.HTTPRoutes), text)
		}
		for i, want := range cfg.HTTPRoutes {
			got := c.HTTP.Route[i]
			if got.Match != want.Match || got.Destination != want.Destination || got.Fallback != want.Fallback || (got.Extract == nil) != (want.Extract == nil) {
				t.Errorf("route %d parsed as %+v, want %+v", i, got, want)
				continue
			}
			if e := want.Extract; e != nil {
				g := got.Extract
				if string(g.From) != e.From || g.Param != e.Param || g.Header != e.Header || g.Regex != e.Regex {
					t.Errorf("route %d extract parsed as %+v, want %+v", i, *g, *e)
				}
			}
		}
		if c.Listener["web-trust"].Forwarded != "trust" || !c.Destination["old"].Forwarded || c.Destination["quiet"].Forwarded {
			t.Errorf("forwarded flags not parsed as written:\n%s", text)
		}
	})
}

// checkTOML renders cfg and fails t unless config.Parse and Validate accept
// it.
func checkTOML(t *testing.T, cfg harness.SwitchyardConfig) string {
	t.Helper()
	text := cfg.TOML()
	c, err := config.Parse([]byte(text), "e2e.toml")
	if err != nil {
		t.Fatalf("config.Parse: %v\n%s", err, text)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v\n%s", err, text)
	}
	if c.Routing.SMTPPassthroughDestination != cfg.SMTPPassthroughDestination {
		t.Fatalf("routing.smtp_passthrough_destination parsed as %q, want %q", c.Routing.SMTPPassthroughDestination, cfg.SMTPPassthroughDestination)
	}
	return text
}

func boolPtr(b bool) *bool { return &b }

// parsedBinds returns each listener's bind addresses as config reads them.
func parsedBinds(t *testing.T, text string) map[string][]string {
	t.Helper()
	c, err := config.Parse([]byte(text), "e2e.toml")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for id, l := range c.Listener {
		out[id] = l.Bind
	}
	return out
}
