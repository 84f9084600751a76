package router

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// fakeStore is a scriptable Store. It counts lookups; when gate is set,
// lookups wait for it (or for their context when honorCtx is set).
type fakeStore struct {
	mu       sync.Mutex
	m        map[string]string
	err      error
	local    bool
	gate     chan struct{}
	honorCtx bool
	calls    atomic.Int64
	started  chan string // receives the id of each lookup, if set
}

func newFake(local bool, kv ...string) *fakeStore {
	s := &fakeStore{m: map[string]string{}, local: local}
	for i := 0; i+1 < len(kv); i += 2 {
		s.m[kv[i]] = kv[i+1]
	}
	return s
}

func (s *fakeStore) set(id, dest string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[id] = dest
}

func (s *fakeStore) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *fakeStore) Lookup(ctx context.Context, id string) (string, bool, error) {
	s.calls.Add(1)
	if s.started != nil {
		s.started <- id
	}
	if s.gate != nil {
		if s.honorCtx {
			select {
			case <-s.gate:
			case <-ctx.Done():
				return "", false, ctx.Err()
			}
		} else {
			<-s.gate
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return "", false, s.err
	}
	d, ok := s.m[id]
	return d, ok, nil
}

func (s *fakeStore) Local() bool  { return s.local }
func (s *fakeStore) Close() error { return nil }

type fakeRing struct {
	mu   sync.Mutex
	dest string
}

func (r *fakeRing) set(d string) { r.mu.Lock(); r.dest = d; r.mu.Unlock() }
func (r *fakeRing) Locate(string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dest, r.dest != ""
}

func mustNew(t *testing.T, opt Options, s Store) *Router {
	t.Helper()
	r, err := New(opt, s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func resolve(t *testing.T, r *Router, id string) Result {
	t.Helper()
	res, err := r.Resolve(context.Background(), id)
	if err != nil {
		t.Fatalf("Resolve(%q): %v", id, err)
	}
	return res
}

// resolvedThenCached: Resolve(first) asks the store once and answers
// want; Resolve(second) answers the same from the cache.
func resolvedThenCached(t *testing.T, r *Router, s *fakeStore, first, second string, want Result) {
	t.Helper()
	if got := resolve(t, r, first); got != want {
		t.Fatalf("first Resolve = %+v", got)
	}
	want.Cached = true
	if got := resolve(t, r, second); got != want {
		t.Fatalf("second Resolve = %+v", got)
	}
	if n := s.calls.Load(); n != 1 {
		t.Fatalf("store called %d times, want 1", n)
	}
}

func TestCacheHitAndMiss(t *testing.T) {
	s := newFake(false, "user@example.com", "new")
	r := mustNew(t, Options{DefaultDestination: "old"}, s)
	if _, err := r.Cached("user@example.com"); err != ErrNotCached {
		t.Fatalf("Cached before any Resolve: %v, want ErrNotCached", err)
	}
	resolvedThenCached(t, r, s, "User@Example.com", "USER@example.com", Result{Destination: "new", Source: SourceStore})
	c, err := r.Cached("user@EXAMPLE.com")
	if err != nil || c != (Result{Destination: "new", Source: SourceStore, Cached: true}) {
		t.Fatalf("Cached = %+v, %v", c, err)
	}
	if _, err := r.Cached("other@example.com"); err != ErrNotCached {
		t.Fatalf("Cached(other) = %v, want ErrNotCached", err)
	}
	if s.calls.Load() != 1 {
		t.Fatal("Cached asked a remote store")
	}
}

func TestLocalStoreIsAskedDirectly(t *testing.T) {
	s := newFake(true, "user@example.com", "new")
	r := mustNew(t, Options{DefaultDestination: "old"}, s)
	for i := 0; i < 2; i++ {
		if got := resolve(t, r, "User@Example.com"); got != (Result{Destination: "new", Source: SourceStore}) {
			t.Fatalf("Resolve #%d = %+v", i, got)
		}
		got, err := r.Cached("user@example.com")
		if err != nil || got != (Result{Destination: "new", Source: SourceStore}) {
			t.Fatalf("Cached #%d = %+v, %v", i, got, err)
		}
		got, err = r.Cached("other@example.com")
		if err != nil || got != (Result{Destination: "old", Source: SourceDefault}) {
			t.Fatalf("Cached(other) #%d = %+v, %v", i, got, err)
		}
	}
	if n := s.calls.Load(); n != 6 {
		t.Fatalf("store called %d times, want 6 (no caching of an in-memory store)", n)
	}
	// A change in the store shows at once, without invalidation.
	s.set("user@example.com", "old")
	if got := resolve(t, r, "user@example.com"); got.Destination != "old" {
		t.Fatalf("after change: %+v", got)
	}
	s.setErr(errors.New("broken"))
	if _, err := r.Cached("user@example.com"); !errors.Is(err, ErrTempFail) {
		t.Fatalf("Cached with a failing local store: %v", err)
	}
	s.setErr(nil)
	s.set("user@example.com", "")
	if _, err := r.Resolve(context.Background(), "user@example.com"); !errors.Is(err, ErrTempFail) {
		t.Fatalf("empty destination from a local store: %v", err)
	}
	if r.cache.Load() != nil {
		t.Fatal("a router over an in-memory store made a cache")
	}
}

func TestCachedHitDoesNotAllocate(t *testing.T) {
	for _, local := range []bool{true, false} {
		r := mustNew(t, Options{}, newFake(local, "u@example.com", "new"))
		resolve(t, r, "u@example.com")
		n := testing.AllocsPerRun(200, func() {
			if res, err := r.Cached("u@example.com"); err != nil || res.Destination != "new" {
				t.Fatal(res, err)
			}
		})
		if n != 0 {
			t.Fatalf("local=%v: Cached hit allocates %v times", local, n)
		}
	}
}

func TestNegativeCache(t *testing.T) {
	s := newFake(false)
	r := mustNew(t, Options{DefaultDestination: "old"}, s)
	resolvedThenCached(t, r, s, "nobody@example.com", "nobody@example.com", Result{Destination: "old", Source: SourceDefault})
	// The negative answer hides a mapping added later until invalidated.
	s.set("nobody@example.com", "new")
	if got := resolve(t, r, "nobody@example.com"); got.Destination != "old" {
		t.Fatalf("negative entry not used: %+v", got)
	}
	r.Invalidate("Nobody@Example.com")
	if got := resolve(t, r, "nobody@example.com"); got != (Result{Destination: "new", Source: SourceStore}) {
		t.Fatalf("after Invalidate: %+v", got)
	}
}

func TestNegativeCacheWithoutDefault(t *testing.T) {
	s := newFake(false)
	r := mustNew(t, Options{}, s)
	for i := 0; i < 3; i++ {
		if _, err := r.Resolve(context.Background(), "nobody@example.com"); err != ErrNoRoute {
			t.Fatalf("Resolve #%d: %v, want ErrNoRoute", i, err)
		}
	}
	if n := s.calls.Load(); n != 1 {
		t.Fatalf("store called %d times, want 1", n)
	}
	if _, err := r.Cached("nobody@example.com"); err != ErrNoRoute {
		t.Fatalf("Cached: %v, want ErrNoRoute", err)
	}
}

func TestTTLExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newFake(false, "u@example.com", "new")
		r := mustNew(t, Options{PositiveTTL: 10 * time.Second, NegativeTTL: 1500 * time.Millisecond, DefaultDestination: "old"}, s)
		resolve(t, r, "u@example.com")
		resolve(t, r, "x@example.com")
		time.Sleep(time.Second)
		if _, err := r.Cached("x@example.com"); err != nil {
			t.Fatalf("negative entry gone after 1s of 2s: %v", err)
		}
		time.Sleep(time.Second + 100*time.Millisecond) // 1.5s rounds up to 2s
		if _, err := r.Cached("x@example.com"); err != ErrNotCached {
			t.Fatalf("negative entry after 2.1s: %v, want ErrNotCached", err)
		}
		if _, err := r.Cached("u@example.com"); err != nil {
			t.Fatalf("positive entry gone after 2.1s of 10s: %v", err)
		}
		time.Sleep(8 * time.Second)
		if _, err := r.Cached("u@example.com"); err != ErrNotCached {
			t.Fatalf("positive entry after 10.1s: %v, want ErrNotCached", err)
		}
		before := s.calls.Load()
		if got := resolve(t, r, "u@example.com"); got.Cached {
			t.Fatalf("Resolve after expiry = %+v", got)
		}
		if s.calls.Load() != before+1 {
			t.Fatal("expired entry did not cause a store lookup")
		}
	})
}

func TestCachingDisabled(t *testing.T) {
	s := newFake(false, "u@example.com", "new")
	r := mustNew(t, Options{PositiveTTL: NoCache, NegativeTTL: NoCache, DefaultDestination: "old"}, s)
	for i := 0; i < 3; i++ {
		resolve(t, r, "u@example.com")
		resolve(t, r, "x@example.com")
	}
	if n := s.calls.Load(); n != 6 {
		t.Fatalf("store called %d times, want 6", n)
	}
	if _, err := r.Cached("u@example.com"); err != ErrNotCached {
		t.Fatalf("Cached: %v", err)
	}

	// Only negative answers cached.
	s = newFake(false, "u@example.com", "new")
	r = mustNew(t, Options{PositiveTTL: NoCache, DefaultDestination: "old"}, s)
	for i := 0; i < 3; i++ {
		resolve(t, r, "u@example.com")
		resolve(t, r, "x@example.com")
	}
	if n := s.calls.Load(); n != 4 {
		t.Fatalf("store called %d times, want 4 (3 positive, 1 negative)", n)
	}
}

func TestSingleFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newFake(false, "u@example.com", "new")
		s.gate = make(chan struct{})
		r := mustNew(t, Options{}, s)
		const n = 100
		results := make(chan Result, n)
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			id := "u@example.com"
			if i%2 == 1 {
				id = "U@EXAMPLE.COM" // same normalized id
			}
			go func() {
				res, err := r.Resolve(context.Background(), id)
				if err != nil {
					errs <- err
					return
				}
				results <- res
			}()
		}
		synctest.Wait() // every Resolve is now waiting on the one lookup
		if c := s.calls.Load(); c != 1 {
			t.Fatalf("store called %d times while %d Resolves wait, want 1", c, n)
		}
		close(s.gate)
		for i := 0; i < n; i++ {
			select {
			case res := <-results:
				if res.Destination != "new" || res.Source != SourceStore {
					t.Fatalf("Resolve = %+v", res)
				}
			case err := <-errs:
				t.Fatal(err)
			}
		}
		if c := s.calls.Load(); c != 1 {
			t.Fatalf("store called %d times, want 1", c)
		}
	})
}

func TestStoreErrorTempFail(t *testing.T) {
	cause := errors.New("connection refused")
	s := newFake(false, "u@example.com", "new")
	s.setErr(cause)
	r := mustNew(t, Options{DefaultDestination: "old"}, s)
	_, err := r.Resolve(context.Background(), "u@example.com")
	if !errors.Is(err, ErrTempFail) || !errors.Is(err, cause) {
		t.Fatalf("Resolve: %v, want ErrTempFail wrapping the cause", err)
	}
	if _, err := r.Cached("u@example.com"); err != ErrNotCached {
		t.Fatalf("an error was cached: Cached = %v", err)
	}
	s.setErr(nil)
	if got := resolve(t, r, "u@example.com"); got != (Result{Destination: "new", Source: SourceStore}) {
		t.Fatalf("after recovery: %+v", got)
	}
	if n := s.calls.Load(); n != 2 {
		t.Fatalf("store called %d times, want 2", n)
	}
}

func TestStoreErrorDefaultPolicy(t *testing.T) {
	s := newFake(false, "u@example.com", "new")
	s.setErr(errors.New("timeout"))
	r := mustNew(t, Options{DefaultDestination: "old", OnStoreError: "default"}, s)
	got := resolve(t, r, "u@example.com")
	if got != (Result{Destination: "old", Source: SourceDefault}) {
		t.Fatalf("Resolve = %+v", got)
	}
	if _, err := r.Cached("u@example.com"); err != ErrNotCached {
		t.Fatalf("a store error was cached as not-found: Cached = %v", err)
	}
	s.setErr(nil)
	if got := resolve(t, r, "u@example.com"); got.Destination != "new" {
		t.Fatalf("after recovery: %+v", got)
	}
}

func TestEmptyDestinationFromStoreIsAnError(t *testing.T) {
	s := newFake(false, "u@example.com", "")
	r := mustNew(t, Options{DefaultDestination: "old"}, s)
	if _, err := r.Resolve(context.Background(), "u@example.com"); !errors.Is(err, ErrTempFail) {
		t.Fatalf("Resolve: %v, want ErrTempFail", err)
	}
}

func TestLookupTimeout(t *testing.T) {
	for _, honor := range []bool{true, false} {
		t.Run(fmt.Sprintf("storeHonorsContext=%v", honor), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newFake(false, "u@example.com", "new")
				s.gate = make(chan struct{})
				s.honorCtx = honor
				r := mustNew(t, Options{LookupTimeout: 300 * time.Millisecond}, s)
				start := time.Now()
				_, err := r.Resolve(context.Background(), "u@example.com")
				if !errors.Is(err, ErrTempFail) || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Resolve: %v, want ErrTempFail wrapping DeadlineExceeded", err)
				}
				if d := time.Since(start); d != 300*time.Millisecond {
					t.Fatalf("gave up after %v, want 300ms", d)
				}
				synctest.Wait() // a store that honours its context has given up by now
				close(s.gate)
				synctest.Wait()
				_, err = r.Cached("u@example.com")
				if honor && err != ErrNotCached {
					t.Fatalf("a lookup that failed with a timeout cached something: %v", err)
				}
				if !honor && err != nil {
					// The caller gave up, but the store's late answer is
					// still a good answer.
					t.Fatalf("late answer not cached: %v", err)
				}
			})
		})
	}
}

func TestCallerCancelIsNotAStoreError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newFake(false, "u@example.com", "new")
		s.gate = make(chan struct{})
		r := mustNew(t, Options{DefaultDestination: "old", OnStoreError: "default"}, s)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := r.Resolve(ctx, "u@example.com")
		if !errors.Is(err, ErrTempFail) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Resolve: %v, want ErrTempFail wrapping the caller's deadline", err)
		}
		// The shared lookup was not cancelled with the first caller: once the
		// store answers, the answer is cached.
		close(s.gate)
		synctest.Wait()
		if got, err := r.Cached("u@example.com"); err != nil || got.Destination != "new" {
			t.Fatalf("Cached after the shared lookup finished: %+v, %v", got, err)
		}
	})
}

func TestInvalidateDuringLookupSkipsCaching(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newFake(false, "u@example.com", "old")
		s.gate = make(chan struct{})
		r := mustNew(t, Options{}, s)
		done := make(chan Result)
		go func() { done <- resolve(t, r, "u@example.com") }()
		synctest.Wait()
		r.Invalidate("u@example.com") // the mapping changed while the lookup ran
		close(s.gate)
		if got := <-done; got.Destination != "old" {
			t.Fatalf("Resolve = %+v", got)
		}
		if _, err := r.Cached("u@example.com"); err != ErrNotCached {
			t.Fatalf("a lookup started before Invalidate was cached: %v", err)
		}
	})
}

func TestInvalidateAllAndSetStore(t *testing.T) {
	a := newFake(false, "u@example.com", "old", "v@example.com", "old")
	r := mustNew(t, Options{}, a)
	resolve(t, r, "u@example.com")
	resolve(t, r, "v@example.com")
	a.set("u@example.com", "new")
	a.set("v@example.com", "new")
	r.Invalidate("u@example.com")
	if got := resolve(t, r, "u@example.com"); got.Destination != "new" {
		t.Fatalf("u after Invalidate: %+v", got)
	}
	if got := resolve(t, r, "v@example.com"); got.Destination != "old" || !got.Cached {
		t.Fatalf("v should still be cached: %+v", got)
	}
	r.InvalidateAll()
	if got := resolve(t, r, "v@example.com"); got.Destination != "new" || got.Cached {
		t.Fatalf("v after InvalidateAll: %+v", got)
	}

	b := newFake(false, "u@example.com", "third")
	r.SetStore(b)
	if r.Store() != Store(b) || r.Inline() {
		t.Fatal("SetStore did not install the store")
	}
	if got := resolve(t, r, "u@example.com"); got.Destination != "third" {
		t.Fatalf("after SetStore: %+v", got)
	}
}

func TestResolutionOrder(t *testing.T) {
	s := newFake(false, "mapped@example.com", "new")
	ring := &fakeRing{dest: "node2"}
	r := mustNew(t, Options{Ring: ring, DefaultDestination: "old"}, s)
	if got := resolve(t, r, "mapped@example.com"); got != (Result{Destination: "new", Source: SourceStore}) {
		t.Fatalf("mapped: %+v", got)
	}
	if got := resolve(t, r, "other@example.com"); got != (Result{Destination: "node2", Source: SourceRing}) {
		t.Fatalf("unmapped: %+v", got)
	}
	// The negative entry is cached, the ring is asked afresh on every hit.
	ring.set("node3")
	if got := resolve(t, r, "other@example.com"); got != (Result{Destination: "node3", Source: SourceRing, Cached: true}) {
		t.Fatalf("after ring change: %+v", got)
	}
	ring.set("")
	if got := resolve(t, r, "other@example.com"); got != (Result{Destination: "old", Source: SourceDefault, Cached: true}) {
		t.Fatalf("ring without node: %+v", got)
	}
}

func TestNoStore(t *testing.T) {
	r := mustNew(t, Options{DefaultDestination: "old"}, nil)
	if !r.Inline() {
		t.Fatal("a router without store must be inline")
	}
	if got := resolve(t, r, "u@example.com"); got != (Result{Destination: "old", Source: SourceDefault}) {
		t.Fatalf("Resolve = %+v", got)
	}
	r = mustNew(t, Options{}, nil)
	if _, err := r.Resolve(context.Background(), "u@example.com"); err != ErrNoRoute {
		t.Fatalf("Resolve without store nor default: %v", err)
	}
}

func TestInline(t *testing.T) {
	if !mustNew(t, Options{}, newFake(true)).Inline() {
		t.Fatal("local store: Inline() = false")
	}
	if mustNew(t, Options{}, newFake(false)).Inline() {
		t.Fatal("remote store: Inline() = true")
	}
}

func TestInvalidIdentifier(t *testing.T) {
	s := newFake(true)
	r := mustNew(t, Options{DefaultDestination: "old"}, s)
	for _, id := range []string{"", strings.Repeat("a", MaxIdentifierLen+1)} {
		if _, err := r.Resolve(context.Background(), id); err != ErrInvalidIdentifier {
			t.Fatalf("Resolve(%d bytes): %v", len(id), err)
		}
		if _, err := r.Cached(id); err != ErrInvalidIdentifier {
			t.Fatalf("Cached(%d bytes): %v", len(id), err)
		}
	}
	if s.calls.Load() != 0 {
		t.Fatal("the store was asked about an invalid identifier")
	}
	if _, err := r.Resolve(context.Background(), strings.Repeat("a", MaxIdentifierLen)); err != nil {
		t.Fatalf("longest identifier: %v", err)
	}
}

func TestManyDestinations(t *testing.T) {
	s := newFake(true)
	for i := 0; i < 20; i++ {
		s.set(fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("dest%d", i))
	}
	s.local = false
	r := mustNew(t, Options{}, s)
	r.maxInterned = 5 // past this, hits copy the destination out of the cache
	for pass := 0; pass < 2; pass++ {
		for i := 0; i < 20; i++ {
			got := resolve(t, r, fmt.Sprintf("u%d@example.com", i))
			if want := fmt.Sprintf("dest%d", i); got.Destination != want || got.Cached != (pass == 1) {
				t.Fatalf("pass %d: u%d = %+v, want %s", pass, i, got, want)
			}
		}
	}
}

func TestOptionErrors(t *testing.T) {
	tests := []struct {
		opt  Options
		want string
	}{
		{Options{OnStoreError: "default"}, "needs a DefaultDestination or a Ring"},
		{Options{OnStoreError: "ignore"}, `unknown policy "ignore"`},
		{Options{CacheBytes: 1000}, "Options.CacheBytes"},
		{Options{LookupTimeout: -time.Second}, "Options.LookupTimeout"},
		{Options{PositiveTTL: 1 << 62}, "Options.PositiveTTL"},
	}
	for _, tc := range tests {
		if _, err := New(tc.opt, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): %v, want error containing %q", tc.opt, err, tc.want)
		}
	}
	if _, err := New(Options{OnStoreError: "default", Ring: &fakeRing{}}, nil); err != nil {
		t.Errorf("default policy with a ring: %v", err)
	}
}

func TestSourceString(t *testing.T) {
	for s, want := range map[Source]string{SourceNone: "none", SourceStore: "store", SourceRing: "ring", SourceDefault: "default"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), want)
		}
	}
}
