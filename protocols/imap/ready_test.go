package imap

import "testing"

func TestGreetingReady(t *testing.T) {
	for _, c := range []struct {
		line  string
		ready bool
	}{
		{"* OK [CAPABILITY IMAP4rev1] ready\r\n", true},
		{"* OK ready", true},
		{"* PREAUTH logged in\r\n", false},
		{"* BYE too many\r\n", false},
		{"+OK\r\n", false},
		{"", false},
	} {
		if ready, final := GreetingReady([]byte(c.line)); ready != c.ready || !final {
			t.Errorf("%q: ready %v final %v, want %v true", c.line, ready, final, c.ready)
		}
	}
}
