package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// --scenario deliver against the same binary's --mock-protocol smtp/lmtp.
func TestDeliverAgainstDeliveryMock(t *testing.T) {
	for _, proto := range []string{"smtp", "lmtp"} {
		t.Run(proto, func(t *testing.T) {
			mock, addrs := startMock(t, 1, "--mock-protocol", proto, "--mock-names", "m"+proto,
				"--mock-known-recipients", "--users", "4", "--duration", "30s")
			addr := addrs[0]
			out, b := runOK(t, "--scenario", "deliver", "--protocol", proto, "--target", addr,
				"--users", "4", "--recipients", "2", "--message-size", "3000", "--per-connection", "5",
				"--count", "40", "--concurrency", "2", "--pid", itoa(os.Getpid()))
			if !strings.Contains(out, "40 ok, 0 failed") || !regexp.MustCompile(`(?m)^protocol +`+proto+`$`).MatchString(out) ||
				!regexp.MustCompile(`(?m)^delivered +40 messages, 80 recipients`).MatchString(out) {
				t.Fatalf("output:\n%s", out)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil || m["ops"].(float64) != 40 || m["protocol"] != proto ||
				m["scenario"] != "deliver" || m["connections"].(float64) < 8 || m["target_cost"] == nil {
				t.Fatalf("json %s %v", b, err)
			}
			mock.stop(t)
			if !strings.Contains(mock.out.String(), "mock"+proto+" m"+proto+" listening on "+addr+" (4 known recipients)") ||
				!strings.Contains(mock.out.String(), "m"+proto+": 40 messages accepted") {
				t.Fatalf("mock output:\n%s", mock.out.String())
			}
		})
	}
}

func TestDeliverBadFlags(t *testing.T) {
	expectRefused(t, [][]string{
		{"--scenario", "deliver", "--count", "1"},
		{"--scenario", "deliver", "--protocol", "pop3", "--count", "1"},
		{"--scenario", "deliver", "--protocol", "smtp", "--tls", "implicit", "--count", "1"},
		{"--scenario", "deliver", "--protocol", "lmtp", "--message-size", "10", "--count", "1"},
		{"--scenario", "deliver", "--protocol", "lmtp", "--recipients", "5", "--users", "4", "--count", "1"},
		{"--mock-backend", "127.0.0.1:0", "--mock-protocol", "lmtp", "--mock-proxy-header"},
	})
}
