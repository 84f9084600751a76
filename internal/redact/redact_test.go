package redact

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"redis://:s3cret@10.0.0.5:6379/0", "redis://:xxxxx@10.0.0.5:6379/0"},
		{"rediss://user:s3cret@redis.internal", "rediss://user:xxxxx@redis.internal"},
		{"postgres://proxy:p%40ss@db/proxy?sslmode=disable", "postgres://proxy:xxxxx@db/proxy?sslmode=disable"},
		{"postgres://db/proxy?user=proxy&password=s3cret&sslpassword=k3y", "postgres://db/proxy?user=proxy&password=xxxxx&sslpassword=xxxxx"},
		{"mysql://proxy:s3cret@db:3306/proxy", "mysql://proxy:xxxxx@db:3306/proxy"},
		// a password with '/' and '@' in it, unescaped: a malformed URL
		{"redis://:pa/ss@w@host:6379", "redis://:xxxxx@host:6379"},
		// go-sql-driver DSN, no scheme
		{"proxy:s3cret@tcp(db:3306)/proxy", "proxy:xxxxx@tcp(db:3306)/proxy"},
		{"redis://10.0.0.5:6379", "redis://10.0.0.5:6379"},
		{"redis://user@host", "redis://user@host"},
		{"sqlite:///var/lib/map.db", "sqlite:///var/lib/map.db"},
	} {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestErrorMasksWhatLibrariesQuote: net/url quotes the whole URL, or a
// piece holding the password, in its errors.
func TestErrorMasksWhatLibrariesQuote(t *testing.T) {
	for _, raw := range []string{
		"redis://:s3cret@host:notaport",
		"postgres://u:s3cret@host:99x/db",
		"redis://:s3c/ret@host", // the '/' ends the authority early: the port is "s3c"
		"mysql://u:s%zzcret@host/db",
		"redis://:s3cret%2Fx@host:bad",
	} {
		_, perr := url.Parse(raw)
		if perr == nil {
			t.Fatalf("%q parses; the test needs a parse error", raw)
		}
		err := Error(perr, raw)
		for _, sec := range Secrets(raw) {
			if strings.Contains(err.Error(), sec) {
				t.Errorf("%q: %q still holds %q", raw, err, sec)
			}
		}
		if !strings.Contains(err.Error(), Mask) && strings.Contains(perr.Error(), "@") {
			t.Errorf("%q: %q masks nothing", raw, err)
		}
	}
	plain := errors.New("dial tcp 10.0.0.5:6379: connection refused")
	if got := Error(plain, "redis://:s3cret@10.0.0.5:6379"); got != plain {
		t.Errorf("an error without the secret must be returned as is, got %v", got)
	}
	if Error(nil, "redis://:x@h") != nil {
		t.Error("nil must stay nil")
	}
}

func TestSecretsDecoded(t *testing.T) {
	got := Secrets("postgres://u:p%40ss+w@h/db")
	want := map[string]bool{"p%40ss+w": true, "p@ss+w": true, "p@ss w": true}
	for _, s := range got {
		delete(want, s)
	}
	if len(want) != 0 {
		t.Fatalf("Secrets = %q, missing %v", got, want)
	}
}
