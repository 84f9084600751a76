package redisstore

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard-mail/switchyard/router"
	"github.com/switchyard-mail/switchyard/router/internal/storetest"
	"github.com/switchyard-mail/switchyard/router/internal/testsrv"
)

func newStore(t testing.TB, opt Options) *Store {
	t.Helper()
	return storetest.Open(t, func() (*Store, error) { return New(opt) })
}

func TestOptions(t *testing.T) {
	for _, bad := range []Options{
		{},
		{URL: "http://x"},
		{URL: "redis://x:1", Addrs: []string{"nohost"}},
		{URL: "redis://x:1", Cluster: true, MasterName: "m"},
		{URL: "redis://x:1/3", Cluster: true},
		{URL: "redis://x:1", PoolSize: -1},
	} {
		if s, err := New(bad); err == nil {
			s.Close()
			t.Errorf("New(%+v) accepted", bad)
		}
	}
	kinds := map[string]Options{
		"*redis.Client":        {URL: "redis://127.0.0.1:1/2"},
		"*redis.ClusterClient": {URL: "redis://127.0.0.1:1", Addrs: []string{"127.0.0.1:2"}},
	}
	for want, opt := range kinds {
		s := newStore(t, opt)
		var got string
		switch s.Client().(type) {
		case *redis.Client:
			got = "*redis.Client"
		case *redis.ClusterClient:
			got = "*redis.ClusterClient"
		}
		if got != want {
			t.Errorf("%+v: client %T, want %s", opt, s.Client(), want)
		}
	}
	// Sentinel: the addresses are Sentinels, not a cluster.
	if uo, err := universal(Options{URL: "redis://127.0.0.1:1", MasterName: "mymaster", Addrs: []string{"127.0.0.1:2"}}); err != nil ||
		uo.IsClusterMode || uo.MasterName != "mymaster" || len(uo.Addrs) != 2 {
		t.Fatalf("sentinel: %+v, %v", uo, err)
	}
	uo, err := universal(Options{URL: "rediss://u:p@127.0.0.1:6380/4"})
	if err != nil || uo.TLSConfig == nil || uo.Username != "u" || uo.Password != "p" || uo.DB != 4 || uo.MaxRetries != -1 {
		t.Fatalf("rediss URL: %+v, %v", uo, err)
	}
	if s := newStore(t, Options{URL: "redis://x:1", Prefix: "-"}); s.prefix != "" {
		t.Fatalf("prefix %q", s.prefix)
	}
}

// New never fails because Redis is down; lookups fail fast until it is up.
func TestDownAtStart(t *testing.T) {
	s := newStore(t, Options{URL: "redis://127.0.0.1:1"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded against a closed port")
	}
	if _, _, err := s.Lookup(ctx, "a@b"); err == nil || ctx.Err() != nil {
		t.Fatalf("Lookup: %v (ctx %v)", err, ctx.Err())
	}
}

func TestReadWrite(t *testing.T) {
	srv := testsrv.StartRedis(t)
	s := newStore(t, Options{URL: "redis://" + srv.Addr + "/1", Prefix: "sy:"})
	storetest.ReadWrite(t, s)
	// The key layout is <prefix><id>, readable by other tools.
	v, err := s.Client().Get(context.Background(), "sy:o'brien@example.com").Result()
	if err != nil || v != "d1" {
		t.Fatalf("raw GET: %q, %v", v, err)
	}
}

func TestTLS(t *testing.T) {
	srv, pool := testsrv.StartRedisTLS(t)
	s := newStore(t, Options{URL: "rediss://" + srv.Addr, TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
	storetest.ReadWrite(t, s)
	// Without trusting the certificate the handshake fails.
	bad := newStore(t, Options{URL: "rediss://" + srv.Addr})
	if _, _, err := bad.Lookup(context.Background(), "a@b"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v", err)
	}
}

func TestOutageAndRecovery(t *testing.T) {
	srv := testsrv.StartRedis(t)
	s := newStore(t, Options{URL: "redis://" + srv.Addr})
	storetest.Outage(t, s, srv.Stop, srv.Start)
}

func TestThreeInstances(t *testing.T) {
	srv := testsrv.StartRedis(t)
	storetest.ThreeInstances(t, func() storetest.Instance {
		s := newStore(t, Options{URL: "redis://" + srv.Addr})
		return storetest.Instance{Store: s, Bus: s.Bus()}
	})
}

// The subscription survives a Redis restart and reports the gap.
func TestBusResubscribes(t *testing.T) {
	srv := testsrv.StartRedis(t)
	s := newStore(t, Options{URL: "redis://" + srv.Addr})
	next := storetest.Resubscribes(t, s.Bus().Subscribe, func() { srv.Stop(); srv.Start() }, 15*time.Second)
	pub := newStore(t, Options{URL: "redis://" + srv.Addr})
	if err := pub.Bus().Publish(context.Background(), "a@b", "c d"); err != nil {
		t.Fatal(err)
	}
	if ids := next(); len(ids) != 2 || ids[0] != "a@b" || ids[1] != "c d" {
		t.Fatalf("got %q", ids)
	}
}

func BenchmarkLookup(b *testing.B) {
	srv := testsrv.StartRedis(b)
	s := newStore(b, Options{URL: "redis://" + srv.Addr})
	storetest.LookupLatency(b, s)
}

// TestURLErrorsHideThePassword: a URL that does not parse is quoted by
// go-redis; the store's error masks its password.
func TestURLErrorsHideThePassword(t *testing.T) {
	const pw = "s3cret-pw"
	storetest.URLErrorsHidePassword(t, pw, []string{
		"redis://:" + pw + "@10.0.0.5:notaport",
		"redis://default:" + pw + "@10.0.0.5:6379/notadb",
		"redis://:pa/" + pw + "@10.0.0.5:6379",
		"rediss://u:" + pw + "@[::1",
	}, func(u string) []error {
		_, err := New(Options{URL: u})
		return []error{err}
	})
}

func TestListing(t *testing.T) {
	srv := testsrv.StartRedis(t)
	s := newStore(t, Options{URL: "redis://" + srv.Addr + "/2", Prefix: "sy[1]:"})
	// A key outside the prefix is not a mapping.
	if err := s.Client().Set(context.Background(), "other:user01@example.com", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	storetest.Listing(t, s)
	cl := newStore(t, Options{URL: "redis://127.0.0.1:1", Addrs: []string{"127.0.0.1:2"}})
	if _, _, err := cl.List(context.Background(), "", "", 10); !errors.Is(err, router.ErrNotListable) {
		t.Fatalf("List on a cluster: %v", err)
	}
}

func TestBusCommands(t *testing.T) {
	srv := testsrv.StartRedis(t)
	a := newStore(t, Options{URL: "redis://" + srv.Addr})
	b := newStore(t, Options{URL: "redis://" + srv.Addr})
	storetest.Commands(t, a.Bus(), b.Bus())
}

func TestBatch(t *testing.T) {
	srv := testsrv.StartRedis(t)
	s := newStore(t, Options{URL: "redis://" + srv.Addr + "/3"})
	storetest.Batch(t, s, nil) // Redis refuses no string value
}
