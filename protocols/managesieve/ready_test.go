package managesieve

import "testing"

func TestGreetingReady(t *testing.T) {
	for _, c := range []struct {
		line         string
		ready, final bool
	}{
		{"\"IMPLEMENTATION\" \"Dovecot\"\r\n", false, false},
		{"\"SIEVE\" \"fileinto\"", false, false},
		{"OK \"ready\"\r\n", true, true},
		{"OK", true, true},
		{"BYE \"no\"\r\n", false, true},
		{"NO\r\n", false, true},
		{"", false, true},
	} {
		if ready, final := GreetingReady([]byte(c.line)); ready != c.ready || final != c.final {
			t.Errorf("%q: ready %v final %v, want %v %v", c.line, ready, final, c.ready, c.final)
		}
	}
}
