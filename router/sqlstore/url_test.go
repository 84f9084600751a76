package sqlstore

import (
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/switchyard-mail/switchyard/router/internal/storetest"
)

func TestParseURL(t *testing.T) {
	for _, c := range []struct{ in, dialect, dsn string }{
		{"postgres://u:p@db:5432/m?sslmode=disable", Postgres, "postgres://u:p@db:5432/m?connect_timeout=2&sslmode=disable"},
		{"postgresql://db/m?connect_timeout=7", Postgres, "postgresql://db/m?connect_timeout=7"},
		{"mysql://u:p@db/m", MySQL, "u:p@tcp(db:3306)/m?readTimeout=1.5s&timeout=1.5s&writeTimeout=1.5s"},
		{"mysql://u@db:3307/m?readTimeout=5s", MySQL, "u@tcp(db:3307)/m?readTimeout=5s&timeout=1.5s&writeTimeout=1.5s"},
		{"sqlite:///var/lib/sy/map.db", SQLite, "file:/var/lib/sy/map.db?_pragma=busy_timeout%281500%29&_pragma=journal_mode%28WAL%29"},
		{"sqlite://rel.db?_pragma=journal_mode(DELETE)", SQLite, "file:rel.db?_pragma=journal_mode%28DELETE%29&_pragma=busy_timeout%281500%29"},
		{"sqlite:///tmp/a%3Fb.db", SQLite, "file:/tmp/a%3Fb.db?_pragma=busy_timeout%281500%29&_pragma=journal_mode%28WAL%29"},
	} {
		got, err := ParseURL(c.in, 1500*time.Millisecond)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if got.Dialect != c.dialect || got.DSN != c.dsn {
			t.Errorf("%s:\n got %s %s\nwant %s %s", c.in, got.Dialect, got.DSN, c.dialect, c.dsn)
		}
	}
	for _, bad := range []string{"", "db", "redis://x", "mysql:///m", "mysql://h/a/b", "sqlite://", "sqlite://?x=1", "mysql://h/m?timeout=zz", "postgres://%zz", "sqlite://a%zz"} {
		if got, err := ParseURL(bad, time.Second); err == nil {
			t.Errorf("ParseURL(%q) = %+v, want an error", bad, got)
		}
	}
}

// FuzzParseURL: no panic; an accepted URL gives a known driver and a DSN
// that driver accepts (for MySQL, its own DSN parser).
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"postgres://u:p@h:5432/d?sslmode=disable", "postgresql://h", "mysql://u:p@h:3306/d?tls=true", "mysql://h", "mariadb://h/d",
		"sqlite:///var/x.db", "sqlite://x.db?_pragma=foo", "file://a", "sqlite://%00", "mysql://[::1]:3306/d", "mysql://u@h/d?charset=utf8mb4&x=%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tg, err := ParseURL(raw, time.Second)
		if err != nil {
			return
		}
		if tg.DSN == "" {
			t.Fatalf("%q: empty DSN", raw)
		}
		switch tg.Dialect {
		case Postgres:
			if tg.Driver != "pgx" || !strings.Contains(tg.DSN, "connect_timeout=") {
				t.Fatalf("%q: %+v", raw, tg)
			}
		case MySQL:
			cfg, err := mysql.ParseDSN(tg.DSN)
			if err != nil || cfg.Timeout == 0 {
				t.Fatalf("%q -> %q: %v", raw, tg.DSN, err)
			}
		case SQLite:
			if !strings.HasPrefix(tg.DSN, "file:") || !strings.Contains(tg.DSN, "busy_timeout") {
				t.Fatalf("%q: %+v", raw, tg)
			}
		default:
			t.Fatalf("%q: dialect %q", raw, tg.Dialect)
		}
	})
}

// TestURLErrorsHideThePassword: net/url and the drivers quote a URL that
// does not parse; the store's errors mask its password.
func TestURLErrorsHideThePassword(t *testing.T) {
	const pw = "s3cret-pw"
	storetest.URLErrorsHidePassword(t, pw, []string{
		"postgres://u:" + pw + "@db:notaport/proxy",
		"postgresql://u:" + pw + "@[::1/proxy",
		"postgres://db/proxy?password=" + pw + "&connect_timeout=x",
		"mysql://u:" + pw + "@db:notaport/proxy",
		"mysql://u:" + pw + "@db/proxy?tls=bogus",
		"mysql://u:" + pw + "@db/a/b",
		"mysql://u:pa/" + pw + "@db/proxy",
	}, func(u string) []error {
		_, perr := ParseURL(u, time.Second) // some parse here, and fail in the driver's own parser
		_, nerr := New(Options{URL: u})
		return []error{perr, nerr}
	})
}
