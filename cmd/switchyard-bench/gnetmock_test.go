package main

import (
	"strings"
	"testing"
)

// TestGnetMock: both gnet responders serve the login storm's dialogue to
// the bench itself, and say how many logins they took when they stop.
func TestGnetMock(t *testing.T) {
	for _, proto := range []string{"imap-gnet", "imap-gnet-enroll"} {
		t.Run(proto, func(t *testing.T) {
			mock, addrs := startMock(t, 1, "--mock-protocol", proto, "--mock-names", "floor")
			out, _ := runOK(t, "--scenario", "login", "--target", addrs[0], "--users", "2",
				"--password", "pw", "--count", "40", "--concurrency", "4")
			if !strings.Contains(out, "40 ok, 0 failed") {
				t.Fatalf("output:\n%s", out)
			}
			mock.stop(t)
			if !strings.Contains(mock.out.String(), "gnetmock floor: 40 logins") {
				t.Fatalf("mock summary:\n%s", mock.out.String())
			}
		})
	}
	expectRefused(t, [][]string{
		{"--mock-backend", "127.0.0.1:0", "--mock-protocol", "imap-gnet", "--mock-tls"},
		{"--mock-backend", "127.0.0.1:0", "--mock-protocol", "imap-gnet-enroll", "--mock-proxy-header"},
	})
}
