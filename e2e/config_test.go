//go:build linux

package e2e

import (
	"path/filepath"
	"testing"

	"github.com/switchyard-mail/switchyard/config"
)

// TestSwitchyardConfigTOML runs in plain unit runs too (it starts
// nothing): the configuration the end-to-end tests generate must be
// accepted by the config package, so that a schema change shows up here
// before it breaks the suite.
func TestSwitchyardConfigTOML(t *testing.T) {
	dir := t.TempDir()
	cert := GenerateCert(t, dir, "switchyard", "mail.test")
	cfg := SwitchyardConfig{
		Cert: &cert,
		Listeners: []SYListener{
			{ID: "imap", Protocol: "imap", Bind: []string{"127.0.0.1:41431"}, TLS: "plain"},
			{ID: "imap-starttls", Protocol: "imap", Bind: []string{"127.0.0.1:41432"}, TLS: "starttls"},
			{ID: "imaps", Protocol: "imap", Bind: []string{"127.0.0.1:41433"}, TLS: "implicit"},
			{ID: "imap-pp", Protocol: "imap", Bind: []string{"127.0.0.1:41434"}, TLS: "plain", ProxyProtocol: "required", ProxyTrusted: []string{"127.0.0.0/8"}},
			{ID: "imap-idle", Protocol: "imap", Bind: []string{"127.0.0.1:41435"}, TLS: "plain", PreauthTimeout: "2s", MaxConnections: 5000},
		},
		Destinations: []SYDestination{
			{ID: "old", Host: "127.0.0.1", Forwarding: "xclient", AllowPlaintextAuth: true,
				Endpoints: []SYEndpoint{{Protocol: "imap", Port: 41436, TLS: "plain"}}},
			{ID: "new", Host: "127.0.0.1", Forwarding: "proxy", AllowPlaintextAuth: true,
				Endpoints: []SYEndpoint{{Protocol: "imap", Port: 41437, TLS: "plain"}}},
		},
		DefaultDestination:       "old",
		MappingFile:              filepath.Join(dir, "mappings.txt"),
		AllowPlainAuthWithoutTLS: true,
		IMAPSASL:                 []string{"PLAIN", "LOGIN"},
	}
	WriteMapping(t, cfg.MappingFile, "alice@test new")
	text := cfg.TOML()
	c, err := config.Parse([]byte(text), "e2e.toml")
	if err != nil {
		t.Fatalf("config.Parse: %v\n%s", err, text)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v\n%s", err, text)
	}
	addrs := listenerAddrs(text)
	if len(addrs) != 5 || addrs["imap-pp"] != "127.0.0.1:41434" {
		t.Fatalf("listenerAddrs found %v", addrs)
	}
}
