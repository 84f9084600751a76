// Package sqlstore is a router.Store backed by an SQL database: PostgreSQL
// (pgx, with a small pool of its own), MySQL or MariaDB (go-sql-driver/mysql), or SQLite (modernc.org's
// pure-Go driver, the embedded default), chosen by the URL's scheme.
//
// The lookup is a configurable query with one placeholder (the normalized
// identifier) returning the destination; writes for the admin API use
// optional upsert and delete queries. With no queries configured, the
// store uses a two-column table (CreateTable makes it):
//
//	switchyard_mappings(identifier PRIMARY KEY, destination NOT NULL)
//
// Connecting, each statement and the pool are bounded by short timeouts,
// so an outage makes Lookup fail fast and the router tempfails the login;
// database/sql reconnects by itself when the server returns. New never
// connects: the proxy starts while the database is down, and Ping tells.
package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql" // mysql://
	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // sqlite://

	"github.com/switchyard-mail/switchyard/internal/redact"
	"github.com/switchyard-mail/switchyard/internal/sqlparams"
	"github.com/switchyard-mail/switchyard/limits"
	"github.com/switchyard-mail/switchyard/router"
)

// DefaultTable is the table of a zero Options.Table. The timeout and the
// pool sizes default to limits.SQLTimeout, limits.SQLPoolSize
// (mapping.sql.pool_size's default) and limits.SQLMaxIdleConns.
const DefaultTable = "switchyard_mappings"

// ErrReadOnly is returned by Set and Delete when no write query is known.
var ErrReadOnly = errors.New("sqlstore: no upsert/delete query configured")

// Options configures a Store.
type Options struct {
	// URL selects the driver: postgres:// (or postgresql://), mysql://,
	// sqlite:///path/to/file.db. See ParseURL.
	URL string
	// Query returns the destination for the identifier in its one
	// placeholder ($1 for PostgreSQL, ? otherwise), e.g.
	//   SELECT destination FROM mappings WHERE identifier = $1
	// No row (or a NULL) means "no mapping". Default: the Table's.
	Query string
	// Upsert writes a mapping: placeholders identifier then destination.
	// Delete removes one: placeholder identifier. Defaults: the Table's
	// when Query is the default too; otherwise writes are refused with
	// ErrReadOnly unless given.
	Upsert, Delete string
	// List returns one page of mappings, as (identifier, destination)
	// rows in identifier order. Its placeholders, in order: the last
	// identifier of the previous page ("" first), optionally a LIKE
	// pattern with '!' as escape character ("%%" when no search), and the
	// page size.
	// Count returns (destination, count) rows and takes no parameter.
	// Defaults: the Table's when Query is the default too; otherwise
	// List and Count answer router.ErrNotListable unless given.
	List, Count string
	// Table names the default table (default "switchyard_mappings").
	Table string

	// Timeout bounds connecting and each statement (default 1s); the
	// caller's context (the router's LookupTimeout) applies as well.
	Timeout time.Duration
	// MaxOpenConns (default 16) and MaxIdleConns (default 4) size the pool.
	MaxOpenConns, MaxIdleConns int
	// ConnMaxLifetime recycles connections (default: never).
	ConnMaxLifetime time.Duration
}

// Store is an SQL mapping store, safe for concurrent use.
type Store struct {
	db      *sql.DB // MySQL and SQLite
	pg      *pgPool // PostgreSQL
	target  Target
	url     string
	table   string
	lookup  string
	upsert  string
	del     string
	timeout time.Duration
	// listable: the lookup is switchyard's own table (List, Count).
	listable bool
	// Custom listing (Options.List, Options.Count); listSearch: the list
	// query takes a search pattern.
	list, count string
	listSearch  bool
}

var _ router.Store = (*Store)(nil)

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// New validates opt and opens a pool. It does not connect. Its errors
// never hold the URL's password (net/url and the drivers quote the URL,
// or the piece that did not parse).
func New(opt Options) (s *Store, err error) {
	defer func() { err = redact.Error(err, opt.URL) }()
	return openStore(opt)
}

func openStore(opt Options) (*Store, error) {
	if opt.Timeout < 0 {
		return nil, errors.New("sqlstore: Timeout is negative")
	}
	s := &Store{url: opt.URL, table: cmp.Or(opt.Table, DefaultTable), timeout: cmp.Or(opt.Timeout, limits.SQLTimeout)}
	t, err := ParseURL(opt.URL, s.timeout)
	if err != nil {
		return nil, err
	}
	s.target = t
	if !identRE.MatchString(s.table) {
		return nil, fmt.Errorf("sqlstore: Table: %q is not a plain [schema.]name", s.table)
	}
	ph := func(n int) string {
		if t.Dialect == Postgres {
			return fmt.Sprintf("$%d", n)
		}
		return "?"
	}
	s.lookup, s.upsert, s.del = opt.Query, opt.Upsert, opt.Delete
	s.list, s.count = opt.List, opt.Count
	if s.list != "" {
		switch n := sqlparams.Count(s.list, t.Dialect == Postgres); n {
		case 2, 3:
			s.listSearch = n == 3
		default:
			return nil, fmt.Errorf("sqlstore: List: %q takes the cursor, optionally a search pattern, and the page size: found %d placeholder(s)", s.list, n)
		}
	}
	if s.count != "" && sqlparams.Count(s.count, t.Dialect == Postgres) != 0 {
		return nil, fmt.Errorf("sqlstore: Count: %q takes no parameter", s.count)
	}
	if s.lookup == "" {
		s.listable = true
		s.lookup = fmt.Sprintf("SELECT destination FROM %s WHERE identifier = %s", s.table, ph(1))
		if s.upsert == "" {
			switch t.Dialect {
			case Postgres:
				s.upsert = fmt.Sprintf("INSERT INTO %s (identifier, destination) VALUES ($1, $2) ON CONFLICT (identifier) DO UPDATE SET destination = EXCLUDED.destination", s.table)
			case MySQL:
				s.upsert = fmt.Sprintf("INSERT INTO %s (identifier, destination) VALUES (?, ?) ON DUPLICATE KEY UPDATE destination = VALUES(destination)", s.table)
			case SQLite:
				s.upsert = fmt.Sprintf("INSERT INTO %s (identifier, destination) VALUES (?, ?) ON CONFLICT (identifier) DO UPDATE SET destination = excluded.destination", s.table)
			}
		}
		if s.del == "" {
			s.del = fmt.Sprintf("DELETE FROM %s WHERE identifier = %s", s.table, ph(1))
		}
	}
	for name, q := range map[string][2]string{"Query": {s.lookup, "1"}, "Upsert": {s.upsert, "2"}, "Delete": {s.del, "1"}} {
		if q[0] != "" && !hasPlaceholders(t.Dialect, q[0], q[1] == "2") {
			return nil, fmt.Errorf("sqlstore: %s: %q lacks its placeholder(s) (%s)", name, q[0], map[bool]string{true: "$1", false: "?"}[t.Dialect == Postgres])
		}
	}
	if opt.MaxOpenConns < 0 || opt.MaxIdleConns < 0 || opt.ConnMaxLifetime < 0 {
		return nil, errors.New("sqlstore: pool sizes and lifetime may not be negative")
	}
	open := cmp.Or(opt.MaxOpenConns, limits.SQLPoolSize)
	idle := cmp.Or(opt.MaxIdleConns, min(limits.SQLMaxIdleConns, open))
	if t.Dialect == Postgres {
		cfg, err := pgx.ParseConfig(t.DSN)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: URL: %w", err)
		}
		s.pg = newPGPool(cfg, open, idle)
		return s, nil
	}
	db, err := sql.Open(t.Driver, t.DSN)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	db.SetMaxOpenConns(open)
	db.SetMaxIdleConns(idle)
	db.SetConnMaxLifetime(opt.ConnMaxLifetime)
	s.db = db
	return s, nil
}

func hasPlaceholders(dialect, q string, two bool) bool {
	if dialect == Postgres {
		return strings.Contains(q, "$1") && (!two || strings.Contains(q, "$2"))
	}
	n := strings.Count(q, "?")
	return n >= 1 && (!two || n >= 2)
}

func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Lookup runs the lookup query. No row or a NULL destination means no
// mapping.
func (s *Store) Lookup(ctx context.Context, id string) (string, bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var d sql.NullString
	var err error
	if s.pg != nil {
		err = s.pg.do(ctx, func(c *pgx.Conn) error { return c.QueryRow(ctx, s.lookup, id).Scan(&d) })
	} else {
		err = s.db.QueryRowContext(ctx, s.lookup, id).Scan(&d)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows), errors.Is(err, pgx.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, redact.Error(fmt.Errorf("%s: %w", s.target.Dialect, err), s.url)
	}
	return d.String, d.Valid, nil
}

// Local reports false: the database is asked over the network or disk.
func (s *Store) Local() bool { return false }

// Set maps id to dest with the upsert query.
func (s *Store) Set(ctx context.Context, id, dest string) error {
	if s.upsert == "" {
		return ErrReadOnly
	}
	if dest == "" {
		return errors.New("sqlstore: empty destination")
	}
	return s.exec(ctx, s.upsert, id, dest)
}

// Delete removes id's mapping with the delete query.
func (s *Store) Delete(ctx context.Context, id string) error {
	if s.del == "" {
		return ErrReadOnly
	}
	return s.exec(ctx, s.del, id)
}

func (s *Store) exec(ctx context.Context, q string, args ...any) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var err error
	if s.pg != nil {
		err = s.pg.do(ctx, func(c *pgx.Conn) error { _, err := c.Exec(ctx, q, args...); return err })
	} else {
		_, err = s.db.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return redact.Error(fmt.Errorf("%s: %w", s.target.Dialect, err), s.url)
	}
	return nil
}

// CreateTable creates the default table if it does not exist.
func (s *Store) CreateTable(ctx context.Context) error {
	var q string
	switch s.target.Dialect {
	case Postgres:
		q = "CREATE TABLE IF NOT EXISTS %s (identifier TEXT PRIMARY KEY, destination TEXT NOT NULL)"
	case MySQL:
		// Bytes, not a collation: the router already normalized the key,
		// and a case-insensitive collation would merge distinct accounts.
		q = "CREATE TABLE IF NOT EXISTS %s (identifier VARBINARY(1024) NOT NULL PRIMARY KEY, destination VARCHAR(255) NOT NULL)"
	case SQLite:
		q = "CREATE TABLE IF NOT EXISTS %s (identifier TEXT NOT NULL PRIMARY KEY, destination TEXT NOT NULL) WITHOUT ROWID"
	}
	return s.exec(ctx, fmt.Sprintf(q, s.table))
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var err error
	if s.pg != nil {
		err = s.pg.do(ctx, func(c *pgx.Conn) error { return c.Ping(ctx) })
	} else {
		err = s.db.PingContext(ctx)
	}
	if err != nil {
		return redact.Error(fmt.Errorf("%s: %w", s.target.Dialect, err), s.url)
	}
	return nil
}

// Dialect returns Postgres, MySQL or SQLite.
func (s *Store) Dialect() string { return s.target.Dialect }

// DB returns the database/sql pool for MySQL and SQLite (nil for
// PostgreSQL, which uses pgx connections directly).
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the pool.
func (s *Store) Close() error {
	if s.pg != nil {
		s.pg.close()
		return nil
	}
	return s.db.Close()
}
