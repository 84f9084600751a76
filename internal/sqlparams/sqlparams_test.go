package sqlparams

import "testing"

func TestCount(t *testing.T) {
	for q, want := range map[string]int{
		"SELECT a FROM t WHERE i > $1 AND i LIKE $3 LIMIT $2": 3,
		"SELECT '$9' FROM t WHERE i > $1 LIMIT $2":            2,
	} {
		if n := Count(q, true); n != want {
			t.Errorf("pg %q: %d, want %d", q, n, want)
		}
	}
	for q, want := range map[string]int{
		"SELECT a FROM t WHERE i > ? LIMIT ?":         2,
		"SELECT '?' FROM t WHERE i > ? AND j = \"?\"": 1,
	} {
		if n := Count(q, false); n != want {
			t.Errorf("%q: %d, want %d", q, n, want)
		}
	}
}
