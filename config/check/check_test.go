package check

import (
	"net"
	"testing"
)

// TestSplitHostPortIsNets: the split config uses instead of net's accepts
// and splits exactly what net.SplitHostPort does, so bind errors read the
// same as before.
func TestSplitHostPortIsNets(t *testing.T) {
	for _, in := range []string{
		"", ":", "1.2.3.4", "1.2.3.4:", "1.2.3.4:993", ":993", "[::]:993", "[::1]", "[::1]:",
		"::1:993", "[::1]x:993", "[::1]:99:3", "[[::1]]:993", "a]:993", "a[:993", "[::1:993",
		"host.example:25", "host:port", "[fe80::1%eth0]:143",
	} {
		h, p, ok := SplitHostPort(in)
		nh, np, err := net.SplitHostPort(in)
		if ok != (err == nil) || ok && (h != nh || p != np) {
			t.Errorf("SplitHostPort(%q) = %q, %q, %v; net: %q, %q, %v", in, h, p, ok, nh, np, err)
		}
	}
}

func TestPlaceholders(t *testing.T) {
	for q, want := range map[string]int{
		"SELECT a FROM t WHERE i > $1 AND i LIKE $3 LIMIT $2": 3,
		"SELECT '$9' FROM t WHERE i > $1 LIMIT $2":            2,
	} {
		if n := Placeholders(q, true); n != want {
			t.Errorf("pg %q: %d, want %d", q, n, want)
		}
	}
	for q, want := range map[string]int{
		"SELECT a FROM t WHERE i > ? LIMIT ?":         2,
		"SELECT '?' FROM t WHERE i > ? AND j = \"?\"": 1,
	} {
		if n := Placeholders(q, false); n != want {
			t.Errorf("%q: %d, want %d", q, n, want)
		}
	}
}
