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
