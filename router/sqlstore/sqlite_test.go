package sqlstore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/router"
	"github.com/switchyard-mail/switchyard/router/internal/storetest"
)

func newStore(t testing.TB, opt Options) *Store {
	t.Helper()
	return storetest.Open(t, func() (*Store, error) { return New(opt) })
}

func sqliteStore(t testing.TB) *Store {
	t.Helper()
	s := newStore(t, Options{URL: "sqlite://" + filepath.Join(t.TempDir(), "map%3Fx.db")})
	if err := s.CreateTable(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSQLiteReadWrite(t *testing.T) {
	storetest.ReadWrite(t, sqliteStore(t))
}

// A second store on the same file (another process, in production) sees
// the writes: the file is the shared state.
func TestSQLiteSharedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	a := newStore(t, Options{URL: "sqlite://" + path})
	if err := a.CreateTable(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := newStore(t, Options{URL: "sqlite://" + path})
	if err := a.Set(context.Background(), "x@y", "new"); err != nil {
		t.Fatal(err)
	}
	if d, ok, err := b.Lookup(context.Background(), "x@y"); err != nil || !ok || d != "new" {
		t.Fatalf("%q %v %v", d, ok, err)
	}
}

func TestCustomQueries(t *testing.T) {
	base := sqliteStore(t)
	ctx := context.Background()
	if _, err := base.DB().ExecContext(ctx, `CREATE TABLE users (login TEXT PRIMARY KEY, backend TEXT)`); err != nil {
		t.Fatal(err)
	}
	if _, err := base.DB().ExecContext(ctx, `INSERT INTO users VALUES ('a@x', 'old'), ('b@x', NULL)`); err != nil {
		t.Fatal(err)
	}
	// The same file through a store with its own query, read-only.
	path := base.url
	ro := newStore(t, Options{URL: path, Query: "SELECT backend FROM users WHERE login = ?"})
	if d, ok, err := ro.Lookup(ctx, "a@x"); err != nil || !ok || d != "old" {
		t.Fatalf("custom query: %q %v %v", d, ok, err)
	}
	if _, ok, err := ro.Lookup(ctx, "b@x"); err != nil || ok {
		t.Fatalf("NULL destination: %v %v", ok, err)
	}
	if err := ro.Set(ctx, "a@x", "new"); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Set without an upsert query: %v", err)
	}
	rw := newStore(t, Options{URL: path, Query: "SELECT backend FROM users WHERE login = ?",
		Upsert: "INSERT INTO users (login, backend) VALUES (?, ?) ON CONFLICT (login) DO UPDATE SET backend = excluded.backend",
		Delete: "DELETE FROM users WHERE login = ?"})
	if err := rw.Set(ctx, "a@x", "new"); err != nil {
		t.Fatal(err)
	}
	if d, _, _ := ro.Lookup(ctx, "a@x"); d != "new" {
		t.Fatalf("after upsert: %q", d)
	}
	if err := rw.Delete(ctx, "a@x"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := ro.Lookup(ctx, "a@x"); ok {
		t.Fatal("still there after delete")
	}
	// A broken query is an error, not "no mapping".
	bad := newStore(t, Options{URL: path, Query: "SELECT nope FROM users WHERE login = ?"})
	if _, _, err := bad.Lookup(ctx, "a@x"); err == nil {
		t.Fatal("a failing query returned no error")
	}
}

func TestOptionErrors(t *testing.T) {
	for _, o := range []Options{
		{URL: "sqlite://x.db", Query: "SELECT 1"},
		{URL: "postgres://h/d", Query: "SELECT d FROM t WHERE i = ?"},
		{URL: "sqlite://x.db", Query: "SELECT d FROM t WHERE i = ?", Upsert: "INSERT INTO t VALUES (?)"},
		{URL: "sqlite://x.db", Table: "bad name"},
		{URL: "sqlite://x.db", Table: "t; DROP TABLE x"},
		{URL: "sqlite://x.db", Timeout: -time.Second},
		{URL: "sqlite://x.db", MaxOpenConns: -1},
		{URL: "nope://x"},
	} {
		if s, err := New(o); err == nil {
			s.Close()
			t.Errorf("New(%+v) accepted", o)
		}
	}
	s := newStore(t, Options{URL: "sqlite://x.db"})
	if _, err := s.PGBus(""); err == nil {
		t.Fatal("PGBus on SQLite accepted")
	}
	p := newStore(t, Options{URL: "postgres://127.0.0.1:1/d"})
	if _, err := p.PGBus("bad-name"); err == nil {
		t.Fatal("bad channel accepted")
	}
}

// New never connects; a database that is not there fails fast at lookup.
func TestDownAtStart(t *testing.T) {
	for _, u := range []string{"postgres://postgres@127.0.0.1:1/x?sslmode=disable", "mysql://root@127.0.0.1:1/x"} {
		s := newStore(t, Options{URL: u})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s.Ping(ctx); err == nil {
			t.Fatalf("%s: Ping succeeded", u)
		}
		if _, _, err := s.Lookup(ctx, "a@b"); err == nil || ctx.Err() != nil {
			t.Fatalf("%s: Lookup: %v (ctx %v)", u, err, ctx.Err())
		}
		cancel()
	}
}

func BenchmarkLookupSQLite(b *testing.B) {
	storetest.LookupLatency(b, sqliteStore(b))
}

func TestSQLiteListing(t *testing.T) {
	storetest.Listing(t, sqliteStore(t))
	custom := newStore(t, Options{URL: "sqlite://" + filepath.Join(t.TempDir(), "c.db"), Query: "SELECT backend FROM users WHERE login = ?"})
	if _, _, err := custom.List(context.Background(), "", "", 10); !errors.Is(err, router.ErrNotListable) {
		t.Fatalf("List with a custom query: %v", err)
	}
	if _, err := custom.Count(context.Background()); !errors.Is(err, router.ErrNotListable) {
		t.Fatalf("Count with a custom query: %v", err)
	}
}

// A custom table listed with list_query and count_query behaves like
// switchyard's own table.
func TestSQLiteCustomListing(t *testing.T) {
	path := "sqlite://" + filepath.Join(t.TempDir(), "c.db")
	base := newStore(t, Options{URL: path})
	if _, err := base.DB().ExecContext(context.Background(), `CREATE TABLE users (login TEXT PRIMARY KEY, backend TEXT)`); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, Options{URL: path, Query: "SELECT backend FROM users WHERE login = ?",
		Upsert: "INSERT INTO users (login, backend) VALUES (?, ?) ON CONFLICT (login) DO UPDATE SET backend = excluded.backend",
		Delete: "DELETE FROM users WHERE login = ?",
		List:   "SELECT login, backend FROM users WHERE login > ? AND login LIKE ? ESCAPE '!' ORDER BY login LIMIT ?",
		Count:  "SELECT backend, COUNT(*) FROM users GROUP BY backend"})
	storetest.Listing(t, s)

	noSearch := newStore(t, Options{URL: path, Query: "SELECT backend FROM users WHERE login = ?",
		List: "SELECT login, backend FROM users WHERE login > ? ORDER BY login LIMIT ?"})
	page, _, err := noSearch.List(context.Background(), "", "", 3)
	if err != nil || len(page) != 3 {
		t.Fatalf("List without search: %v, %v", page, err)
	}
	if _, _, err := noSearch.List(context.Background(), "", "user", 3); !errors.Is(err, ErrNoSearch) {
		t.Fatalf("a search with a two-parameter list query: %v", err)
	}
	if _, err := noSearch.Count(context.Background()); !errors.Is(err, router.ErrNotListable) {
		t.Fatalf("Count without count_query: %v", err)
	}
	for _, o := range []Options{
		{URL: path, Query: "SELECT backend FROM users WHERE login = ?", List: "SELECT login, backend FROM users"},
		{URL: path, Query: "SELECT backend FROM users WHERE login = ?", Count: "SELECT backend, COUNT(*) FROM users WHERE x = ? GROUP BY backend"},
	} {
		if s, err := New(o); err == nil {
			s.Close()
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

// SetMany writes in one transaction: a pair the database refuses (here
// the last, by a CHECK constraint) leaves the table as it was.
func TestSQLiteSetManyAtomic(t *testing.T) {
	path := "sqlite://" + filepath.Join(t.TempDir(), "b.db")
	base := newStore(t, Options{URL: path})
	ctx := context.Background()
	if _, err := base.DB().ExecContext(ctx, `CREATE TABLE switchyard_mappings (identifier TEXT NOT NULL PRIMARY KEY, destination TEXT NOT NULL CHECK (destination <> 'bad')) WITHOUT ROWID`); err != nil {
		t.Fatal(err)
	}
	if err := base.Set(ctx, "keep@x", "old"); err != nil {
		t.Fatal(err)
	}
	pairs := storetest.Mappings(1000, "u%d@x", "new")
	pairs[0] = router.Mapping{Identifier: "keep@x", Destination: "new"}
	pairs[len(pairs)-1].Destination = "bad"
	if err := base.SetMany(ctx, pairs); err == nil {
		t.Fatal("SetMany accepted a row the table refuses")
	}
	if d, _, _ := base.Lookup(ctx, "keep@x"); d != "old" {
		t.Fatalf("keep@x -> %q after a failed batch", d)
	}
	if _, ok, _ := base.Lookup(ctx, "u1@x"); ok {
		t.Fatal("a failed batch left rows behind")
	}
	pairs[len(pairs)-1].Destination = "new"
	if err := base.SetMany(ctx, pairs); err != nil {
		t.Fatal(err)
	}
	if c, _ := base.Count(ctx); c["new"] != 1000 {
		t.Fatalf("counts after the batch: %v", c)
	}
	got, err := base.LookupMany(ctx, []string{"keep@x", "u1@x", "u999@x", "nobody@x"})
	if err != nil || len(got) != 3 || got["keep@x"] != "new" {
		t.Fatalf("LookupMany: %v %v", got, err)
	}
}

func BenchmarkSQLiteSetMany100k(b *testing.B) {
	pairs := storetest.Mappings(100_000, "user%d@example.com", "new")
	for b.Loop() {
		b.StopTimer()
		s := sqliteStore(b)
		b.StartTimer()
		if err := s.SetMany(context.Background(), pairs); err != nil {
			b.Fatal(err)
		}
	}
}
