package sqlstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/router"
	"github.com/switchyard-mail/switchyard/router/internal/storetest"
	"github.com/switchyard-mail/switchyard/router/internal/testsrv"
)

func serverStore(t testing.TB, url string) *Store {
	t.Helper()
	return serverStoreTable(t, url, "")
}

// serverStoreTable is a store on a table of its own (created).
func serverStoreTable(t testing.TB, url, table string) *Store {
	t.Helper()
	s := newStore(t, Options{URL: url, Table: table})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPostgres(t *testing.T) {
	srv := testsrv.StartPostgres(t)
	t.Run("ReadWrite", func(t *testing.T) { storetest.ReadWrite(t, serverStore(t, srv.DSN)) })
	t.Run("Listing", func(t *testing.T) { storetest.Listing(t, serverStoreTable(t, srv.DSN, "listing")) })
	t.Run("Batch", func(t *testing.T) {
		// PostgreSQL refuses a NUL byte in text.
		storetest.Batch(t, serverStoreTable(t, srv.DSN, "batch"), &router.Mapping{Identifier: "nul@x", Destination: "a\x00b"})
	})
	t.Run("Commands", func(t *testing.T) {
		a, err := serverStore(t, srv.DSN).PGBus("")
		if err != nil {
			t.Fatal(err)
		}
		b, err := serverStore(t, srv.DSN).PGBus("")
		if err != nil {
			t.Fatal(err)
		}
		storetest.Commands(t, a, b)
	})
	t.Run("Outage", func(t *testing.T) { storetest.Outage(t, serverStore(t, srv.DSN), srv.Stop, srv.Start) })
	t.Run("ThreeInstances", func(t *testing.T) {
		storetest.ThreeInstances(t, func() storetest.Instance {
			s := serverStore(t, srv.DSN)
			bus, err := s.PGBus("")
			if err != nil {
				t.Fatal(err)
			}
			return storetest.Instance{Store: s, Bus: bus}
		})
	})
	t.Run("BusReconnects", func(t *testing.T) {
		s := serverStore(t, srv.DSN)
		bus, _ := s.PGBus("sy_reconnect")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		next := storetest.Resubscribes(t, bus.Subscribe, func() { srv.Stop(); srv.Start() }, 20*time.Second)
		if err := bus.Publish(ctx, "a@b"); err != nil {
			t.Fatal(err)
		}
		if ids := next(); len(ids) != 1 || ids[0] != "a@b" {
			t.Fatalf("got %q", ids)
		}
	})
}

func TestMariaDB(t *testing.T) {
	srv := testsrv.StartMariaDB(t)
	t.Run("ReadWrite", func(t *testing.T) { storetest.ReadWrite(t, serverStore(t, srv.DSN)) })
	t.Run("Listing", func(t *testing.T) { storetest.Listing(t, serverStoreTable(t, srv.DSN, "listing")) })
	t.Run("Batch", func(t *testing.T) {
		// A destination longer than VARCHAR(255) is refused in strict mode.
		storetest.Batch(t, serverStoreTable(t, srv.DSN, "batch"), &router.Mapping{Identifier: "long@x", Destination: strings.Repeat("d", 300)})
	})
	t.Run("CaseIsKept", func(t *testing.T) {
		// With normalization "none" Alice and alice are distinct accounts;
		// the default table must not merge them through a collation.
		s := serverStore(t, srv.DSN)
		ctx := context.Background()
		if err := s.Set(ctx, "Alice@x", "old"); err != nil {
			t.Fatal(err)
		}
		if err := s.Set(ctx, "alice@x", "new"); err != nil {
			t.Fatal(err)
		}
		if d, _, err := s.Lookup(ctx, "Alice@x"); err != nil || d != "old" {
			t.Fatalf("%q %v", d, err)
		}
	})
	t.Run("Outage", func(t *testing.T) { storetest.Outage(t, serverStore(t, srv.DSN), srv.Stop, srv.Start) })
}

func BenchmarkLookupPostgres(b *testing.B) {
	srv := testsrv.StartPostgres(b)
	storetest.LookupLatency(b, serverStore(b, srv.DSN))
}

func BenchmarkLookupMariaDB(b *testing.B) {
	srv := testsrv.StartMariaDB(b)
	storetest.LookupLatency(b, serverStore(b, srv.DSN))
}
