package smtp

import "testing"

func TestGreetingReady(t *testing.T) {
	for _, c := range []struct {
		line  string
		ready bool
	}{
		{"220 mx ESMTP\r\n", true},
		{"220-mx ESMTP\r\n", true},
		{"421 busy\r\n", false},
		{"554 no service\r\n", false},
		{"", false},
	} {
		if ready, final := GreetingReady([]byte(c.line)); ready != c.ready || !final {
			t.Errorf("%q: ready %v final %v, want %v true", c.line, ready, final, c.ready)
		}
	}
}
