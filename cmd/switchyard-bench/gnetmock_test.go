package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestGnetMock: both gnet responders serve the login storm's dialogue to
// the bench itself, and say how many logins they took when they stop.
func TestGnetMock(t *testing.T) {
	for _, proto := range []string{"imap-gnet", "imap-gnet-enroll"} {
		t.Run(proto, func(t *testing.T) {
			mock, addrs := startMock(t, 1, "--mock-protocol", proto, "--mock-names", "floor")
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"--scenario", "login", "--target", addrs[0], "--users", "2",
				"--password", "pw", "--count", "40", "--concurrency", "4"}, &out, &errb)
			if code != 0 || !strings.Contains(out.String(), "40 ok, 0 failed") {
				t.Fatalf("exit %d:\n%s%s", code, out.String(), errb.String())
			}
			mock.stop(t)
			if !strings.Contains(mock.out.String(), "gnetmock floor: 40 logins") {
				t.Fatalf("mock summary:\n%s", mock.out.String())
			}
		})
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--mock-backend", "127.0.0.1:0", "--mock-protocol", "imap-gnet", "--mock-tls"}, &out, &errb); code == 0 {
		t.Fatal("--mock-tls with imap-gnet accepted")
	}
}
