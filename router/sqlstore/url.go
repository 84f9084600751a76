package sqlstore

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/switchyard-mail/switchyard/internal/redact"
)

// Dialects (Store.Dialect).
const (
	Postgres = "postgres"
	MySQL    = "mysql"
	SQLite   = "sqlite"
)

// Target is a parsed store URL: the database/sql driver name and its DSN.
type Target struct {
	Dialect string // Postgres, MySQL or SQLite
	Driver  string // "pgx", "mysql" or "sqlite"
	DSN     string
}

// ParseURL maps a store URL to a driver and DSN:
//
//	postgres://user:pw@host:5432/db?sslmode=disable   (or postgresql://)
//	mysql://user:pw@host:3306/db?tls=true
//	sqlite:///var/lib/switchyard/map.db               (a file path; sqlite://rel.db is relative)
//
// connect and I/O timeouts that the URL does not set are set to timeout
// (whole seconds for PostgreSQL, at least one).
// Errors never hold the URL's password.
func ParseURL(raw string, timeout time.Duration) (t Target, err error) {
	defer func() { err = redact.Error(err, raw) }()
	return parseURL(raw, timeout)
}

func parseURL(raw string, timeout time.Duration) (Target, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return Target{}, errors.New("sqlstore: URL has no scheme (postgres://, mysql://, sqlite://)")
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		u, err := url.Parse(raw)
		if err != nil {
			return Target{}, fmt.Errorf("sqlstore: URL: %w", err)
		}
		q := u.Query()
		if q.Get("connect_timeout") == "" && timeout > 0 {
			q.Set("connect_timeout", fmt.Sprint(max(1, int((timeout+time.Second-1)/time.Second))))
			u.RawQuery = q.Encode()
		}
		return Target{Dialect: Postgres, Driver: "pgx", DSN: u.String()}, nil
	case "mysql", "mariadb":
		u, err := url.Parse(raw)
		if err != nil {
			return Target{}, fmt.Errorf("sqlstore: URL: %w", err)
		}
		if u.Host == "" {
			return Target{}, errors.New("sqlstore: mysql URL has no host")
		}
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "3306")
		}
		var userinfo string
		if u.User != nil {
			userinfo = u.User.Username()
			if pw, ok := u.User.Password(); ok {
				userinfo += ":" + pw
			}
			userinfo += "@"
		}
		db := strings.TrimPrefix(u.Path, "/")
		if strings.Contains(db, "/") {
			return Target{}, fmt.Errorf("sqlstore: mysql URL: bad database name %q", db)
		}
		dsn := userinfo + "tcp(" + host + ")/" + db
		if u.RawQuery != "" {
			dsn += "?" + u.RawQuery
		}
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return Target{}, fmt.Errorf("sqlstore: mysql URL: %w", err)
		}
		cfg.Timeout = cmp.Or(cfg.Timeout, timeout)
		cfg.ReadTimeout = cmp.Or(cfg.ReadTimeout, timeout)
		cfg.WriteTimeout = cmp.Or(cfg.WriteTimeout, timeout)
		return Target{Dialect: MySQL, Driver: "mysql", DSN: cfg.FormatDSN()}, nil
	case "sqlite", "sqlite3", "file":
		path, query, _ := strings.Cut(rest, "?")
		if path == "" {
			return Target{}, errors.New("sqlstore: sqlite URL has no file path")
		}
		if strings.ContainsRune(path, 0) {
			return Target{}, errors.New("sqlstore: sqlite path contains NUL")
		}
		p, err := url.PathUnescape(path)
		if err != nil {
			return Target{}, fmt.Errorf("sqlstore: sqlite URL: %w", err)
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			return Target{}, fmt.Errorf("sqlstore: sqlite URL: %w", err)
		}
		// Wait for a writer rather than failing at once, and let readers
		// proceed while another process writes.
		if !hasPragma(q, "busy_timeout") {
			q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", max(1, timeout.Milliseconds())))
		}
		if !hasPragma(q, "journal_mode") {
			q.Add("_pragma", "journal_mode(WAL)")
		}
		dsn := "file:" + (&url.URL{Path: p}).EscapedPath() + "?" + q.Encode()
		return Target{Dialect: SQLite, Driver: "sqlite", DSN: dsn}, nil
	}
	return Target{}, fmt.Errorf("sqlstore: unknown URL scheme %q (want postgres, mysql or sqlite)", scheme)
}

func hasPragma(q url.Values, name string) bool {
	for _, p := range q["_pragma"] {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(p)), name) {
			return true
		}
	}
	return false
}
