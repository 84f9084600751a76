// Package storetest holds the behaviour every remote mapping store must
// have (read, write, outage and recovery, invalidation across instances,
// lookup latency), run by each store's tests against a real server.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/router"
	"github.com/switchyard-mail/switchyard/router/invalidate"
)

// RW is a store with the admin API's writes.
type RW interface {
	router.Store
	invalidate.Writer
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func expect(t testing.TB, s router.Store, id, want string) {
	t.Helper()
	d, found, err := s.Lookup(ctxT(t, 5*time.Second), id)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", id, err)
	}
	if want == "" && found {
		t.Fatalf("Lookup(%q) = %q, want no mapping", id, d)
	}
	if want != "" && (!found || d != want) {
		t.Fatalf("Lookup(%q) = %q, %v; want %q", id, d, found, want)
	}
}

// ReadWrite: set, read back, overwrite, delete, identifiers with awkward
// characters, and the router in front of the store.
func ReadWrite(t *testing.T, s RW) {
	ctx := ctxT(t, 30*time.Second)
	if s.Local() {
		t.Fatal("a remote store reports Local")
	}
	ids := []string{"alice@example.com", "o'brien@example.com", `quote"s@x`, "ünïcödé@example.com", "semi;colon@x", "100%_@x", "sp ace@x"}
	for i, id := range ids {
		expect(t, s, id, "")
		if err := s.Set(ctx, id, fmt.Sprint("d", i)); err != nil {
			t.Fatalf("Set(%q): %v", id, err)
		}
	}
	for i, id := range ids {
		expect(t, s, id, fmt.Sprint("d", i))
	}
	if err := s.Set(ctx, ids[0], "new"); err != nil {
		t.Fatal(err)
	}
	expect(t, s, ids[0], "new")
	expect(t, s, ids[1], "d1")
	if err := s.Delete(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	expect(t, s, ids[0], "")
	if err := s.Delete(ctx, "never-there@x"); err != nil {
		t.Fatalf("Delete of a missing id: %v", err)
	}

	r, err := router.New(router.Options{DefaultDestination: "fallback"}, s)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := r.Resolve(ctx, "O'Brien@Example.com"); err != nil || res.Destination != "d1" || res.Source != router.SourceStore {
		t.Fatalf("Resolve: %+v, %v", res, err)
	}
	if res, err := r.Cached("o'brien@example.com"); err != nil || res.Destination != "d1" || !res.Cached {
		t.Fatalf("Cached after Resolve: %+v, %v", res, err)
	}
	if res, err := r.Resolve(ctx, "nobody@example.com"); err != nil || res.Destination != "fallback" {
		t.Fatalf("Resolve unmapped: %+v, %v", res, err)
	}
}

// Outage stops the server: Lookup fails on the store's own short timeouts
// (well before a generous caller deadline), a router tempfails, and once
// the server is back the same store answers again by itself. prepare runs
// after restart (an in-memory server has lost its data).
func Outage(t *testing.T, s RW, stop, start func()) {
	ctx := ctxT(t, 60*time.Second)
	if err := s.Set(ctx, "carol@example.com", "new"); err != nil {
		t.Fatal(err)
	}
	expect(t, s, "carol@example.com", "new")
	r, err := router.New(router.Options{DefaultDestination: "fallback", PositiveTTL: router.NoCache, NegativeTTL: router.NoCache, LookupTimeout: 10 * time.Second}, s)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	for i := 0; i < 3; i++ {
		lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _, err := s.Lookup(lctx, "carol@example.com")
		cancel()
		if err == nil {
			t.Fatal("Lookup succeeded with the server stopped")
		}
		if errors.Is(err, context.DeadlineExceeded) && lctx.Err() != nil {
			t.Fatalf("Lookup waited for the caller's 10s deadline instead of failing: %v", err)
		}
	}
	if _, err := r.Resolve(ctx, "carol@example.com"); !errors.Is(err, router.ErrTempFail) {
		t.Fatalf("Resolve during the outage: %v, want ErrTempFail", err)
	}
	start()
	deadline := time.Now().Add(20 * time.Second)
	for {
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, _, err := s.Lookup(lctx, "carol@example.com")
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover within 20s of the restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.Set(ctx, "carol@example.com", "old"); err != nil {
		t.Fatal(err)
	}
	if res, err := r.Resolve(ctx, "carol@example.com"); err != nil || res.Destination != "old" {
		t.Fatalf("Resolve after recovery: %+v, %v", res, err)
	}
}

// Instance is one proxy instance's view: its own store connection and bus.
type Instance struct {
	Store RW
	Bus   invalidate.Bus
}

// ThreeInstances: three routers with long cache TTLs, each with its own
// connection to the shared server. A write through one is seen by the
// other two within a second, because they drop the cached answer when the
// announcement arrives.
func ThreeInstances(t *testing.T, mk func() Instance) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	type inst struct {
		Instance
		r *router.Router
	}
	var all []inst
	var ready sync.WaitGroup
	for i := 0; i < 3; i++ {
		in := mk()
		r, err := router.New(router.Options{DefaultDestination: "fallback", PositiveTTL: time.Hour, NegativeTTL: time.Hour}, in.Store)
		if err != nil {
			t.Fatal(err)
		}
		ready.Add(1)
		var once sync.Once
		if err := in.Bus.Subscribe(ctx, func(ids []string) {
			if len(ids) == 0 {
				r.InvalidateAll()
				once.Do(ready.Done)
				return
			}
			r.Invalidate(ids...)
		}); err != nil {
			t.Fatal(err)
		}
		all = append(all, inst{in, r})
	}
	waitCh := make(chan struct{})
	go func() { ready.Wait(); close(waitCh) }()
	select {
	case <-waitCh:
	case <-time.After(10 * time.Second):
		t.Fatal("subscriptions not established within 10s")
	}
	wctx := ctxT(t, 30*time.Second)
	resolveAll := func(id, want string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for i, in := range all {
			for {
				res, err := in.r.Resolve(wctx, id)
				if err == nil && res.Destination == want {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("instance %d: %q resolves to %+v (%v), want %q within %v", i, id, res, err, want, within)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	const id = "flip@example.com"
	resolveAll(id, "fallback", 5*time.Second) // caches "no mapping" everywhere
	if err := invalidate.Set(wctx, all[0].Store, all[0].r, all[0].Bus, id, "new"); err != nil {
		t.Fatal(err)
	}
	resolveAll(id, "new", time.Second)
	if err := invalidate.Set(wctx, all[1].Store, all[1].r, all[1].Bus, "FLIP@example.com", "old"); err != nil {
		t.Fatal(err)
	}
	resolveAll(id, "old", time.Second)
	if err := invalidate.Delete(wctx, all[2].Store, all[2].r, all[2].Bus, id); err != nil {
		t.Fatal(err)
	}
	resolveAll(id, "fallback", time.Second)
	// Let announcements still in flight land (each one drops a cache entry),
	// then cache "no mapping" again everywhere.
	time.Sleep(300 * time.Millisecond)
	resolveAll(id, "fallback", time.Second)
	// A write without an announcement stays invisible behind the cache
	// until "everything" is announced.
	if err := all[0].Store.Set(wctx, id, "silent"); err != nil {
		t.Fatal(err)
	}
	if res, _ := all[1].r.Resolve(wctx, id); res.Destination != "fallback" {
		t.Fatalf("instance 1 saw an unannounced write: %+v (is the cache on?)", res)
	}
	if err := all[0].Bus.Publish(wctx); err != nil {
		t.Fatal(err)
	}
	resolveAll(id, "silent", time.Second)
}

// LookupLatency measures uncached lookups (the store's own round trip) over
// 1000 mapped accounts and reports p50 and p99 in microseconds.
func LookupLatency(b *testing.B, s RW) {
	ctx := context.Background()
	const n = 1000
	for i := 0; i < n; i++ {
		if err := s.Set(ctx, fmt.Sprintf("user%d@example.com", i), "new"); err != nil {
			b.Fatal(err)
		}
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("user%d@example.com", i)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var lat []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		id := ids[rng.IntN(n)]
		t0 := time.Now()
		_, found, err := s.Lookup(ctx, id)
		lat = append(lat, time.Since(t0))
		if err != nil || !found {
			b.Fatal(id, found, err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// ListStore is a store with writes that can list its mappings.
type ListStore interface {
	RW
	router.Lister
}

// Listing: every mapping is listed exactly once across pages of any size,
// a match narrows the list without regard to the match's case (ids are
// stored normalized), LIKE and glob wildcards in the match are literal,
// and Count adds up per destination.
func Listing(t *testing.T, s ListStore) {
	ctx := ctxT(t, 30*time.Second)
	want := map[string]string{}
	for i := range 23 {
		id := fmt.Sprintf("user%02d@example.com", i)
		want[id] = []string{"old", "new"}[i%2]
	}
	want["100%_x@example.com"] = "new"
	want["star*q?[b]@example.com"] = "old"
	for id, d := range want {
		if err := s.Set(ctx, id, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, limit := range []int{1, 5, 100} {
		got := map[string]string{}
		cursor, pages := "", 0
		for {
			page, next, err := s.List(ctx, cursor, "", limit)
			if err != nil {
				t.Fatalf("List(limit %d): %v", limit, err)
			}
			for _, m := range page {
				if _, dup := got[m.Identifier]; dup {
					t.Fatalf("limit %d: %q listed twice", limit, m.Identifier)
				}
				got[m.Identifier] = m.Destination
			}
			if pages++; pages > 1000 {
				t.Fatal("List never ends")
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("limit %d: listed %v, want %v", limit, got, want)
		}
	}
	for match, ids := range map[string][]string{
		"USER1":   {"user10@example.com", "user11@example.com", "user12@example.com", "user13@example.com", "user14@example.com", "user15@example.com", "user16@example.com", "user17@example.com", "user18@example.com", "user19@example.com"},
		"%_":      {"100%_x@example.com"},
		"*q?[b]":  {"star*q?[b]@example.com"},
		"nothing": nil,
	} {
		var got []string
		cursor := ""
		for {
			page, next, err := s.List(ctx, cursor, match, 4)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range page {
				got = append(got, m.Identifier)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		slices.Sort(got)
		if !slices.Equal(got, ids) {
			t.Errorf("match %q: %q, want %q", match, got, ids)
		}
	}
	counts, err := s.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts["old"] != 13 || counts["new"] != 12 || len(counts) != 2 {
		t.Fatalf("Count = %v, want old 13, new 12", counts)
	}
}

// Commands: a command published by one instance reaches another's
// command subscription (after the resync that opens it) unchanged, and
// never reaches an invalidation subscription; an invalidation never
// reaches a command subscription.
func Commands(t *testing.T, a, b invalidate.Carrier) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmds := make(chan invalidate.Command, 16)
	inv := make(chan []string, 16)
	if err := b.SubscribeCommands(ctx, func(c invalidate.Command) { cmds <- c }); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(ctx, func(ids []string) { inv <- ids }); err != nil {
		t.Fatal(err)
	}
	wait := func(what string) {
		t.Helper()
		select {
		case c := <-cmds:
			if c.Op != what {
				t.Fatalf("first command %+v, want %s", c, what)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("no %s within 15 s", what)
		}
	}
	wait(invalidate.OpResync)
	select {
	case ids := <-inv:
		if ids != nil {
			t.Fatalf("first invalidation %q, want nil (subscribed)", ids)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("invalidation subscription never established")
	}
	pub := ctxT(t, 10*time.Second)
	if err := a.Publish(pub, "x@y"); err != nil {
		t.Fatal(err)
	}
	want := invalidate.Command{Op: invalidate.OpKick, Request: "r1", From: "a", IDs: []string{"alice@example.com", "alice"}}
	if err := a.PublishCommand(pub, want); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-cmds:
		if fmt.Sprint(c) != fmt.Sprint(want) {
			t.Fatalf("received %+v, want %+v", c, want)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the command did not arrive within 15 s")
	}
	select {
	case ids := <-inv:
		if len(ids) != 1 || ids[0] != "x@y" {
			t.Fatalf("invalidation subscription got %q", ids)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the invalidation did not arrive")
	}
	select {
	case ids := <-inv:
		t.Fatalf("the command reached the invalidation subscription as %q", ids)
	case c := <-cmds:
		t.Fatalf("the invalidation reached the command subscription as %+v", c)
	case <-time.After(300 * time.Millisecond):
	}
}

// BatchStore is a store that writes and reads many mappings at once.
type BatchStore interface {
	RW
	SetMany(ctx context.Context, pairs []router.Mapping) error
	LookupMany(ctx context.Context, ids []string) (map[string]string, error)
}

// Mappings returns n mappings to dest, of the identifiers id (a format
// that takes the index) makes.
func Mappings(n int, id, dest string) []router.Mapping {
	pairs := make([]router.Mapping, n)
	for i := range pairs {
		pairs[i] = router.Mapping{Identifier: fmt.Sprintf(id, i), Destination: dest}
	}
	return pairs
}

// Batch: 10,000 mappings written at once are all there; when bad (a
// mapping the store refuses, if the store can refuse one) is the last of
// a batch, nothing of that batch is written.
func Batch(t *testing.T, s BatchStore, bad *router.Mapping) {
	ctx := ctxT(t, 60*time.Second)
	if err := s.Set(ctx, "batch-keep@example.com", "old"); err != nil {
		t.Fatal(err)
	}
	pairs := Mappings(10_000, "batch%05d@example.com", "new")
	pairs[0] = router.Mapping{Identifier: "batch-keep@example.com", Destination: "new"}
	if bad != nil {
		failing := append(slices.Clone(pairs), *bad)
		if err := s.SetMany(ctx, failing); err == nil {
			t.Fatalf("SetMany accepted %+v", *bad)
		}
		expect(t, s, "batch-keep@example.com", "old")
		expect(t, s, "batch00001@example.com", "")
		expect(t, s, "batch09999@example.com", "")
	}
	if err := s.SetMany(ctx, pairs); err != nil {
		t.Fatal(err)
	}
	expect(t, s, "batch-keep@example.com", "new")
	for _, i := range []int{1, 5000, 9999} {
		expect(t, s, pairs[i].Identifier, "new")
	}
	ids := make([]string, 0, len(pairs)+1)
	for _, p := range pairs {
		ids = append(ids, p.Identifier)
	}
	ids = append(ids, "batch-nobody@example.com")
	got, err := s.LookupMany(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(pairs) || got["batch00001@example.com"] != "new" || got["batch-keep@example.com"] != "new" {
		t.Fatalf("LookupMany: %d mappings, want %d", len(got), len(pairs))
	}
	if _, ok := got["batch-nobody@example.com"]; ok {
		t.Fatal("LookupMany found an identifier with no mapping")
	}
}

// Resubscribes subscribes to a store's invalidation bus, checks the
// call with nil that says it is subscribed, restarts the server and
// checks the nil call again (the subscription came back and reports the
// gap). It returns next, which waits up to within for the following call,
// for the caller to check a publish gets through.
func Resubscribes(t *testing.T, subscribe func(context.Context, func([]string)) error, restart func(), within time.Duration) (next func() []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	got := make(chan []string, 16)
	if err := subscribe(ctx, func(ids []string) { got <- ids }); err != nil {
		t.Fatal(err)
	}
	next = func() []string {
		t.Helper()
		select {
		case ids := <-got:
			return ids
		case <-time.After(within):
			t.Fatalf("no announcement within %v", within)
		}
		return nil
	}
	if ids := next(); ids != nil {
		t.Fatalf("first call %q, want nil (subscribed)", ids)
	}
	restart()
	if ids := next(); ids != nil {
		t.Fatalf("after restart %q, want nil (resubscribed)", ids)
	}
	return next
}

// Open returns the store open makes, closed when the test ends; a failure
// to open fails the test.
func Open[S interface{ Close() error }](t testing.TB, open func() (S, error)) S {
	t.Helper()
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// URLErrorsHidePassword: open refuses every URL, and none of the errors
// it returns for one holds pw. The last error is the refusal; those
// before it, of steps that may pass or fail, may be nil.
func URLErrorsHidePassword(t *testing.T, pw string, urls []string, open func(url string) []error) {
	t.Helper()
	for _, u := range urls {
		errs := open(u)
		if errs[len(errs)-1] == nil {
			t.Fatalf("%q: New succeeded", u)
		}
		for _, err := range errs {
			if err != nil && strings.Contains(err.Error(), pw) {
				t.Errorf("%q: the password is in %q", u, err)
			}
		}
	}
}
