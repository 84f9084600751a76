package pop3

import "testing"

func TestGreetingReady(t *testing.T) {
	for _, c := range []struct {
		line  string
		ready bool
	}{
		{"+OK Dovecot ready.\r\n", true},
		{"+OK", true},
		{"-ERR no\r\n", false},
		{"* OK\r\n", false},
		{"", false},
	} {
		if ready, final := GreetingReady([]byte(c.line)); ready != c.ready || !final {
			t.Errorf("%q: ready %v final %v, want %v true", c.line, ready, final, c.ready)
		}
	}
}
