package apiv1

import "testing"

func TestClientFilter(t *testing.T) {
	for _, tc := range []struct {
		filter, client string
		want           bool
	}{
		{"192.0.2.7", "192.0.2.7:5000", true},
		{"192.0.2.7", "192.0.2.8:5000", false},
		{"192.0.2.0/24", "192.0.2.200:1", true},
		{"192.0.2.7:5000", "192.0.2.7:5000", true},
		{"192.0.2.7:5000", "192.0.2.7:5001", false},
		{"2001:db8::/32", "[2001:db8::1]:993", true},
		{"::ffff:192.0.2.0/120", "192.0.2.9:1", true},
		{"192.0.2.7", "[::ffff:192.0.2.7]:1", true},
	} {
		f, err := ClientFilter(tc.filter)
		if err != nil {
			t.Fatalf("%q: %v", tc.filter, err)
		}
		if got := f(tc.client); got != tc.want {
			t.Errorf("%q matches %q: %v, want %v", tc.filter, tc.client, got, tc.want)
		}
	}
	for _, bad := range []string{"nowhere", "1.2.3.4/33", "1.2.3"} {
		if _, err := ClientFilter(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
