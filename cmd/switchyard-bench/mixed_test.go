package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/bench/mockimap"
	"github.com/switchyard-mail/switchyard/bench/mocksmtp"
)

func TestMixedScenario(t *testing.T) {
	users := map[string]string{}
	for _, u := range []string{"user0", "user1", "user2", "user3"} {
		users[u] = "password"
	}
	im, err := mockimap.Listen("127.0.0.1:0", mockimap.Config{Name: "i", Users: users})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	lm, err := mocksmtp.Listen("127.0.0.1:0", mocksmtp.Config{Name: "l", LMTP: true, NoAuth: true, CountOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer lm.Close()
	out, b := runOK(t, "--scenario", "mixed", "--target", im.Addr(), "--target-lmtp", lm.Addr(),
		"--users", "4", "--mixed-users", "20", "--mixed-login-rate", "30", "--mixed-fetch-rate", "20", "--mixed-lmtp-rate", "20",
		"--duration", "1s", "--timeline", "250ms", "--linger", "100ms", "--pid", itoa(os.Getpid()), "--progress", "0")
	for _, want := range []string{"mixed (20 users)", "idle-imap", "login-imap", "fetch-imap", "deliver-lmtp", "16384-byte messages", "target rss"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "login-pop3") || strings.Contains(out, "deliver-smtp") {
		t.Fatalf("components without a target ran:\n%s", out)
	}
	// The fields the checks below read.
	var r struct {
		Scenario   string `json:"scenario"`
		Errors     int64  `json:"errors"`
		Components []struct {
			Ops         int64 `json:"ops"`
			Established int   `json:"established"`
		} `json:"components"`
		Timeline []map[string]any `json:"timeline"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	// The idle sessions open before the measured phase; how many timeline
	// intervals a 1 s run gets is the scheduler's business (at least one).
	if r.Scenario != "mixed" || r.Errors != 0 || len(r.Components) != 4 || r.Components[0].Established != 14 || len(r.Timeline) < 1 || r.Timeline[0]["target"] == nil {
		t.Fatalf("json %s", b)
	}
	if int64(lm.Accepted()) != r.Components[3].Ops {
		t.Fatalf("lmtp mock accepted %d, bench counted %d", lm.Accepted(), r.Components[3].Ops)
	}
}

func TestMixedBadFlags(t *testing.T) {
	expectRefused(t, [][]string{
		{"--scenario", "mixed", "--mixed-login-mix", "4:1"},
		{"--scenario", "mixed", "--mixed-login-mix", "0:0:0"},
		{"--scenario", "mixed", "--mixed-login-mix", "a:1:1"},
		{"--scenario", "mixed", "--mixed-users", "0"},
		{"--scenario", "mixed", "--tls", "implicit"},
		{"--scenario", "mixed", "--mixed-lmtp-rate", "1e9", "--target-lmtp", "127.0.0.1:1"},
	})
}
