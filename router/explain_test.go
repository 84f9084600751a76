package router

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestExplain: each step's answer, the cache's entry (peeked, counters
// unchanged) and what a login gets now, including a stale cached answer
// after the store changed behind the cache's back.
func TestExplain(t *testing.T) {
	ctx := context.Background()
	st := newFake(false, "alice@example.com", "new")
	ring := &fakeRing{dest: "node2"}
	r := mustNew(t, Options{DefaultDestination: "old", Ring: ring}, st)

	ex, err := r.Explain(ctx, "Alice@Example.com")
	if err != nil {
		t.Fatal(err)
	}
	if ex.Normalized != "alice@example.com" || !ex.Store.Configured || !ex.Store.Found || ex.Store.Destination != "new" ||
		!ex.Ring.Configured || ex.Ring.Destination != "node2" || ex.Default != "old" ||
		!ex.Cache.Used || ex.Cache.Present || ex.Effective.Destination != "new" || ex.Effective.Source != SourceStore || ex.Stale {
		t.Fatalf("before any login: %+v", ex)
	}
	if r.CacheStats().Entries != 0 {
		t.Fatal("Explain filled the cache")
	}
	resolve(t, r, "alice@example.com")  // a login caches the mapping
	st.set("alice@example.com", "old2") // changed without an invalidation
	ex, _ = r.Explain(ctx, "alice@example.com")
	if !ex.Cache.Present || !ex.Cache.Found || ex.Cache.Destination != "new" || ex.Cache.ExpiresAt.Before(time.Now()) ||
		ex.Effective.Destination != "new" || !ex.Effective.Cached || !ex.Stale || ex.Store.Destination != "old2" {
		t.Fatalf("stale cache: %+v", ex)
	}
	cs := r.CacheStats()
	if !cs.Used || cs.Entries != 1 || cs.Hits != 0 || cs.PositiveTTL != DefaultPositiveTTL {
		t.Fatalf("cache stats: %+v", cs)
	}
	resolve(t, r, "alice@example.com")
	if cs = r.CacheStats(); cs.Hits != 1 {
		t.Fatalf("a cached login is not a hit: %+v", cs)
	}
	r.Invalidate("alice@example.com")
	if ex, _ = r.Explain(ctx, "alice@example.com"); ex.Cache.Present || ex.Effective.Destination != "old2" || ex.Stale {
		t.Fatalf("after invalidation: %+v", ex)
	}

	// No mapping: the ring decides; a cached "no mapping" is reported.
	resolve(t, r, "bob@example.com")
	ex, _ = r.Explain(ctx, "bob@example.com")
	if ex.Store.Found || !ex.Cache.Present || ex.Cache.Found || ex.Effective.Source != SourceRing || ex.Effective.Destination != "node2" || !ex.Effective.Cached {
		t.Fatalf("ring: %+v", ex)
	}
	ring.set("")
	if ex, _ = r.Explain(ctx, "bob@example.com"); ex.Ring.Found || ex.Effective.Source != SourceDefault || ex.Effective.Destination != "old" {
		t.Fatalf("default: %+v", ex)
	}

	// A store that fails: its error, and what the policy gives.
	st.setErr(errors.New("boom"))
	if ex, _ = r.Explain(ctx, "carol@example.com"); ex.Store.Err == nil || !errors.Is(ex.EffectiveErr, ErrTempFail) {
		t.Fatalf("store error: %+v", ex)
	}
	if _, err := r.Explain(ctx, ""); !errors.Is(err, ErrInvalidIdentifier) {
		t.Fatalf("empty identifier: %v", err)
	}

	// An in-memory store never uses the cache.
	local := mustNew(t, Options{}, newFake(true, "a@b", "x"))
	if ex, _ = local.Explain(ctx, "a@b"); ex.Cache.Used || ex.Effective.Destination != "x" {
		t.Fatalf("local store: %+v", ex)
	}
	if _, err := local.Explain(ctx, "c@d"); err != nil {
		t.Fatal(err)
	}
	if ex, _ = local.Explain(ctx, "c@d"); !errors.Is(ex.EffectiveErr, ErrNoRoute) {
		t.Fatalf("no route: %+v", ex)
	}
}
